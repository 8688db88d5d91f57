"""One acquisition for a whole volume, applied to its slices batch by batch: the evaluation recipes, vectorised.

:func:`~.recipes.simulation_transform` and :func:`~.recipes.kspace_transform` pre-process one slice dictionary
at a time, and a volume reconstructed with them has every slice's sample built before the network sees the
first. A :class:`VolumeAcquisition` draws the volume's one mask (and smooth phase) once, then turns a batch of
slices ``(B, 1, H, W)`` into the network's inputs with a few tensor operations on the whole batch -- the numbers
of the recipes (tested equal to float precision), without per-slice Python, one batch in memory at a time.

Modes (what a batch of slices is):

* ``"simulate"``: fully-sampled magnitude images; the acquisition is simulated (``fft2c``, the mask), from the
  images given the volume's smooth phase with ``phase_seed``;
* ``"undersampled"``: magnitude images that *are* zero-filled acquisitions made with the mask: the input is the
  zero-filled image, its k-space on the sampled columns the measurement;
* ``"kspace"``: fully-sampled k-space (fastMRI), retrospectively undersampled with the mask;
* ``"acquired"``: undersampled k-space taken as acquired: each slice's mask is recovered from its columns.
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from monai_chpnet.kspace import center_crop_hw, complex_to_channels, fft2c, ifft2c, sampled_columns
from monai_chpnet.transforms.masks import CallSeed, create_mask_func
from monai_chpnet.transforms.phase import RandSmoothPhase

__all__ = ["ACQUISITION_MODES", "SliceBatch", "VolumeAcquisition"]

ACQUISITION_MODES = ("simulate", "undersampled", "kspace", "acquired")
EPS = 1e-11  # added to the normalisation's standard deviation, as NormalizeInstanced does


class SliceBatch(NamedTuple):
    """The network's inputs for a batch of slices, and what maps its output back.

    ``image`` float32 ``(B, 2, H, W)`` and ``kspace`` complex64 ``(B, 1, H, W)`` are scale-normalised (divided by
    ``scale``, float32 ``(B, 1, 1, 1)``); ``mask`` float32 ``(B, 1, 1, W)``; ``zero_filled`` float32
    ``(B, 1, h, w)`` in input units, on the output grid.
    """

    image: Tensor
    kspace: Tensor
    mask: Tensor
    zero_filled: Tensor
    scale: Tensor


def _per_slice_scale(x: Tensor) -> Tensor:
    """``std + eps`` of each slice of ``(B, 1, h, w)`` (torch's unbiased std, as ``NormalizeInstance``)."""
    return (x.flatten(1).std(dim=1) + EPS).view(-1, 1, 1, 1)


def _divide(kspace: Tensor, scale: Tensor) -> Tensor:
    """Complex ``kspace`` divided by real ``scale`` part by part, as ``NormalizeInstance`` does (faster than a
    complex division, and the same numbers)."""
    return torch.view_as_complex(torch.view_as_real(kspace) / scale.unsqueeze(-1))


class VolumeAcquisition:
    """A volume's acquisition (see the module docstring), applied with ``__call__`` to batches of its slices.

    Args:
        mode: one of :data:`ACQUISITION_MODES`.
        width: the k-space width ``W`` (the slices' last axis).
        acceleration, center_fraction, mask_type: the mask (ignored in ``"acquired"`` mode).
        mask_seed: the volume's mask seed (an integer, or fastMRI's ``seed_from_name`` of the file).
        phase_seed: ``"simulate"`` mode: the seed of a smooth phase given to every slice; ``None``: zero phase.
        crop_size: ``(h, w)`` the zero-filled image is cropped to (fastMRI's reference grid); ``None``: ``(H, W)``.

    Raises:
        ValueError: an unknown mode, or a k-space too narrow for the mask.
    """

    def __init__(
        self,
        mode: str,
        width: int,
        acceleration: float = 4.0,
        center_fraction: float = 0.08,
        mask_type: str = "random",
        mask_seed: Optional[CallSeed] = 0,
        phase_seed: Optional[CallSeed] = None,
        crop_size: Optional[Sequence[int]] = None,
    ) -> None:
        if mode not in ACQUISITION_MODES:
            raise ValueError(f"mode must be one of {ACQUISITION_MODES}, got {mode!r}.")
        self.mode, self.crop_size = mode, None if crop_size is None else tuple(int(c) for c in crop_size)
        self.mask: Optional[Tensor] = None  #: float32 ``(1, 1, 1, W)``, the volume's mask (not in "acquired" mode)
        if mode != "acquired":
            sample = create_mask_func(mask_type, acceleration, center_fraction)(int(width), seed=mask_seed)
            self.mask = sample.mask.view(1, 1, 1, -1)
        self._phaser: Optional[RandSmoothPhase] = None
        self._phase: Optional[Tensor] = None
        if mode == "simulate" and phase_seed is not None:
            self._phaser = RandSmoothPhase()
            self._phaser.randomize(seed=phase_seed)

    def phase(self, shape: Tuple[int, int]) -> Optional[Tensor]:
        """The volume's phase map float32 ``(H, W)`` (drawn once), or ``None`` without ``phase_seed``."""
        if self._phaser is not None and (self._phase is None or tuple(self._phase.shape) != tuple(shape)):
            self._phase = self._phaser.phase(tuple(shape))
        return self._phase

    def _grid(self, x: Tensor) -> Tensor:
        return x if self.crop_size is None else center_crop_hw(x, self.crop_size)

    def __call__(self, slices: Tensor) -> SliceBatch:
        """The inputs for ``slices``: real ``(B, 1, H, W)`` magnitude images, or complex64 k-space (k-space modes)."""
        if self.mode == "undersampled":
            scale = _per_slice_scale(slices)
            x = slices / scale
            kspace = fft2c(torch.complex(x, torch.zeros_like(x))) * self.mask.to(slices.device)  # of the scaled image
            return SliceBatch(torch.cat([x, torch.zeros_like(x)], dim=1), kspace, self._masks(slices), slices, scale)
        if self.mode == "simulate":
            phase = self.phase(tuple(slices.shape[-2:]))
            image = slices.to(torch.complex64) if phase is None else torch.polar(slices, phase.to(slices.device))
            measured = fft2c(image) * self.mask.to(slices.device)
        elif self.mode == "kspace":
            measured = slices * self.mask.to(slices.device)
        else:
            measured = slices
        mask = self._masks(slices) if self.mode != "acquired" else sampled_columns(slices)
        complex_image = ifft2c(measured)
        zero_filled = self._grid(complex_image.abs())
        scale = _per_slice_scale(zero_filled)
        return SliceBatch(
            complex_to_channels(complex_image) / scale, _divide(measured, scale), mask, zero_filled, scale
        )

    def _masks(self, slices: Tensor) -> Tensor:
        return self.mask.to(slices.device).expand(slices.shape[0], -1, -1, -1)

    @staticmethod
    def realised_acceleration(mask: Union[Tensor, Sequence[float]]) -> float:
        """``W / sampled columns`` of a column mask."""
        m = torch.as_tensor(mask).reshape(-1)
        return float(m.numel() / max(float(m.sum()), 1.0))
