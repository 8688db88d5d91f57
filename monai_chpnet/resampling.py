"""In-plane resampling by an integer factor: the super-resolution degradation ``D`` and the classical upsamplings.

One home for the operators the transforms (:class:`~monai_chpnet.transforms.degradation.SRDownsample`), the
networks (the student's consistency step, both networks' classical first estimate) and the inference baselines
share. Every function works on the last two axes of a tensor ``(..., H, W)`` and is differentiable.

Modes:
    ``"kspace"``: the MRI acquisition at a lower matrix: the central ``(H / s, W / s)`` block of the centred
        orthonormal k-space, divided by ``s`` so intensities are kept; its right inverse is zero-padding (``sinc``
        interpolation), exact for complex images and up to the unpaired Nyquist line for real ones.
    ``"bicubic"``: antialiased bicubic resampling (the kernel widened by ``s``, as MATLAB's ``imresize``) down;
        torch's cubic convolution (``align_corners=False``, the same pixel centres) up.
    ``"average"``: ``s x s`` average pooling down; nearest-neighbour replication up (``D U = I``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from monai_chpnet.kspace import fft2c, ifft2c

__all__ = ["RESAMPLING_MODES", "downsample", "upsample"]

RESAMPLING_MODES = ("kspace", "bicubic", "average")


def _check(mode: str) -> None:
    if mode not in ["kspace", "bicubic", "average"]:  # a literal: TorchScript cannot read a global tuple
        raise ValueError(f"mode must be one of ('kspace', 'bicubic', 'average'), got '{mode}'.")


def _as_4d(x: Tensor) -> Tensor:
    return x.reshape(-1, 1, x.shape[-2], x.shape[-1])


def _like(out: Tensor, x: Tensor) -> Tensor:
    """``out`` ``(N, 1, h, w)`` back to ``x``'s leading axes."""
    return out.reshape(list(x.shape[:-2]) + [out.shape[-2], out.shape[-1]])


def downsample(x: Tensor, scale: int, mode: str = "kspace") -> Tensor:
    """``D x``: ``(..., H, W)`` -> ``(..., H / scale, W / scale)`` (H, W multiples of ``scale``). Complex input is
    only accepted by ``"kspace"`` (and stays complex); a real image gives a real one."""
    _check(mode)
    H, W = x.shape[-2:]
    h, w = H // scale, W // scale
    if mode == "kspace":
        top, left = H // 2 - h // 2, W // 2 - w // 2  # keeps DC at (h // 2, w // 2) for every parity
        low = ifft2c(fft2c(x.to(torch.complex64))[..., top : top + h, left : left + w]) / scale
        return low if torch.is_complex(x) else low.real
    if torch.is_complex(x):
        raise TypeError(f"{mode} downsampling needs a real image; use mode='kspace' for a complex one.")
    if mode == "bicubic":
        out = F.interpolate(_as_4d(x), size=(h, w), mode="bicubic", align_corners=False, antialias=True)
    else:
        out = F.avg_pool2d(_as_4d(x), scale)
    return _like(out, x)


def upsample(x: Tensor, scale: int, mode: str = "kspace") -> Tensor:
    """The classical first estimate ``(..., h, w)`` -> ``(..., scale h, scale w)``: zero-padded k-space times
    ``scale`` (``"kspace"``), cubic convolution (``"bicubic"``) or replication (``"average"``)."""
    _check(mode)
    h, w = x.shape[-2:]
    H, W = scale * h, scale * w
    if mode == "kspace":
        top, left = H // 2 - h // 2, W // 2 - w // 2  # the block downsample(mode="kspace") keeps
        padded = F.pad(fft2c(x.to(torch.complex64)), (left, W - w - left, top, H - h - top))
        out = ifft2c(padded) * scale
        return out if torch.is_complex(x) else out.real
    if mode == "bicubic":
        out = F.interpolate(_as_4d(x), scale_factor=float(scale), mode="bicubic", align_corners=False)
    else:
        out = F.interpolate(_as_4d(x), scale_factor=float(scale), mode="nearest")
    return _like(out, x)
