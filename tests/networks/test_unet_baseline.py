import pytest
import torch

from monai_chpnet.networks import FastMRIUNet
from monai_chpnet.networks.summary import count_parameters


def test_parameter_count_and_names_match_fastmri():
    with torch.device("meta"):
        net = FastMRIUNet(in_channels=1)
    assert count_parameters(net) == 7_756_097  # fastmri.models.Unet(1, 1, chans=32, num_pool_layers=4)
    keys = set(net.state_dict())
    assert {
        "down_sample_layers.0.layers.0.weight",
        "conv.layers.4.weight",
        "up_transpose_conv.3.layers.0.weight",
        "up_conv.3.0.layers.0.weight",
        "up_conv.3.1.weight",
        "up_conv.3.1.bias",
    } <= keys
    assert not any(k.endswith("bias") for k in keys - {"up_conv.3.1.bias"})  # convolutions without bias


@pytest.mark.parametrize("size", [(37, 45), (32, 32)])
def test_odd_sizes_and_taps(size):
    net = FastMRIUNet(in_channels=2, chans=4, num_pool_layers=2)
    x = torch.randn(2, 2, *size)
    out, taps = net.forward_features(x)
    assert out.shape == x.shape
    info = net.feature_info()
    assert list(taps) == list(info) == ["enc0", "enc1", "bottleneck", "dec1"]
    for name, (channels, stride) in info.items():
        assert taps[name].shape == (2, channels, size[0] // stride, size[1] // stride)
    kspace = torch.zeros(2, 1, *size, dtype=torch.complex64)
    assert torch.equal(net(x, kspace, torch.ones(2, 1, 1, size[1])), out)  # image-domain only: no DC


def test_bad_inputs():
    net = FastMRIUNet(in_channels=1, chans=4, num_pool_layers=2)
    with pytest.raises(ValueError, match="needs H, W >= 8"):
        net(torch.zeros(1, 1, 7, 32))
    with pytest.raises(ValueError, match="in_channels=1"):
        net(torch.zeros(1, 2, 32, 32))
    with pytest.raises(ValueError, match="5-D"):
        net(torch.zeros(1, 1, 3, 32, 32))
