"""Super-resolution degradation: k-space centre crop (exact on band-limited images) and antialiased bicubic."""

import numpy as np
import pytest
import torch
from PIL import Image

from monai_chpnet.keys import ReconKeys as K
from monai_chpnet.kspace import fft2c, ifft2c
from monai_chpnet.transforms import SRDownsample, SRDownsampled


def _zero_pad_upsample(low: torch.Tensor, scale: int) -> torch.Tensor:
    """Adjoint-style k-space zero padding with the DC-preserving placement of ``SRDownsample`` (test reference)."""
    h, w = low.shape[-2:]
    H, W = h * scale, w * scale
    k = torch.zeros(*low.shape[:-2], H, W, dtype=torch.complex64)
    top, left = H // 2 - h // 2, W // 2 - w // 2
    k[..., top : top + h, left : left + w] = fft2c(low.to(torch.complex64))
    return ifft2c(k) * scale


def _band_limited(h: int, w: int, scale: int) -> torch.Tensor:
    """A real image whose spectrum lives in the central (h / scale, w / scale) block, without its Nyquist row and
    column (they have no conjugate partner there), built from a random low-resolution image."""
    low = torch.rand(1, h // scale, w // scale, generator=torch.Generator().manual_seed(0))
    k = fft2c(low.to(torch.complex64))
    if (h // scale) % 2 == 0:
        k[..., 0, :] = 0
    if (w // scale) % 2 == 0:
        k[..., :, 0] = 0
    image = _zero_pad_upsample(ifft2c(k), scale)
    assert image.imag.abs().max() < 1e-5
    return image.real


@pytest.mark.parametrize("hw, scale", [((32, 24), 2), ((32, 32), 4), ((36, 28), 2)])
def test_kspace_crop_of_band_limited_image_is_lossless(hw, scale):
    image = _band_limited(*hw, scale)
    low = SRDownsample(scale, "kspace")(image)
    assert low.shape == (1, hw[0] // scale, hw[1] // scale) and low.dtype == torch.float32
    assert torch.allclose(_zero_pad_upsample(low, scale).real, image, atol=1e-5)


@pytest.mark.parametrize("mode", ["kspace", "bicubic"])
@pytest.mark.parametrize("scale", [2, 4])
def test_constant_intensity_preserved(mode, scale):
    low = SRDownsample(scale, mode)(torch.full((1, 16, 16), 3.5))
    assert low.shape == (1, 16 // scale, 16 // scale)
    assert torch.allclose(low, torch.full_like(low, 3.5), atol=1e-5)


def test_kspace_mode_keeps_complex_and_channels():
    x = torch.randn(2, 16, 12, dtype=torch.complex64)
    low = SRDownsample(2, "kspace")(x)
    assert low.shape == (2, 8, 6) and low.dtype == torch.complex64
    assert torch.allclose(fft2c(low) * 2, fft2c(x)[..., 4:12, 3:9], atol=1e-5)


@pytest.mark.parametrize("scale", [2, 4])
def test_bicubic_matches_pillow_and_is_pixel_centred(scale):
    x = np.random.RandomState(0).rand(48, 40).astype(np.float32)
    ref = np.asarray(Image.fromarray(x).resize((40 // scale, 48 // scale), Image.BICUBIC))
    ours = SRDownsample(scale, "bicubic")(torch.from_numpy(x)[None])
    assert np.allclose(ours[0].numpy(), ref, atol=1e-5)
    # a horizontal ramp: low-res pixel j samples the high-res coordinate scale * j + (scale - 1) / 2
    ramp = torch.arange(64, dtype=torch.float32).expand(1, 8, 64)
    low = SRDownsample(scale, "bicubic")(ramp)[0, 0]
    j = torch.arange(2, 64 // scale - 2)
    assert torch.allclose(low[j], scale * j + (scale - 1) / 2, atol=1e-4)


def test_dictionary_version_and_missing_keys():
    d = SRDownsampled(scale=2, mode="kspace")({K.TARGET: torch.rand(1, 8, 8)})
    assert d[K.LOW_RES].shape == (1, 4, 4)
    assert SRDownsampled(allow_missing_keys=True)({"other": 1}) == {"other": 1}
    with pytest.raises(KeyError):
        SRDownsampled()({"other": 1})


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="divisible by 4"):
        SRDownsampled(scale=4)({K.TARGET: torch.rand(1, 10, 8)})
    with pytest.raises(ValueError, match="image 'target' of shape \\(1, 1, 1\\) is too small"):
        SRDownsampled()({K.TARGET: torch.rand(1, 1, 1)})
    with pytest.raises(TypeError, match="needs a real image"):
        SRDownsample(2, "bicubic")(torch.ones(1, 4, 4, dtype=torch.complex64))
    with pytest.raises(ValueError, match="scale must be an integer >= 2, got 1"):
        SRDownsample(1)
    with pytest.raises(ValueError, match="mode must be one of"):
        SRDownsample(2, "nearest")
