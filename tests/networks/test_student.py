import pytest
import torch
import torch.nn.functional as F
from monai.networks.blocks import SubpixelUpsample

from monai_chpnet.kspace import channels_to_complex, complex_to_channels, fft2c, ifft2c
from monai_chpnet.networks import (
    DEFAULT_STUDENT_PRESET,
    STUDENT_PRESETS,
    SoftDataConsistency,
    SubpixelCNNStudent,
    student_from_preset,
)


def _kspace_problem(h, w, b=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    kspace = fft2c(torch.randn(b, 1, h, w, generator=g, dtype=torch.complex64))
    mask = (torch.rand(b, 1, 1, w, generator=g) < 0.3).float()
    masked = kspace * mask
    return complex_to_channels(ifft2c(masked)), masked, mask


def test_kspace_mode_odd_size_shapes_and_exact_dc():
    net = student_from_preset("tiny", in_channels=2)
    image, kspace, mask = _kspace_problem(317, 283)
    out, taps = net.forward_features(image, kspace, mask)
    assert out.shape == image.shape
    k_out = fft2c(channels_to_complex(out))
    sampled = (mask > 0).expand_as(kspace)
    assert torch.allclose(k_out[sampled], kspace[sampled], atol=1e-5)
    info = net.feature_info()
    assert list(taps) == list(info)
    for name, (channels, stride) in info.items():
        assert taps[name].shape == (1, channels, -(-317 // stride), -(-283 // stride))


@pytest.mark.parametrize("upscale", [2, 4])
def test_super_resolution_mode_shapes_and_taps(upscale):
    net = student_from_preset("tiny", in_channels=1, upscale=upscale)
    low = torch.rand(2, 1, 13, 11)
    out, taps = net.forward_features(low)
    assert out.shape == (2, 1, 13 * upscale, 11 * upscale)
    for name, (channels, stride) in net.feature_info().items():  # strides w.r.t. the (high-res) output grid
        assert taps[name].shape == (2, channels, -(-13 * upscale // stride), -(-11 * upscale // stride))


def test_super_resolution_starts_consistent_with_the_low_res_input():
    net = student_from_preset("tiny", in_channels=1, upscale=2)
    low = torch.rand(1, 1, 16, 12)
    for denoiser in net.denoisers:  # make v = x: the update is then the projection onto {D x = y}
        torch.nn.init.zeros_(denoiser.tail.weight)
        torch.nn.init.zeros_(denoiser.tail.bias)
    assert torch.allclose(F.avg_pool2d(net(low), 2), low, atol=1e-5)


def test_image_mode_without_dc_and_soft_dc_option():
    image, kspace, mask = _kspace_problem(24, 20, b=2)
    net = student_from_preset("tiny", in_channels=2, data_consistency="soft")
    assert all(isinstance(dc, SoftDataConsistency) for dc in net.consistency)
    assert net(image).shape == net(image, kspace, mask).shape == image.shape
    assert student_from_preset("tiny", in_channels=1)(image[:, :1]).shape == (2, 1, 24, 20)


def test_presets_and_default():
    assert set(STUDENT_PRESETS) == {"tiny", "small", "paper"} and DEFAULT_STUDENT_PRESET in STUDENT_PRESETS
    net = student_from_preset("small", num_cascades=2)
    assert len(net.denoisers) == 2


def test_no_transposed_convolutions_or_interpolation():
    net = student_from_preset("paper", in_channels=1, upscale=4)
    assert not any(isinstance(m, (torch.nn.ConvTranspose2d, torch.nn.Upsample)) for m in net.modules())
    assert any(isinstance(m, SubpixelUpsample) for m in net.modules())  # conv -> pixel shuffle


def test_bad_inputs_raise_clear_errors():
    net = student_from_preset("tiny", in_channels=2)  # total down-sampling 4
    image, kspace, mask = _kspace_problem(16, 16)
    with pytest.raises(ValueError, match="5-D tensor"):
        net(image[:, :, None])
    with pytest.raises(ValueError, match="in_channels=2.*with 1 channels"):
        net(image[:, :1])
    with pytest.raises(ValueError, match="needs H, W >= 4"):
        net(image[..., :3])
    with pytest.raises(ValueError, match=r"\(1, 1, 1, 15\) does not broadcast"):
        net(image, kspace, mask[..., :15])
    with pytest.raises(TypeError, match="must be complex"):
        net(image, kspace.real, mask)
    with pytest.raises(ValueError, match="in_channels=2"):
        student_from_preset("tiny", in_channels=1)(image[:, :1], kspace, mask)
    with pytest.raises(ValueError, match="upscale=1 only"):
        SubpixelCNNStudent(in_channels=2, upscale=2, features=(4, 8))(image, kspace, mask)
    with pytest.raises(ValueError, match="needs H, W >= 2"):  # x2 SR: a 1-pixel input is a 2-pixel grid
        SubpixelCNNStudent(in_channels=1, upscale=2, features=(4, 8, 8))(torch.zeros(1, 1, 1, 8))
    with pytest.raises(ValueError, match="'hard' or 'soft'"):
        SubpixelCNNStudent(data_consistency="none")
    with pytest.raises(ValueError, match="at least two levels"):
        SubpixelCNNStudent(features=(8,))
