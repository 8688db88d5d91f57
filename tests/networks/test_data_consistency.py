import pytest
import torch
import torch.nn.functional as F

from monai_chpnet.kspace import channels_to_complex, complex_to_channels, fft2c
from monai_chpnet.networks import HardDataConsistency, LearnedAdjointUpdate, SoftDataConsistency, replication_upsampler


def _problem(b=2, h=12, w=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    image = torch.randn(b, 2, h, w, generator=g)
    kspace = torch.randn(b, 1, h, w, generator=g, dtype=torch.complex64)
    mask = torch.zeros(b, 1, 1, w)
    mask[0, ..., [0, 3, 4, 9]] = 1
    mask[1, ..., [1, 5]] = 1
    return image, kspace, mask


@pytest.mark.parametrize("mask_shape", ["batch", "sample"])
def test_hard_dc_keeps_measured_columns_and_leaves_the_rest(mask_shape):
    image, kspace, mask = _problem()
    if mask_shape == "sample":  # one (1, 1, W) mask shared by the batch
        mask = mask[:1, 0]
    out = HardDataConsistency()(image, kspace, mask)
    assert out.shape == image.shape and out.dtype == torch.float32
    k_out, k_in = fft2c(channels_to_complex(out)), fft2c(channels_to_complex(image))
    sampled = (mask > 0).expand_as(kspace)
    assert torch.allclose(k_out[sampled], kspace[sampled], atol=1e-6)
    assert torch.allclose(k_out[~sampled], k_in[~sampled], atol=1e-6)


def test_soft_dc_interpolates_and_tends_to_hard():
    image, kspace, mask = _problem()
    soft = SoftDataConsistency(lambda_init=1.0)
    assert soft.weight().item() == pytest.approx(0.5, abs=1e-6)
    k_in = fft2c(channels_to_complex(image))
    k_soft = fft2c(channels_to_complex(soft(image, kspace, mask)))
    assert torch.allclose(k_soft, k_in - 0.5 * mask * (k_in - kspace), atol=1e-5)
    hard = HardDataConsistency()(image, kspace, mask)
    gaps = [(SoftDataConsistency(lam)(image, kspace, mask) - hard).abs().max().item() for lam in (1.0, 1e2, 1e5)]
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 1e-4


def test_soft_dc_weight_is_learned():
    image, kspace, mask = _problem()
    soft = SoftDataConsistency()
    soft(image, kspace, mask).square().sum().backward()
    assert soft.lambda_raw.grad is not None and soft.lambda_raw.grad.abs().item() > 0


def test_dc_rejects_bad_measurements():
    image, kspace, mask = _problem()
    dc = HardDataConsistency()
    with pytest.raises(TypeError, match="must be complex"):
        dc(image, kspace.real, mask)
    with pytest.raises(ValueError, match=r"\(2, 1, 1, 9\) does not broadcast to k-space of shape \(2, 1, 12, 10\)"):
        dc(image, kspace, mask[..., :9])
    with pytest.raises(TypeError, match="real-valued"):
        dc(image, kspace, mask.to(torch.complex64))
    with pytest.raises(ValueError, match="does not match the image grid"):
        dc(image[..., :8], kspace, mask)
    with pytest.raises(ValueError, match=r"\(B, 2, H, W\)"):
        dc(image[:, :1], kspace, mask)


def test_scripted_dc_matches_and_validates():
    image, kspace, mask = _problem()
    for dc in (HardDataConsistency(), SoftDataConsistency()):
        scripted = torch.jit.script(dc)
        assert torch.allclose(scripted(image, kspace, mask), dc(image, kspace, mask), atol=1e-6)
    with pytest.raises(Exception, match="does not broadcast"):
        scripted(image, kspace, mask[..., :9])
    with pytest.raises(Exception, match="complex"):
        scripted(image, kspace.real, mask)


@pytest.mark.parametrize("scale", [2, 4])
def test_learned_adjoint_starts_as_projection(scale):
    g = torch.Generator().manual_seed(1)
    low = torch.randn(2, 1, 5, 7, generator=g)
    up = replication_upsampler(1, scale)
    assert torch.allclose(up(low), low.repeat_interleave(scale, -2).repeat_interleave(scale, -1), atol=1e-6)
    x = torch.randn(2, 1, 5 * scale, 7 * scale, generator=g)
    update = LearnedAdjointUpdate(1, scale)
    # delta = eta = 1 at initialisation: x <- v - U(Dx - y); with v = x this projects onto {D x = y}
    assert torch.allclose(F.avg_pool2d(update(x, x, low), scale), low, atol=1e-5)
    update(x, torch.zeros_like(x), low).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in update.parameters())


def test_complex_helpers_round_trip_through_dc_conventions():
    # the DC layers take the 2-channel images of kspace.complex_to_channels
    z = torch.randn(1, 1, 6, 6, dtype=torch.complex64)
    image = complex_to_channels(z)
    out = HardDataConsistency()(image, fft2c(z), torch.ones(1, 1, 1, 6))
    assert torch.allclose(out, image, atol=1e-6)
