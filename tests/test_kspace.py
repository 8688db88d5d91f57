import numpy as np
import pytest
import torch
from monai.networks.blocks.fft_utils_t import fftn_centered_t, ifftn_centered_t

from monai_chpnet.kspace import (
    apply_mask,
    center_crop_hw,
    channels_to_complex,
    check_mask,
    complex_abs,
    complex_to_channels,
    fft2c,
    ifft2c,
    sampled_columns,
    zero_filled,
)


@pytest.mark.parametrize("shape", [(1, 32, 32), (2, 1, 31, 28)])
def test_fft_round_trip_exact(shape):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=g, dtype=torch.complex64)
    assert torch.allclose(ifft2c(fft2c(x)), x, atol=1e-5)
    # orthonormal: energy preserved (Parseval)
    assert torch.allclose(fft2c(x).abs().pow(2).sum(), x.abs().pow(2).sum(), rtol=1e-5)


@pytest.mark.parametrize("hw", [(16, 16), (15, 22)])
def test_fft_matches_monai_and_numpy(hw):
    x = torch.randn(1, *hw, dtype=torch.complex64)
    ours = fft2c(x)
    monai_k = torch.view_as_complex(fftn_centered_t(torch.view_as_real(x).contiguous(), spatial_dims=2).contiguous())
    assert torch.allclose(ours, monai_k, atol=1e-5)
    ref = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(x.numpy(), axes=(-2, -1)), norm="ortho"), axes=(-2, -1))
    assert np.allclose(ours.numpy(), ref, atol=1e-5)
    back = torch.view_as_complex(ifftn_centered_t(torch.view_as_real(ours).contiguous(), spatial_dims=2).contiguous())
    assert torch.allclose(ifft2c(ours), back, atol=1e-5)


def test_dc_coefficient_is_centred():
    x = torch.ones(1, 8, 10, dtype=torch.complex64)
    k = fft2c(x)
    assert torch.argmax(k.abs()).item() == 4 * 10 + 5
    assert k[0, 4, 5].real.item() == pytest.approx(np.sqrt(80), rel=1e-6)


def test_channel_conversions_round_trip():
    x = torch.randn(3, 1, 7, 9, dtype=torch.complex64)
    ch = complex_to_channels(x)
    assert ch.shape == (3, 2, 7, 9) and not torch.is_complex(ch)
    assert torch.equal(channels_to_complex(ch), x)
    assert torch.allclose(complex_abs(ch), x.abs(), atol=1e-6)
    with pytest.raises(ValueError, match="2 channels"):
        channels_to_complex(torch.zeros(1, 3, 4, 4))


def test_full_mask_zero_filled_equals_input():
    img = torch.rand(1, 24, 20)
    k = fft2c(img.to(torch.complex64))
    zf = zero_filled(k, torch.ones(1, 1, 20))
    assert torch.allclose(zf.abs(), img, atol=1e-5)


def test_apply_mask_and_recover_columns():
    k = torch.randn(1, 12, 10, dtype=torch.complex64)
    m = torch.zeros(1, 1, 10)
    m[..., [0, 3, 4, 9]] = 1
    mk = apply_mask(k, m)
    assert torch.equal(mk[..., [1, 2, 5]], torch.zeros_like(mk[..., [1, 2, 5]]))
    assert torch.equal(mk[..., 3], k[..., 3])
    assert torch.equal(sampled_columns(mk), m)


def test_bad_inputs_raise_specific_errors():
    k = torch.randn(1, 12, 10, dtype=torch.complex64)
    with pytest.raises(TypeError, match="imaginary part"):
        apply_mask(k.real, torch.ones(1, 1, 10))
    with pytest.raises(ValueError, match=r"\(1, 1, 9\) does not broadcast"):
        check_mask(torch.ones(1, 1, 9), k)
    with pytest.raises(TypeError, match="real-valued"):
        check_mask(torch.ones(1, 1, 10, dtype=torch.complex64), k)
    with pytest.raises(ValueError, match=r"only 0 \(unsampled\) and 1 \(sampled\), got values in \[0.0, 255.0\]"):
        apply_mask(k, torch.tensor([0, 255] * 5, dtype=torch.uint8).reshape(1, 1, 10))  # an 8-bit image as a mask
    assert torch.equal(
        apply_mask(k, torch.tensor([True, False] * 5).reshape(1, 1, 10))[..., 1::2],
        torch.zeros(1, 12, 5, dtype=k.dtype),
    )
    with pytest.raises(ValueError, match="centre-crop"):
        center_crop_hw(k, (13, 4))


def test_center_crop_matches_fastmri_convention():
    x = torch.arange(7 * 6).reshape(1, 7, 6)
    c = center_crop_hw(x, (3, 4))
    assert torch.equal(c, x[:, 2:5, 1:5])
