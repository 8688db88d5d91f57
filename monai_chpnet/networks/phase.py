"""Phase reference from the fully-sampled k-space centre: let a network see a phase-bearing image as nearly real.

A scanner's image ``x = m · exp(iφ)`` carries a smooth phase ``φ``. Its k-space has no conjugate symmetry, so a
network that learnt on real images (where the imaginary channel is all aliasing) loses its best cue. The centre
block of a Cartesian mask is fully sampled, which is enough to estimate a smooth phase (the idea of homodyne and
phase-constrained partial-Fourier reconstruction)::

    z = F⁻¹(W ⊙ y)                 W: a Hann taper over the centre block's columns and (``row_factor``) rows
    u = Σz / |Σz|                  the image's dominant phase
    p = (z + b·max|z|·u) / |z + b·max|z|·u|    unit modulus; the small bias ``b`` along ``u`` keeps ``p`` at the
                                               dominant phase where the low-resolution image is (nearly) zero,
                                               instead of an arbitrary one

A network then denoises ``x · conj(p)`` (nearly real where there is signal) and returns to the measured frame by
``· p`` before data consistency, which stays exact in the original k-space. For a real, non-negative image ``p``
is 1 wherever its low-resolution version is above ``-b·max|z|``, so magnitude inputs are nearly unchanged; a
constant phase ``exp(iθ)`` on the whole acquisition turns ``p`` into ``p·exp(iθ)``, so what the network sees
does not change at all. Parameter-free and TorchScript-compatible.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from monai_chpnet.kspace import ifft2c

__all__ = ["CentrePhaseReference", "rotate_channels"]


def rotate_channels(image: Tensor, phase: Tensor) -> Tensor:
    """Multiply the complex image carried as real channels ``(B, 2, H, W)`` by ``phase`` ``(B, 1, H, W)`` (complex,
    unit modulus), returning ``(B, 2, H, W)``; ``conj(phase)`` undoes it."""
    z = torch.complex(image[:, 0:1].float(), image[:, 1:2].float()) * phase
    return torch.cat([z.real, z.imag], dim=1).to(image.dtype)


def _centre_run(mask: Tensor, width: int) -> Tensor:
    """Width (float ``(B,)``) of the run of sampled columns through column ``width // 2`` of a ``(B, W)`` mask."""
    c = width // 2
    sampled = (mask > 0.5).to(torch.float32)
    right = torch.cumprod(sampled[:, c:], dim=1).sum(1)
    left = torch.cumprod(sampled[:, : c + 1].flip(1), dim=1).sum(1)
    return (left + right - 1.0).clamp_min(1.0)


class CentrePhaseReference(nn.Module):
    """Estimate the smooth phase ``p`` (complex ``(B, 1, H, W)``, ``|p| = 1``) of a Cartesian acquisition from its
    fully-sampled centre columns (module docstring).

    Args:
        bias: the real offset ``b`` (fraction of the low-resolution image's maximum) that keeps ``p`` at 1 where
            there is no signal.
        row_factor: rows kept relative to the centre block's columns, scaled by ``H / W`` (1: isotropic
            resolution). The rows are fully sampled; more rows follow faster phase changes along them.

    The defaults were chosen on the sample's validation split (phase-bearing, 4x and 8x), not on held-out data:
    ``row_factor`` 2-4 beat 1 by 0.3 / 0.4 dB and 0.5 by 1.2 / 1.0 dB; ``bias`` 0.02-0.1 made no difference
    larger than 0.2 dB.
    """

    def __init__(self, bias: float = 0.05, row_factor: float = 8.0) -> None:
        super().__init__()
        if not (math.isfinite(bias) and bias >= 0):
            raise ValueError(f"bias must be a finite number >= 0, got {bias}.")
        if not (math.isfinite(row_factor) and row_factor > 0):
            raise ValueError(f"row_factor must be a finite number > 0, got {row_factor}.")
        self.bias = float(bias)
        self.row_factor = float(row_factor)

    def forward(self, kspace: Tensor, mask: Tensor) -> Tensor:
        """
        Args:
            kspace: measured complex k-space ``(B, 1, H, W)``, centred.
            mask: column mask broadcasting to it, ``(B, 1, 1, W)`` or ``(1, 1, W)``.

        Returns:
            complex ``(B, 1, H, W)`` of unit modulus.
        """
        b, h, w = kspace.shape[0], kspace.shape[-2], kspace.shape[-1]
        m = mask.reshape(-1, w)
        if m.shape[0] != b:
            m = m[:1].expand(b, w)
        half = 0.5 * _centre_run(m, w)[:, None]  # (B, 1): taper half-widths in columns
        half_rows = (half * self.row_factor * h / w).clamp_min(1.0)
        cols = torch.arange(w, device=kspace.device, dtype=torch.float32)[None] - float(w // 2)
        rows = torch.arange(h, device=kspace.device, dtype=torch.float32)[None] - float(h // 2)
        taper_c = torch.where(
            cols.abs() < half, torch.cos(0.5 * math.pi * cols / half) ** 2, torch.zeros_like(cols * half)
        )
        taper_r = torch.where(
            rows.abs() < half_rows, torch.cos(0.5 * math.pi * rows / half_rows) ** 2, torch.zeros_like(rows * half_rows)
        )
        window = taper_r[:, None, :, None] * taper_c[:, None, None, :]
        low = ifft2c(kspace * mask.to(torch.float32) * window)
        total = low.sum(dim=(-2, -1), keepdim=True)  # the dominant phase: the bias points along it
        unit = torch.polar(torch.ones_like(total.real), torch.angle(total))
        low = low + self.bias * low.abs().amax(dim=(-2, -1), keepdim=True) * unit
        return torch.polar(torch.ones_like(low.real), torch.angle(low))
