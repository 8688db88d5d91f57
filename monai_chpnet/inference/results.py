"""What a reconstruction gives: the volumes, the mask, the metrics against the reference, the timings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional

import numpy as np

from monai_chpnet.data.volumes import Geometry
from monai_chpnet.metrics import volume_metrics

__all__ = ["Progress", "ReconstructionResult", "reference_metrics", "score"]

Progress = Callable[[int, int], None]  # (slices done, slices total)


@dataclass
class ReconstructionResult:
    """A reconstructed volume and what it was made from, in the input's units.

    Attributes:
        reconstruction: float32 ``(slices, h, w)``.
        zero_filled: float32 ``(slices, h, w)``: ``|F^-1 y|``, the baseline.
        reference: float32 ``(slices, h, w)`` fully-sampled reference, or ``None`` (prospective data).
        mask: float32 ``(W,)`` column mask of the first slice (all slices share it unless taken as acquired).
        acceleration: realised ``W / sampled columns``.
        geometry: where the volume sits in patient space (image inputs), else ``None``.
        metrics: ``{"zero_filled": {...}, "reconstruction": {...}}`` with PSNR/SSIM/NMSE when a reference
            exists (fastMRI definitions, ``data_range`` = reference volume max), else ``{}``.
        source: the input's path (or a name).
        seconds: wall time of the reconstruction.
        network_seconds: the part of it spent in the network's forward passes.
        warnings: what the reconstruction should be read with (e.g. an acceleration far from the request).
        trust: float32 ``(slices, h, w)`` trust map in ``[0, 1]`` (1: least trusted, :mod:`.trust`), or ``None``.
        trust_method: which map ``trust`` is; trust_seconds: the extra time it took.
    """

    reconstruction: np.ndarray
    zero_filled: np.ndarray
    reference: Optional[np.ndarray]
    mask: np.ndarray
    acceleration: float
    geometry: Optional[Geometry] = None
    metrics: Dict[str, Dict[str, Optional[float]]] = field(default_factory=dict)
    source: str = ""
    seconds: float = 0.0
    network_seconds: float = 0.0
    warnings: List[str] = field(default_factory=list)
    trust: Optional[np.ndarray] = None
    trust_method: Optional[str] = None
    trust_seconds: float = 0.0

    def summary(self) -> str:
        """One line per method: PSNR / SSIM / NMSE (or just the timing without a reference)."""
        lines = [
            f"{self.source}: {self.reconstruction.shape[0]} slices, {self.acceleration:.2f}x, {self.seconds:.1f} s"
        ]
        for name, m in self.metrics.items():
            ssim_text = "n/a" if m["ssim"] is None else f"{m['ssim']:.4f}"
            lines.append(f"  {name:<15} PSNR {m['psnr']:6.2f} dB   SSIM {ssim_text}   NMSE {m['nmse']:.5f}")
        return "\n".join(lines)


def reference_metrics(
    reference: np.ndarray, results: Mapping[str, np.ndarray]
) -> Dict[str, Dict[str, Optional[float]]]:
    """fastMRI PSNR / SSIM / NMSE of each ``(slices, H, W)`` result against the reference volume (its maximum is
    the data range; SSIM is ``None`` for slices smaller than its 7 x 7 window)."""
    return volume_metrics(reference, results)


def score(
    reference: Optional[np.ndarray], reconstruction: np.ndarray, zero_filled: np.ndarray
) -> Dict[str, Dict[str, Optional[float]]]:
    """``{"zero_filled": ..., "reconstruction": ...}`` metrics against ``reference``, ``{}`` without one."""
    if reference is None:
        return {}
    return reference_metrics(reference, {"zero_filled": zero_filled, "reconstruction": reconstruction})
