import pytest
import torch
from monai.networks.nets.swin_unetr import WindowAttention, compute_mask

from monai_chpnet.kspace import channels_to_complex, fft2c
from monai_chpnet.networks import (
    TEACHER_PRESETS,
    SwinRestorationTeacher,
    WindowAttention2d,
    shifted_window_mask,
    teacher_from_preset,
)
from monai_chpnet.networks.summary import count_parameters


@pytest.mark.parametrize("size", [(16, 24), (8, 8), (24, 16)])
def test_shifted_window_mask_equals_monai_compute_mask(size):
    ours = shifted_window_mask(*size, window=8 if size != (8, 8) else 4, shift=4 if size != (8, 8) else 2, device="cpu")
    window = 8 if size != (8, 8) else 4
    ref = compute_mask(list(size), (window, window), (window // 2, window // 2), "cpu")
    assert torch.equal(ours, ref)


@pytest.mark.parametrize("masked", [False, True])
def test_window_attention_matches_monai_reference(masked):
    torch.manual_seed(0)
    ref = WindowAttention(12, num_heads=3, window_size=(4, 4), qkv_bias=True)
    ours = WindowAttention2d(12, num_heads=3, window_size=(4, 4), qkv_bias=True)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2 * 6, 16, 12)
    mask = shifted_window_mask(8, 12, 4, 2, "cpu") if masked else None
    assert torch.allclose(ours(x, mask), ref(x, mask), atol=1e-5)


def test_paper_preset_is_swinir_m_size():
    with torch.device("meta"):  # counted without allocating or running anything
        restoration = count_parameters(teacher_from_preset("paper", in_channels=2))
        sr_x2 = count_parameters(teacher_from_preset("paper", in_channels=1, upscale=2))
    assert abs(restoration - 11.8e6) / 11.8e6 < 0.05
    assert abs(sr_x2 - 11.75e6) / 11.75e6 < 0.005  # SwinIR-M classical x2 (3-channel): 11.75 M
    assert TEACHER_PRESETS["paper"]["depths"] == (6,) * 6 and TEACHER_PRESETS["paper"]["embed_dim"] == 180


@pytest.mark.parametrize("in_channels, upscale", [(1, 1), (2, 1), (1, 2), (1, 4)])
def test_odd_sizes_and_feature_taps(in_channels, upscale):
    net = teacher_from_preset("tiny", in_channels=in_channels, upscale=upscale)
    x = torch.randn(2, in_channels, 37, 29)
    out, taps = net.forward_features(x)
    assert out.shape == (2, in_channels, 37 * upscale, 29 * upscale)
    info = net.feature_info()
    assert list(taps) == list(info) == [f"group{i}" for i in range(len(TEACHER_PRESETS["tiny"]["depths"]))]
    for name, (channels, stride) in info.items():
        assert stride == upscale  # w.r.t. the output grid
        assert taps[name].shape == (2, channels, 37 * upscale // stride, 29 * upscale // stride)
    assert torch.equal(net(x), out)


def test_global_residual_and_data_consistency():
    net = teacher_from_preset("tiny", in_channels=2).eval()
    with torch.no_grad():
        net.reconstruction.weight.zero_()
        net.reconstruction.bias.zero_()
    x = torch.randn(1, 2, 20, 18)
    assert torch.allclose(net(x), x)  # the body only adds a residual to the input
    kspace = torch.randn(1, 1, 20, 18, dtype=torch.complex64)
    mask = torch.zeros(1, 1, 1, 18)
    mask[..., 6:12] = 1
    k_out = fft2c(channels_to_complex(net(x, kspace, mask)))
    assert torch.allclose(k_out[..., 6:12], kspace[..., 6:12], atol=1e-5)
    assert torch.allclose(k_out[..., :6], fft2c(channels_to_complex(x))[..., :6], atol=1e-5)


def test_bad_inputs_raise_clear_errors():
    net = teacher_from_preset("tiny", in_channels=2)  # window 4
    with pytest.raises(ValueError, match="expects a \\(B, C, H, W\\) batch, got a 5-D tensor.*slice by slice"):
        net(torch.zeros(1, 2, 4, 16, 16))
    with pytest.raises(ValueError, match="in_channels=2.*with 1 channels"):
        net(torch.zeros(1, 1, 16, 16))
    with pytest.raises(ValueError, match="needs H, W >= 4"):
        net(torch.zeros(1, 2, 3, 16))
    with pytest.raises(TypeError, match="real image"):
        net(torch.zeros(1, 2, 16, 16, dtype=torch.complex64))
    with pytest.raises(ValueError, match="both kspace and mask"):
        net(torch.zeros(1, 2, 16, 16), torch.zeros(1, 1, 16, 16, dtype=torch.complex64))
    with pytest.raises(TypeError, match="must be complex"):
        net(torch.zeros(1, 2, 16, 16), torch.zeros(1, 1, 16, 16), torch.ones(1, 1, 1, 16))
    with pytest.raises(ValueError, match="in_channels=2"):
        teacher_from_preset("tiny", in_channels=1)(
            torch.zeros(1, 1, 16, 16), torch.zeros(1, 1, 16, 16, dtype=torch.complex64), torch.ones(1, 1, 1, 16)
        )
    with pytest.raises(ValueError, match="unknown teacher preset 'huge'"):
        teacher_from_preset("huge")
    with pytest.raises(ValueError, match="upscale must be 1, 2 or 4"):
        SwinRestorationTeacher(upscale=3)
    with pytest.raises(ValueError, match="divisible by num_heads"):
        SwinRestorationTeacher(embed_dim=10, depths=(2,), num_heads=3)


def test_half_resolution_tokens_keep_the_contract():
    """token_stride=2 (the CPU-trainable small preset): same I/O, taps at stride 2, exact DC, global residual."""
    net = teacher_from_preset("tiny", in_channels=2, token_stride=2).eval()
    x = torch.randn(2, 2, 21, 19)
    out, taps = net.forward_features(x)
    assert out.shape == x.shape
    assert net.feature_info() == {"group0": (32, 2), "group1": (32, 2)}
    assert all(t.shape == (2, 32, 11, 10) for t in taps.values())
    with torch.no_grad():
        conv = net.reconstruction[0]
        conv.weight.zero_()
        conv.bias.zero_()
    assert torch.allclose(net(x), x)
    sr = teacher_from_preset("tiny", in_channels=1, token_stride=2, upscale=2)
    assert sr(torch.randn(1, 1, 16, 16)).shape == (1, 1, 32, 32)


def test_interleaved_data_consistency_is_exact_and_trained():
    """Each intermediate estimate is data-consistent, the output keeps the measured columns bit-exactly, and the
    interleaved heads receive gradient (they are part of the model, not decoration)."""
    torch.manual_seed(0)
    net = SwinRestorationTeacher(
        in_channels=2, embed_dim=16, depths=(1, 1, 1), num_heads=2, window_size=4, token_stride=2, interleaved_dc=True
    )
    assert len(net.dc_decoders) == len(net.dc_encoders) == 2
    plain = SwinRestorationTeacher(
        in_channels=2, embed_dim=16, depths=(1, 1, 1), num_heads=2, window_size=4, token_stride=2
    )
    assert count_parameters(net) > count_parameters(plain)
    for decoder in net.dc_decoders:  # zero-initialised: the untrained teacher equals the plain one
        assert not decoder[0].weight.any()
        torch.nn.init.normal_(decoder[0].weight, std=0.05)  # as after some training, so every head carries gradient
    image = torch.randn(2, 2, 24, 40)
    kspace = fft2c(channels_to_complex(torch.randn(2, 2, 24, 40)))
    mask = torch.zeros(1, 1, 40)
    mask[..., ::4] = 1
    out = net(image, kspace, mask[None])
    k_out = fft2c(channels_to_complex(out))
    assert torch.allclose(k_out[..., mask[0, 0] > 0], kspace[..., mask[0, 0] > 0], atol=1e-4)
    out.square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.dc_decoders.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.dc_encoders.parameters())
    # without measurements the heads still run (same weights serve image mode), and TorchScript agrees
    scripted = torch.jit.script(net.eval())
    with torch.no_grad():
        assert torch.allclose(scripted(image, kspace, mask[None]), net(image, kspace, mask[None]), atol=1e-5)
        assert torch.allclose(scripted(image), net(image), atol=1e-5)
