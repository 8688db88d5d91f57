"""Super-resolution of a file: a low-resolution volume in, ``<stem>_sr.nii.gz`` out with the upsampled geometry.

Two modes, as the k-space task has (:mod:`.reconstruction`):

* **prospective** (default): the file is the low-resolution acquisition; the output has ``scale`` times its
  in-plane size and :func:`~.superres.upsampled_geometry`;
* **evaluation** (``evaluate=True``): the file is a high-resolution reference; it is degraded first
  (:class:`~monai_chpnet.transforms.degradation.SRDownsample`, ``bicubic`` or ``kspace``), super-resolved and scored
  against itself with fastMRI's metrics, beside both classical baselines; the output keeps the file's geometry.

Outputs (one :class:`~monai_chpnet.atomic.AtomicFiles` group: all or none): ``<stem>_sr.nii.gz``,
``<stem>_<baseline>.nii.gz`` (the classical upsampling, to compare), ``<stem>_sr_trust.nii.gz`` when a trust map was
asked for (:mod:`.trust`) and, in evaluation mode, ``<stem>_sr_metrics.json``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Union

import numpy as np
import torch
from torch import nn

from monai_chpnet.atomic import AtomicFiles, write_json
from monai_chpnet.data.volumes import Geometry, read_volume, write_volume
from monai_chpnet.inference.inputs import check_magnitude_volume
from monai_chpnet.inference.outputs import check_output_dir, check_stem, output_stem
from monai_chpnet.inference.results import Progress
from monai_chpnet.inference.trust import TrustMap
from monai_chpnet.inference.superres import (
    SR_BASELINES,
    check_scale,
    sr_trust_slices,
    super_resolve_slices,
    upsampled_geometry,
)
from monai_chpnet.metrics import volume_metrics
from monai_chpnet.transforms.degradation import SR_MODES, SRDownsample

__all__ = [
    "SR_OUTPUT_SUFFIXES",
    "SuperResolutionResult",
    "degrade_volume",
    "score_sr",
    "super_resolve_file",
    "write_sr_outputs",
]

PathLike = Union[str, os.PathLike]
SR_OUTPUT_SUFFIXES = {"super_resolved": "_sr.nii.gz", "metrics": "_sr_metrics.json", "trust": "_sr_trust.nii.gz"}


@dataclass
class SuperResolutionResult:
    """What :func:`super_resolve_file` gives: float32 volumes ``(slices, H, W)`` on the output grid (``geometry``),
    the low-resolution input, the metrics against the reference (evaluation mode, else ``{}``), timings, and the
    trust map (:mod:`.trust`) when one was asked for."""

    super_resolved: np.ndarray
    baselines: Dict[str, np.ndarray]
    low_res: np.ndarray
    reference: Optional[np.ndarray]
    geometry: Geometry
    scale: int
    degradation: Optional[str]
    source: str
    metrics: Dict[str, Dict[str, Optional[float]]] = field(default_factory=dict)
    seconds: float = 0.0
    network_seconds: float = 0.0
    trust: Optional[np.ndarray] = None
    trust_method: Optional[str] = None
    trust_seconds: float = 0.0


def degrade_volume(volume: np.ndarray, scale: int, mode: str = "kspace", source: str = "volume") -> np.ndarray:
    """Each slice of a high-resolution ``(slices, H, W)`` volume through ``SRDownsample(scale, mode)``, clipped at 0.

    Raises:
        ValueError: ``H`` or ``W`` not a multiple of ``scale`` (naming ``source``), an unknown mode.
    """
    scale = check_scale(scale)
    if mode not in SR_MODES:
        raise ValueError(f"degradation must be one of {SR_MODES}, got {mode!r}.")
    h, w = volume.shape[-2:]
    if h % scale or w % scale:
        raise ValueError(
            f"{source}: slices of {h} x {w} cannot be degraded x{scale}; evaluation needs an in-plane size that is a "
            f"multiple of {scale} (crop the volume to {h - h % scale} x {w - w % scale})."
        )
    x = torch.from_numpy(np.ascontiguousarray(volume, dtype=np.float32))
    low = SRDownsample(scale, mode)(x, name=source)  # slices as channels: the same 2-D operator on each
    return low.clamp_min(0.0).numpy()


def super_resolve_file(
    path: PathLike,
    network: Optional[nn.Module],
    scale: int = 2,
    evaluate: bool = False,
    degradation: str = "kspace",
    slice_axis: int = 0,
    batch_size: int = 4,
    device: str = "cpu",
    progress: Optional[Progress] = None,
    trust: Optional[TrustMap] = None,
) -> SuperResolutionResult:
    """Super-resolve the image volume at ``path`` (see the module docstring); ``network=None`` gives the bicubic
    baseline as the result; ``trust``: also compute that trust map of the student's result.

    Raises:
        ValueError: a scale other than 2 / 4, an RGB or non-magnitude volume, an in-plane size the evaluation
            cannot degrade, slices too small for the scale (naming the file); a trust map without a network.
    """
    if trust is not None and network is None:
        raise ValueError("a trust map needs the student: the classical upsampling has none.")
    scale = check_scale(scale)
    start = time.perf_counter()
    volume, geometry = read_volume(path, slice_axis=slice_axis)
    volume = check_magnitude_volume(volume, str(path))
    reference = volume if evaluate else None
    low = degrade_volume(volume, scale, degradation, str(path)) if evaluate else volume
    if min(low.shape[1:]) < 4:
        raise ValueError(f"{path}: low-resolution slices of {low.shape[1]} x {low.shape[2]} are too small (need >= 4).")
    tick = time.perf_counter()
    result = super_resolve_slices(low, network, scale, batch_size, device, progress=progress)
    network_seconds = time.perf_counter() - tick
    geometry = geometry if evaluate else upsampled_geometry(geometry, scale)
    scored = score_sr(result, low, reference, geometry, scale, degradation if evaluate else None, str(path),
                      time.perf_counter() - start, network_seconds, batch_size)  # fmt: skip
    if trust is not None:
        tick = time.perf_counter()
        scored.trust = sr_trust_slices(low, network, scale, trust, result, batch_size, device)
        scored.trust_method, scored.trust_seconds = trust.method, time.perf_counter() - tick
    return scored


def score_sr(
    super_resolved: np.ndarray,
    low: np.ndarray,
    reference: Optional[np.ndarray],
    geometry: Geometry,
    scale: int,
    degradation: Optional[str],
    source: str,
    seconds: float = 0.0,
    network_seconds: float = 0.0,
    batch_size: int = 4,
) -> SuperResolutionResult:
    """The :class:`SuperResolutionResult` of a super-resolved volume: the classical baselines of ``low`` (both when
    there is a ``reference`` to score them against, else the bicubic one that is written beside the result) and the
    metrics of all against ``reference``. The file path and the bundle's post-processing both end here."""
    names = SR_BASELINES if reference is not None else ("bicubic",)
    baselines = {name: super_resolve_slices(low, None, scale, batch_size, baseline=name) for name in names}
    metrics: Dict[str, Dict[str, Optional[float]]] = {}
    if reference is not None:
        metrics = volume_metrics(reference, {**baselines, "super_resolved": super_resolved})
    return SuperResolutionResult(
        super_resolved, baselines, low, reference, geometry, scale, degradation, source, metrics,
        seconds, network_seconds,
    )  # fmt: skip


