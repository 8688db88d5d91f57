"""Data-consistency layers: make a network's estimate agree with what was measured.

k-space mode (single-coil Cartesian, ``y = M ⊙ F x``; conventions of :mod:`monai_chpnet.kspace`):

* :class:`HardDataConsistency` replaces the sampled k-space columns of the estimate by the measured ones,
  ``k_out = (1 - M) ⊙ F(x) + M ⊙ y`` (exact, parameter-free).
* :class:`SoftDataConsistency` moves the sampled columns toward the measurement by a learned weight,
  ``k_out = F(x) - w ⊙ M ⊙ (F(x) - y)`` with ``w = λ / (1 + λ)`` and ``λ = softplus(θ) > 0``: on the sampled
  columns this is the noise-aware average ``(F(x) + λ y) / (1 + λ)`` of DC-CNN (Schlemper et al. 2018). It
  tends to the hard layer as ``λ → ∞`` and, unlike an unbounded weight, never overshoots the measurement.

Both take and return the real 2-channel image ``(B, 2, H, W)`` (real, imaginary) that the networks carry, and
the measured complex k-space ``(B, 1, H, W)`` with a column mask ``(B, 1, 1, W)`` / ``(1, 1, W)``.

Super-resolution mode (``y = D x``, ``D`` a fixed ``s × s`` average pooling):

* :class:`LearnedAdjointUpdate` is the reconstructed update of the paper,
  ``x ← x - δ [U(D x - y) + η (x - v)]``, with ``U`` a learned sub-pixel up-sampler initialised to the scaled
  adjoint of ``D`` (nearest replication: ``D U = I``, so ``δ = 1, η = 0`` is the exact projection onto
  ``{x : D x = y}``), ``v`` the denoiser's estimate and ``δ, η > 0`` learned scalars (both start at 1).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from monai.networks.blocks import SubpixelUpsample
from torch import Tensor, nn

from monai_chpnet.resampling import downsample
from monai_chpnet.kspace import channels_to_complex, check_complex, check_mask, complex_to_channels, fft2c, ifft2c

__all__ = [
    "HardDataConsistency",
    "SoftDataConsistency",
    "LearnedAdjointUpdate",
    "check_measurements",
    "replication_upsampler",
]


def check_measurements(image: Tensor, kspace: Tensor, mask: Tensor) -> Tensor:
    """Validate the inputs of a data-consistency layer; return ``mask`` as a real tensor of the k-space precision.

    Args:
        image: real ``(B, 2, H, W)`` estimate (real, imaginary).
        kspace: measured complex k-space ``(B, 1, H, W)``.
        mask: column mask broadcasting to ``kspace``, e.g. ``(B, 1, 1, W)`` or ``(1, 1, W)``.

    Raises:
        TypeError: real ``kspace`` or complex ``mask``.
        ValueError: ``image`` not 2-channel, ``kspace`` not ``(B, 1, H, W)`` of the image's grid, or a mask
            that does not broadcast to the k-space.
    """
    if not torch.jit.is_scripting():
        # the shared helpers give the detailed messages (dtype hints, broadcast rule); they are Python-only
        check_complex(kspace, "kspace")
        mask = check_mask(mask, kspace)
    if not torch.is_complex(kspace) or torch.is_complex(mask):
        raise TypeError("data consistency needs complex kspace and a real mask.")
    if image.dim() != 4 or image.shape[1] != 2:
        raise ValueError(f"data consistency needs a (B, 2, H, W) real/imaginary image, got shape {list(image.shape)}.")
    expected = [image.shape[0], 1, image.shape[2], image.shape[3]]
    if list(kspace.shape) != expected:
        raise ValueError(f"kspace of shape {list(kspace.shape)} does not match the image grid: expected {expected}.")
    broadcasts = mask.dim() <= kspace.dim()
    for axis in range(1, min(mask.dim(), kspace.dim()) + 1):
        size = mask.shape[-axis]
        broadcasts = broadcasts and (size == 1 or size == kspace.shape[-axis])
    if not broadcasts:
        raise ValueError(
            f"mask of shape {list(mask.shape)} does not broadcast to kspace of shape {list(kspace.shape)}."
        )
    return mask.to(kspace.real.dtype)


def _to_complex(image: Tensor) -> Tensor:
    """Real ``(B, 2, H, W)`` -> complex ``(B, 1, H, W)``; :func:`~monai_chpnet.kspace.channels_to_complex` in eager."""
    if torch.jit.is_scripting():
        return torch.complex(image[:, 0:1].float(), image[:, 1:2].float())
    return channels_to_complex(image)


def _to_channels(x: Tensor) -> Tensor:
    """Complex ``(B, 1, H, W)`` -> real ``(B, 2, H, W)``; :func:`~monai_chpnet.kspace.complex_to_channels` in eager."""
    if torch.jit.is_scripting():
        return torch.cat([x.real, x.imag], dim=1)
    return complex_to_channels(x)


class HardDataConsistency(nn.Module):
    """Replace the sampled k-space columns of the estimate by the measured ones (exact; no parameters).

    ``k_out = (1 - M) ⊙ F(x) + M ⊙ y`` for a 0/1 mask ``M`` (computed as a selection, so sampled values are copied
    bit for bit), returned as the image ``F⁻¹(k_out)``.
    """

    def forward(self, image: Tensor, kspace: Tensor, mask: Tensor) -> Tensor:
        """
        Args:
            image: real ``(B, 2, H, W)`` estimate (real, imaginary).
            kspace: measured complex k-space ``(B, 1, H, W)`` (masked or not: only sampled columns are read).
            mask: column mask broadcasting to ``kspace``, ``(B, 1, 1, W)`` or ``(1, 1, W)``.

        Returns:
            real ``(B, 2, H, W)`` float32 image whose k-space equals ``kspace`` on the sampled columns.
        """
        mask = check_measurements(image, kspace, mask)
        k = fft2c(_to_complex(image))
        return _to_channels(ifft2c(torch.where(mask > 0.5, kspace, k)))


class SoftDataConsistency(nn.Module):
    """Pull the sampled k-space columns toward the measured ones by a learned weight ``w = λ / (1 + λ)``.

    ``k_out = F(x) - w ⊙ M ⊙ (F(x) - y)`` with ``λ = softplus(θ)``; ``λ → ∞`` gives
    :class:`HardDataConsistency`.

    Args:
        lambda_init: initial ``λ > 0``; the default 9 starts at ``w = 0.9``, close to the hard layer.
    """

    def __init__(self, lambda_init: float = 9.0) -> None:
        super().__init__()
        if lambda_init <= 0:
            raise ValueError(f"lambda_init must be positive, got {lambda_init}.")
        # inverse softplus, stable for large values
        self.lambda_raw = nn.Parameter(torch.tensor(lambda_init + math.log(-math.expm1(-lambda_init))))

    def weight(self) -> Tensor:
        """The blending weight ``w = λ / (1 + λ)`` in ``(0, 1)`` applied on the sampled columns (0-d tensor)."""
        lam = F.softplus(self.lambda_raw.float())
        return lam / (1.0 + lam)

    def forward(self, image: Tensor, kspace: Tensor, mask: Tensor) -> Tensor:
        """Same arguments and shapes as :meth:`HardDataConsistency.forward`."""
        mask = check_measurements(image, kspace, mask)
        k = fft2c(_to_complex(image))
        return _to_channels(ifft2c(k - self.weight() * mask * (k - kspace)))


def replication_upsampler(channels: int, scale: int) -> SubpixelUpsample:
    """Learnable sub-pixel up-sampler (3×3 conv → PixelShuffle(``scale``)) initialised to nearest replication.

    Replication is ``scale²`` times the adjoint of ``scale × scale`` average pooling ``D``, so ``D U = I`` at
    initialisation. Maps ``(B, C, h, w)`` to ``(B, C, scale·h, scale·w)``.
    """
    upsampler = SubpixelUpsample(2, channels, channels, scale_factor=scale, apply_pad_pool=False)
    conv = upsampler.conv_block
    with torch.no_grad():
        conv.weight.zero_()
        conv.bias.zero_()
        for c in range(channels):  # PixelShuffle gathers output channels c·s² … (c+1)·s² - 1 into channel c
            conv.weight[c * scale**2 : (c + 1) * scale**2, c, 1, 1] = 1.0
    return upsampler


class LearnedAdjointUpdate(nn.Module):
    """Super-resolution consistency step ``x ← x - δ [U(D x - y) + η (x - v)]`` with a learned adjoint ``U``.

    ``D`` is the fixed degradation (:func:`monai_chpnet.resampling.downsample`, ``degradation``; average pooling by
    default); ``U`` is a :func:`replication_upsampler` (``D U = I`` at initialisation for average pooling);
    ``δ = softplus(·)`` and ``η = softplus(·)`` start at 1, i.e. ``x ← v - U(D x - y)``.

    Args:
        channels: image channels ``C``.
        scale: up-scaling factor ``s`` (2 or 4).
        degradation: ``"average"``, ``"kspace"`` or ``"bicubic"``.
    """

    def __init__(self, channels: int, scale: int, degradation: str = "average") -> None:
        super().__init__()
        self.scale, self.degradation = scale, degradation
        self.adjoint = replication_upsampler(channels, scale)
        inv_softplus_one = math.log(math.e - 1.0)
        self.delta_raw = nn.Parameter(torch.tensor(inv_softplus_one))
        self.eta_raw = nn.Parameter(torch.tensor(inv_softplus_one))

    def forward(self, x: Tensor, denoised: Tensor, low_res: Tensor) -> Tensor:
        """
        Args:
            x: current high-resolution estimate ``(B, C, s·h, s·w)``.
            denoised: the CNN's estimate ``v``, same shape as ``x``.
            low_res: the measurement ``y``, ``(B, C, h, w)``.

        Returns:
            the updated estimate, shape of ``x``.
        """
        residual = downsample(x, self.scale, self.degradation) - low_res
        delta, eta = F.softplus(self.delta_raw), F.softplus(self.eta_raw)
        return x - delta * (self.adjoint(residual) + eta * (x - denoised))
