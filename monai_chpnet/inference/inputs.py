"""What a file holds for reconstruction: an image volume (magnitude, with its geometry) or fastMRI k-space.

:func:`read_input` reads either kind into a :class:`ReconInput` and checks it, so that everything after it can
assume a finite, non-empty volume: every refusal is one line naming the file and what is wrong with it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np

from monai_chpnet.data.fastmri import TARGET_KEY, read_fastmri_volume
from monai_chpnet.data.volumes import Geometry, read_volume
from monai_chpnet.inference.settings import ReconSettings
from monai_chpnet.kspace import center_crop_hw
from monai_chpnet.transforms.crop import fastmri_crop_size

__all__ = ["FASTMRI_SUFFIXES", "NEGATIVE_TOLERANCE", "ReconInput", "check_magnitude_volume", "read_input"]

logger = logging.getLogger(__name__)

FASTMRI_SUFFIXES = (".h5", ".hdf5")
NEGATIVE_TOLERANCE = 0.01  # negative values of a magnitude volume down to this fraction of its maximum are clipped


@dataclass
class ReconInput:
    """One input, on the grid the network works on.

    Attributes:
        data: ``(slices, H, W)``: float32 magnitude (``kind == "image"``) or complex64 centred k-space
            (``kind == "kspace"``).
        kind: ``"image"`` or ``"kspace"``.
        source: the input's path (or a name).
        reference: float32 ``(slices, h, w)``: a fastMRI file's target, cropped to ``crop_size``; ``None`` for an
            image volume (the image itself is the reference of a simulated acquisition) and for prospective data.
        crop_size: ``(h, w)`` the k-space's image is cropped to (the reference's grid, or the header's
            reconstruction size); ``None``: the full grid.
        geometry: where an image volume sits in patient space; ``None`` for k-space.
        metadata: a fastMRI file's attributes and header sizes.
    """

    data: np.ndarray
    kind: str
    source: str
    reference: Optional[np.ndarray] = None
    crop_size: Optional[Tuple[int, int]] = None
    geometry: Optional[Geometry] = None
    metadata: Dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The base name of the source, which seeds a fastMRI file's mask and a simulated phase."""
        return Path(self.source).name or "volume"

    @property
    def output_shape(self) -> Tuple[int, int, int]:
        """``(slices, h, w)`` of the reconstruction."""
        s, h, w = self.data.shape
        return (s, *(self.crop_size or (h, w)))


def check_magnitude_volume(volume: Any, source: str = "volume") -> np.ndarray:
    """A magnitude volume ``(slices, H, W)`` as float32, checked: 3-D, at least 2 x 2 pixels per slice, finite,
    not all zero, no negative value below ``-NEGATIVE_TOLERANCE`` x its maximum (smaller undershoot of a
    resampled magnitude image is set to 0, with a warning).

    Raises:
        ValueError: naming ``source`` and what is wrong.
    """
    vol = np.asarray(volume, dtype=np.float32)
    if vol.ndim != 3:
        raise ValueError(f"expected a volume (slices, H, W), got an array of shape {vol.shape}.")
    if min(vol.shape[1:]) < 2 or vol.shape[0] < 1:
        raise ValueError(f"volume of shape {vol.shape} is too small to reconstruct (need H, W >= 2).")
    low, high = float(vol.min()), float(vol.max())  # NaN and inf show in one min/max pass
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ValueError(f"volume {source} contains NaN or inf values.")
    high = max(high, -low)
    if low < -NEGATIVE_TOLERANCE * high:
        raise ValueError(
            f"volume {source} has negative values (minimum {low:.4g}, maximum magnitude {high:.4g}): it is not a "
            "magnitude image (z-scored, phase or difference image?). The reconstruction is a magnitude, so it could "
            "not match it; give the acquired magnitude image."
        )
    if low < 0:  # interpolation / bias-correction undershoot of a magnitude image: clipped, said
        logger.warning(
            f"volume {source}: negative values down to {low:.4g} (within {NEGATIVE_TOLERANCE:.0%} of the "
            "maximum) are set to 0; a magnitude image has none."
        )
        vol = np.clip(vol, 0, None)
    if high == 0:
        raise ValueError(f"volume {source} of shape {vol.shape} is all zero.")
    return vol


def _read_kspace(path: Path, acquired: bool) -> ReconInput:
    """A fastMRI single-coil file as k-space, its target cropped as fastMRI crops it."""
    volume = read_fastmri_volume(path)
    if not acquired and volume.target is None:
        raise ValueError(
            f"fastMRI file {path} has no reference ({TARGET_KEY}), as in the test split: its k-space is already "
            "undersampled and masking it again would simulate a second acquisition. Take it as acquired: "
            "acceleration=None (undersampled=True, --undersampled)."
        )
    _, height, width = volume.kspace.shape
    size = volume.target.shape[-2:] if volume.target is not None else volume.metadata.get("recon_size", (None,))[:2]
    crop = fastmri_crop_size(width, size) if None not in size else None
    if crop is not None and crop[0] > height:
        raise ValueError(
            f"fastMRI file {path}: k-space of shape {volume.kspace.shape} has fewer rows than the reconstruction "
            f"size {tuple(size)}."
        )
    reference = volume.target
    if reference is not None and tuple(reference.shape[-2:]) != crop:
        reference = np.ascontiguousarray(center_crop_hw(reference, crop))  # FLAIR 203: the target is cropped too
    return ReconInput(volume.kspace, "kspace", str(path), reference, crop, metadata=volume.metadata)


def read_input(path: Union[str, os.PathLike], settings: ReconSettings = ReconSettings()) -> ReconInput:
    """Read a file to reconstruct: a fastMRI single-coil ``.h5`` as k-space, anything else as an image volume
    (NIfTI / NRRD / MHA / DICOM file or series folder, :func:`~monai_chpnet.data.volumes.read_volume`) along
    ``settings.slice_axis``, checked by :func:`check_magnitude_volume`.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        OSError / ValueError: an unreadable, truncated or unsupported file, naming it.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"input not found: {p}")
    if p.suffix.lower() in FASTMRI_SUFFIXES:
        return _read_kspace(p, acquired=settings.undersampled)
    volume, geometry = read_volume(p, slice_axis=settings.slice_axis, series_id=settings.series_id)
    return ReconInput(check_magnitude_volume(volume, str(p)), "image", str(p), geometry=geometry)
