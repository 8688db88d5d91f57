"""Single-coil Cartesian k-space primitives shared by transforms, networks and inference.

Conventions used throughout monai-chpnet (every module relies on them):

* **Images** are channel-first: a sample is ``(C, H, W)``, a batch ``(B, C, H, W)``. A magnitude image has
  ``C == 1``; a complex image carried by a real-valued network has ``C == 2`` (real, imaginary).
* **k-space** is a complex tensor (``torch.complex64``) ``(C, H, W)`` / ``(B, C, H, W)`` with ``C == 1``
  (single coil), *centred*: the DC coefficient sits at ``(H // 2, W // 2)``. The transform pair is the
  orthonormal centred 2-D FFT (:func:`fft2c` / :func:`ifft2c`), the convention of fastMRI and of
  :func:`monai.networks.blocks.fft_utils_t.fftn_centered_t` (tested equal).
* **Masks** select columns (the last axis, the phase-encoding direction in fastMRI): a float32 tensor of
  shape ``(1, 1, W)`` per sample or ``(B, 1, 1, W)`` per batch, 1 where a column was acquired. It broadcasts
  against k-space; :func:`check_mask` enforces that.

The functions work on native complex tensors (``torch.complex64``); MONAI's own helpers use a trailing
real/imaginary axis of size 2, :func:`complex_to_channels` and :func:`channels_to_complex` convert.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import Tensor

__all__ = [
    "fft2c",
    "ifft2c",
    "complex_to_channels",
    "channels_to_complex",
    "complex_abs",
    "check_complex",
    "check_mask",
    "apply_mask",
    "zero_filled",
    "sampled_columns",
    "center_crop_hw",
]


def check_complex(x: Tensor, name: str = "kspace") -> Tensor:
    """Return ``x`` if it is a complex tensor, else raise a ``TypeError`` naming ``name`` and its dtype."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}.")
    if not torch.is_complex(x):
        raise TypeError(
            f"{name} must be complex (e.g. torch.complex64), got real dtype {x.dtype} with shape {tuple(x.shape)}; "
            "k-space read with a float dtype has lost its imaginary part (pass dtype=np.complex64 when loading)."
        )
    return x


def fft2c(image: Tensor) -> Tensor:
    """Centred, orthonormal 2-D FFT over the last two axes.

    Args:
        image: complex (or real, promoted to complex) tensor ``(..., H, W)``.

    Returns:
        complex k-space ``(..., H, W)`` with the DC coefficient at ``(H // 2, W // 2)``.
    """
    x = torch.fft.ifftshift(image, dim=(-2, -1))
    x = torch.fft.fft2(x, dim=(-2, -1), norm="ortho")
    return torch.fft.fftshift(x, dim=(-2, -1))


def ifft2c(kspace: Tensor) -> Tensor:
    """Centred, orthonormal inverse 2-D FFT over the last two axes; exact inverse of :func:`fft2c`.

    Args:
        kspace: complex tensor ``(..., H, W)``, DC at ``(H // 2, W // 2)``.

    Returns:
        complex image ``(..., H, W)``.
    """
    x = torch.fft.ifftshift(kspace, dim=(-2, -1))
    x = torch.fft.ifft2(x, dim=(-2, -1), norm="ortho")
    return torch.fft.fftshift(x, dim=(-2, -1))


def complex_to_channels(x: Tensor) -> Tensor:
    """Complex ``(B, 1, H, W)`` (or ``(1, H, W)``) -> real ``(B, 2, H, W)`` (or ``(2, H, W)``): real, imaginary."""
    check_complex(x, "x")
    if x.shape[-3] != 1:
        raise ValueError(f"complex_to_channels expects one complex channel at axis -3, got shape {tuple(x.shape)}.")
    return torch.cat([x.real, x.imag], dim=-3)


def channels_to_complex(x: Tensor) -> Tensor:
    """Real ``(B, 2, H, W)`` (or ``(2, H, W)``), channels (real, imaginary) -> complex ``(B, 1, H, W)``."""
    if torch.is_complex(x) or x.ndim < 3 or x.shape[-3] != 2:
        raise ValueError(
            f"channels_to_complex expects a real tensor with 2 channels (real, imag) at axis -3, "
            f"got dtype {x.dtype} shape {tuple(x.shape)}."
        )
    return torch.complex(x.narrow(-3, 0, 1).float(), x.narrow(-3, 1, 1).float())


