"""Super-resolution tables: held-out MR volumes (fastMRI's metrics) and the Set5-style transfer set (the
literature's luma PSNR / SSIM), for each scale and degradation, every method beside the classical baselines.

Rows are ``{"method", "source", "kind", "scale", "degradation", "psnr", "ssim"}``; ``kind`` is ``"mr"`` or
``"natural"``. Methods are the networks given (``{name: network}``, each for one scale) and the baselines
``bicubic`` and ``sinc`` (zero-padded k-space). The MR volumes are cropped (top-left kept) to a multiple of 4 so that
x2 and x4 score the same pixels; natural images are degraded bicubically only (a photograph has no k-space).
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np
from torch import nn

from monai_chpnet.data.volumes import read_volume
from monai_chpnet.inference.inputs import check_magnitude_volume
from monai_chpnet.inference.sr_files import degrade_volume
from monai_chpnet.inference.superres import SR_BASELINES, super_resolve_slices
from monai_chpnet.metrics import psnr_y, ssim_y, volume_metrics
from monai_chpnet.transforms.crop import crop_to_multiple

__all__ = ["evaluate_sr", "sr_summary", "sr_table", "write_sr_evaluation"]

Row = Dict[str, Union[str, int, float, None]]


def _predictions(
    low: np.ndarray, scale: int, degradation: str, networks: Mapping[str, nn.Module], device: str
) -> Dict[str, np.ndarray]:
    """The baselines, and every network trained for this scale and degradation (its ``upscale`` / ``degradation``)."""
    preds = {name: super_resolve_slices(low, None, scale, baseline=name) for name in SR_BASELINES}
    for name, net in networks.items():
        if getattr(net, "upscale", None) == scale and getattr(net, "degradation", None) == degradation:
            preds[name] = super_resolve_slices(low, net, scale, device=device)
    return preds


def evaluate_sr(
    mr_files: Mapping[str, Union[str, os.PathLike]],
    networks: Mapping[str, nn.Module],
    scales: Sequence[int] = (2, 4),
    degradations: Sequence[str] = ("kspace", "bicubic"),
    natural: Optional[Mapping[str, np.ndarray]] = None,
    device: str = "cpu",
) -> List[Row]:
    """Score every method on every MR file (``{source: path}``) and natural luma image (``{name: (H, W)}``).

    Each network scores the inputs of its own scale and degradation (its ``upscale`` and ``degradation``).
    """
    rows: List[Row] = []
    for source, path in mr_files.items():
        volume = crop_to_multiple(check_magnitude_volume(read_volume(path)[0], str(path)), 4)
        for scale in scales:
            for degradation in degradations:
                low = degrade_volume(volume, scale, degradation, str(path))
                preds = _predictions(low, scale, degradation, networks, device)
                for method, m in volume_metrics(volume, preds).items():
                    rows.append(dict(method=method, source=source, kind="mr", scale=scale, degradation=degradation,
                                     psnr=m["psnr"], ssim=m["ssim"]))  # fmt: skip
    for source, y in (natural or {}).items():
        for scale in scales:
            hr = crop_to_multiple(np.asarray(y, dtype=np.float32), scale)
            low = degrade_volume(hr[None], scale, "bicubic", source)
            for method, pred in _predictions(low, scale, "bicubic", networks, device).items():
                rows.append(dict(method=method, source=source, kind="natural", scale=scale, degradation="bicubic",
                                 psnr=psnr_y(hr, pred[0], scale), ssim=ssim_y(hr, pred[0], scale)))  # fmt: skip
    return rows


def sr_summary(rows: Sequence[Row]) -> List[Row]:
    """Mean PSNR / SSIM over sources per ``(kind, scale, degradation, method)``, with the source count."""
    groups: Dict[tuple, List[Row]] = {}
    for r in rows:
        groups.setdefault((r["kind"], r["scale"], r["degradation"], r["method"]), []).append(r)
    out = []
    for (kind, scale, degradation, method), rs in sorted(groups.items()):
        out.append(dict(kind=kind, scale=scale, degradation=degradation, method=method, sources=len(rs),
                        psnr=float(np.mean([r["psnr"] for r in rs])),
                        ssim=float(np.mean([r["ssim"] for r in rs if r["ssim"] is not None]))))  # fmt: skip
    return out


def sr_table(summary: Sequence[Row]) -> str:
    """A Markdown table of :func:`sr_summary` rows, with each method's gain over the better classical baseline."""
    best = {}
    for r in summary:
        if r["method"] in SR_BASELINES:
            key = (r["kind"], r["scale"], r["degradation"])
            best[key] = max(best.get(key, -np.inf), r["psnr"])
    lines = [
        "| images | scale | degradation | method | PSNR (dB) | SSIM | vs best baseline (dB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in summary:
        gain = r["psnr"] - best[(r["kind"], r["scale"], r["degradation"])]
        lines.append(f"| {r['kind']} ({r['sources']}) | x{r['scale']} | {r['degradation']} | {r['method']} | "
                     f"{r['psnr']:.2f} | {r['ssim']:.4f} | {gain:+.2f} |")  # fmt: skip
    return "\n".join(lines)


def write_sr_evaluation(rows: Sequence[Row], output_dir: Union[str, os.PathLike]) -> Dict[str, Any]:
    """Write ``sr_metrics.json`` (rows and :func:`sr_summary`) and ``sr_metrics.md`` (:func:`sr_table`) to
    ``output_dir``, together; return the JSON payload."""
    from pathlib import Path

    from monai_chpnet.atomic import AtomicFiles, write_json, write_text

    summary = sr_summary(rows)
    payload = {"summary": summary, "rows": list(rows)}
    out = Path(output_dir)
    with AtomicFiles() as files:
        write_json(out / "sr_metrics.json", payload, files=files)
        write_text(out / "sr_metrics.md", sr_table(summary) + "\n", files)
    return payload
