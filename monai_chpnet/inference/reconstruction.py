"""Reconstruct an array, a fastMRI file or any file: read it (:mod:`.inputs`), stream it (:mod:`.streaming`).

Each function takes the settings as keyword arguments (checked once, by :class:`~.settings.ReconSettings`) or
as ``settings=`` (keyword arguments then override its fields). ``network=None`` gives the zero-filled
reconstruction (the baseline).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
from torch import nn

from monai_chpnet.data.volumes import Geometry
from monai_chpnet.inference.inputs import FASTMRI_SUFFIXES, ReconInput, check_magnitude_volume, read_input
from monai_chpnet.inference.settings import ReconSettings
from monai_chpnet.inference.results import Progress, ReconstructionResult
from monai_chpnet.inference.streaming import reconstruct_input
from monai_chpnet.inference.trust import TrustMap

__all__ = ["reconstruct_fastmri", "reconstruct_file", "reconstruct_volume"]

PathLike = Union[str, os.PathLike]


class _FromSettings(float):
    """The default of ``acceleration``: ``settings.acceleration`` when ``settings`` is given, else 4.0."""

    def __repr__(self) -> str:
        return "4.0 (or settings.acceleration)"


FROM_SETTINGS: Any = _FromSettings(4.0)


def _settings(settings: Optional[ReconSettings], **given: Any) -> ReconSettings:
    """``settings`` (default: the defaults) with the keyword arguments given (``device`` may be a torch device)."""
    given = {k: (str(v) if k == "device" else v) for k, v in given.items()}
    if given.get("acceleration") is FROM_SETTINGS:
        given["acceleration"] = settings.acceleration if settings is not None else 4.0
    return settings.replace(**given) if settings is not None else ReconSettings(**given)


def _check_simulated_acceleration(acceleration: Optional[float], source: Any) -> None:
    """An image volume has no k-space of its own: its acquisition is simulated, so it needs an acceleration."""
    if acceleration is None:
        raise ValueError(
            f"volume {source}: an image volume has no k-space of its own, so acceleration=None cannot be "
            "reconstructed; give the acceleration to simulate, or the acquisition's with undersampled=True."
        )


def reconstruct_volume(
    volume: np.ndarray,
    network: Optional[nn.Module] = None,
    acceleration: Optional[float] = FROM_SETTINGS,
    geometry: Optional[Geometry] = None,
    source: str = "volume",
    progress: Optional[Progress] = None,
    settings: Optional[ReconSettings] = None,
    trust: Optional[TrustMap] = None,
    **kwargs: Any,
) -> ReconstructionResult:
    """Reconstruct a magnitude volume ``(slices, H, W)``.

    By default the volume is the fully-sampled reference: each slice is retrospectively undersampled with the
    ``acceleration`` / ``center_fraction`` / ``mask_type`` mask (one for the whole volume, drawn from ``seed``) and
    reconstructed; metrics are computed against it.

    With ``undersampled=True`` the volume is the zero-filled magnitude of an acquisition made with that mask
    (the same parameters describe the acquisition): data consistency keeps the image's own k-space on the
    sampled columns and the network fills the others; there is no reference. A magnitude image carries no
    phase, so this recovers less than raw k-space does (use a fastMRI ``.h5`` when there is one).

    ``simulate_phase=True`` (evaluation): the simulated acquisition is of the volume given a smooth phase
    (:class:`~monai_chpnet.transforms.phase.RandSmoothPhased`), one per volume, drawn from ``seed`` and the base
    name of ``source`` so each source has its own phase, the same in every run; the reference stays the magnitude.

    ``trust``: also compute this trust map (:class:`~.trust.TrustMap`), in ``result.trust``.

    Other keyword arguments: the fields of :class:`~.settings.ReconSettings` (``center_fraction``, ``mask_type``,
    ``seed``, ``undersampled``, ``simulate_phase``, ``device``, ``batch_size``).

    Raises:
        ValueError: a bad setting (naming it); not a 3-D array, fewer than 2 pixels along H or W, non-finite
            values, negative values below ``-NEGATIVE_TOLERANCE`` x the maximum (smaller ones are clipped to 0,
            with a warning), an all-zero volume; ``acceleration=None`` (an image volume has no k-space of its
            own: give the acquisition's acceleration).
    """
    _check_simulated_acceleration(acceleration, source)
    settings = _settings(settings, acceleration=acceleration, **kwargs)
    data = check_magnitude_volume(volume, source)
    return reconstruct_input(ReconInput(data, "image", source, geometry=geometry), network, settings, progress, trust)


def reconstruct_fastmri(
    path: PathLike,
    network: Optional[nn.Module] = None,
    acceleration: Optional[float] = FROM_SETTINGS,
    progress: Optional[Progress] = None,
    settings: Optional[ReconSettings] = None,
    trust: Optional[TrustMap] = None,
    **kwargs: Any,
) -> ReconstructionResult:
    """Reconstruct a fastMRI single-coil ``.h5`` from its own k-space.

    ``acceleration`` undersamples the file's (fully-sampled) k-space retrospectively with fastMRI's per-volume
    mask (seeded by the file name); ``None`` (or ``undersampled=True``) takes the k-space as acquired (test split).
    The output is on the ``reconstruction_esc`` grid (320 x 320), cropped as fastMRI crops a k-space narrower than
    it, or, without one, on the header's reconstruction size.
    """
    if acceleration is None:
        kwargs["undersampled"] = True
    else:
        kwargs["acceleration"] = acceleration
    settings = _settings(settings, **kwargs)
    return reconstruct_input(read_input(path, settings), network, settings, progress, trust)


def reconstruct_file(
    path: PathLike,
    network: Optional[nn.Module] = None,
    acceleration: Optional[float] = FROM_SETTINGS,
    progress: Optional[Progress] = None,
    settings: Optional[ReconSettings] = None,
    trust: Optional[TrustMap] = None,
    **kwargs: Any,
) -> ReconstructionResult:
    """Reconstruct a file: fastMRI ``.h5`` (its own k-space) or an image volume (NIfTI / NRRD / MHA / DICOM file
    or series folder, via SimpleITK) along ``slice_axis``. Settings as :func:`reconstruct_volume`.

    ``undersampled=True``: the input is already undersampled -- an ``.h5``'s k-space is taken as acquired (its
    mask is read from it, ``acceleration`` is ignored); an image volume is the zero-filled magnitude of an
    acquisition with the ``acceleration`` / ``mask_type`` / ``seed`` mask (see :func:`reconstruct_volume`).
    ``series_id``: the DICOM SeriesInstanceUID to read from a folder holding several series.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        OSError / ValueError: unreadable, truncated or unsupported file, multi-coil ``.h5``, a 4-D volume, a bad
            setting (each naming the file or the setting).
    """
    if Path(path).suffix.lower() in FASTMRI_SUFFIXES:
        return reconstruct_fastmri(path, network, acceleration, progress, settings, trust, **kwargs)
    _check_simulated_acceleration(acceleration, path)
    settings = _settings(settings, acceleration=acceleration, **kwargs)
    return reconstruct_input(read_input(path, settings), network, settings, progress, trust)
