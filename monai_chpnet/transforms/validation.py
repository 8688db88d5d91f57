"""Input checks shared by the transforms: every error names the dictionary key (or argument) and the shape."""

from __future__ import annotations

import math
from typing import Hashable, Optional, Tuple

import torch
from monai.config import NdarrayOrTensor
from monai.utils import convert_to_tensor
from torch import Tensor

from monai_chpnet.kspace import check_complex

__all__ = ["check_kspace_sample", "check_image_sample"]


def _check_grid(x: Tensor, key: Hashable, what: str, channels: Optional[int]) -> Tuple[float, float]:
    """Check the shape and finiteness; return ``(min, max)`` over the real (and imaginary) values."""
    if x.ndim != 3 or (channels is not None and x.shape[0] != channels):
        expected = f"({channels}, H, W)" if channels is not None else "(C, H, W)"
        raise ValueError(f"{what} {key!r} must have shape {expected}, got {tuple(x.shape)}.")
    if min(x.shape[-2:]) < 2:
        raise ValueError(f"{what} {key!r} of shape {tuple(x.shape)} is too small: H and W must both be >= 2.")
    # one min/max pass (NaN and inf propagate) is ~20x faster than isfinite().all() on 320 x 320 complex
    lo, hi = torch.aminmax(torch.view_as_real(x) if torch.is_complex(x) else x.float())
    lo_f, hi_f = float(lo), float(hi)
    if not (math.isfinite(lo_f) and math.isfinite(hi_f)):
        bad = int((~torch.isfinite(x)).sum())
        raise ValueError(f"{what} {key!r} of shape {tuple(x.shape)} has {bad} NaN/inf value(s).")
    return lo_f, hi_f


def check_kspace_sample(kspace: NdarrayOrTensor, key: Hashable = "kspace") -> Tensor:
    """Validate single-coil k-space of one sample and return it as a plain complex64 tensor ``(1, H, W)``.

    Raises:
        TypeError: if it is real-valued (e.g. loaded with a float dtype, which drops the imaginary part).
        ValueError: wrong shape (multi-coil, missing channel axis), H or W < 2, NaN/inf values, or all zeros.
    """
    x = check_complex(convert_to_tensor(kspace, track_meta=False), f"k-space {key!r}")
    if _check_grid(x, key, "k-space", channels=1) == (0.0, 0.0):
        raise ValueError(f"k-space {key!r} of shape {tuple(x.shape)} is all zero.")
    return x.to(torch.complex64)


def check_image_sample(
    image: NdarrayOrTensor, key: Hashable = "image", channels: Optional[int] = 1, nonzero: bool = False
) -> Tensor:
    """Validate an image of one sample, ``(channels, H, W)`` (any ``C`` when ``channels`` is ``None``), real or
    complex, and return it as a plain float32 or complex64 tensor.

    Raises:
        ValueError: wrong shape, H or W < 2 (e.g. a 1-pixel image), NaN/inf values, or all zeros if ``nonzero``.
    """
    x = convert_to_tensor(image, track_meta=False)
    if _check_grid(x, key, "image", channels) == (0.0, 0.0) and nonzero:
        raise ValueError(f"image {key!r} of shape {tuple(x.shape)} is all zero (its k-space would be all zero).")
    return x.to(torch.complex64 if torch.is_complex(x) else torch.float32)