def complex_abs(x: Tensor) -> Tensor:
    """Magnitude: ``|x|`` for a complex tensor, or ``sqrt(re^2 + im^2)`` over a 2-channel axis -3 for a real one.

    Returns a real tensor with one channel at axis -3.
    """
    if torch.is_complex(x):
        return x.abs()
    if x.ndim < 3 or x.shape[-3] != 2:
        raise ValueError(f"complex_abs expects complex input or 2 real channels at axis -3, got {tuple(x.shape)}.")
    return torch.sqrt(x.narrow(-3, 0, 1) ** 2 + x.narrow(-3, 1, 1) ** 2)


def check_mask(mask: Tensor, kspace: Tensor, name: str = "mask") -> Tensor:
    """Validate that a column mask broadcasts to ``kspace`` and is real; return it cast to ``kspace.real``'s dtype.

    Raises:
        TypeError: if the mask is complex.
        ValueError: if its shape does not broadcast to the k-space shape, or it has values other than 0 and 1.
    """
    if torch.is_complex(mask):
        raise TypeError(f"{name} must be real-valued (0/1), got complex dtype {mask.dtype}.")
    try:
        torch.broadcast_shapes(tuple(mask.shape), tuple(kspace.shape))
    except RuntimeError:
        raise ValueError(
            f"{name} of shape {tuple(mask.shape)} does not broadcast to k-space of shape {tuple(kspace.shape)}; "
            "expected (1, 1, W) per sample or (B, 1, 1, W) per batch with W = k-space width."
        ) from None
    if mask.ndim > kspace.ndim:
        raise ValueError(f"{name} has more axes ({mask.ndim}) than the k-space ({kspace.ndim}).")
    if not bool(((mask == 0) | (mask == 1)).all()):
        raise ValueError(
            f"{name} must hold only 0 (unsampled) and 1 (sampled), got values in "
            f"[{float(mask.min())}, {float(mask.max())}]."
        )
    real_dtype = kspace.real.dtype if torch.is_complex(kspace) else kspace.dtype
    return mask.to(dtype=real_dtype)


def apply_mask(kspace: Tensor, mask: Tensor) -> Tensor:
    """Zero the unsampled columns: ``mask * kspace``; the mask is validated with :func:`check_mask`."""
    check_complex(kspace)
    return kspace * check_mask(mask, kspace)


def zero_filled(kspace: Tensor, mask: Optional[Tensor] = None) -> Tensor:
    """Complex zero-filled image ``ifft2c(mask * kspace)`` (``mask`` optional when ``kspace`` is already masked)."""
    check_complex(kspace)
    return ifft2c(apply_mask(kspace, mask) if mask is not None else kspace)


def sampled_columns(kspace: Tensor, eps: float = 0.0) -> Tensor:
    """Recover the column mask of already-undersampled k-space: 1 where any entry of a column is non-zero.

    Args:
        kspace: complex ``(..., H, W)``.
        eps: magnitude at or below which a value counts as zero.

    Returns:
        float32 mask of shape ``(..., 1, W)`` (leading axes kept, rows reduced).
    """
    check_complex(kspace)
    return (kspace.abs() > eps).any(dim=-2, keepdim=True).to(torch.float32)


def center_crop_hw(x: Tensor, size: Sequence[int]) -> Tensor:
    """Crop the last two axes of ``x`` symmetrically to ``size = (h, w)`` (fastMRI's ``center_crop``).

    Raises:
        ValueError: if ``size`` is larger than the input along either axis.
    """
    h, w = int(size[0]), int(size[1])
    H, W = x.shape[-2], x.shape[-1]
    if h > H or w > W or h < 1 or w < 1:
        raise ValueError(f"cannot centre-crop shape {tuple(x.shape)} to ({h}, {w}).")
    top, left = (H - h) // 2, (W - w) // 2
    return x[..., top : top + h, left : left + w]