def write_sr_outputs(
    result: SuperResolutionResult, output_dir: PathLike, stem: Optional[str] = None, baseline: str = "bicubic"
) -> List[Path]:
    """Write ``result``'s volumes (and metrics, in evaluation mode) to ``output_dir``, all or none.

    Returns:
        the paths written.
    """
    out = check_output_dir(output_dir)
    stem = check_stem(stem if stem is not None else output_stem(result.source))
    written: List[Path] = []
    with AtomicFiles() as files:
        sr_path = out / f"{stem}{SR_OUTPUT_SUFFIXES['super_resolved']}"
        written.append(write_volume(result.super_resolved, result.geometry, sr_path, files))
        written.append(
            write_volume(result.baselines[baseline], result.geometry, out / f"{stem}_{baseline}.nii.gz", files)
        )
        if result.trust is not None:
            trust_path = out / f"{stem}{SR_OUTPUT_SUFFIXES['trust']}"
            written.append(write_volume(result.trust, result.geometry, trust_path, files))
        if result.metrics:
            report = {
                "source": result.source,
                "scale": result.scale,
                "degradation": result.degradation,
                "metrics": result.metrics,
                "seconds": result.seconds,
                "network_seconds": result.network_seconds,
            }
            if result.trust is not None:
                report["trust"] = {"method": result.trust_method, "seconds": result.trust_seconds}
            written.append(write_json(out / f"{stem}{SR_OUTPUT_SUFFIXES['metrics']}", report, files=files))
    return written
