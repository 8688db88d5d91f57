"""Evaluation over files, networks and accelerations: the rows, their Markdown table, the ``eval/metrics.*`` files
and the ``eval_metrics`` of a bundle's ``metadata.json``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import torch
from torch import nn

from monai_chpnet.atomic import AtomicFiles, write_json, write_text
from monai_chpnet.inference.inputs import FASTMRI_SUFFIXES
from monai_chpnet.inference.outputs import check_output_dir
from monai_chpnet.inference.reconstruction import reconstruct_file
from monai_chpnet.metrics import psnr

__all__ = [
    "ACQUISITIONS",
    "evaluate_files",
    "metadata_eval_metrics",
    "metrics_table",
    "update_metadata_metrics",
    "write_evaluation",
]

PathLike = Union[str, os.PathLike]
ACQUISITIONS = ("magnitude", "phase")  #: how evaluate_files simulates an image volume's acquisition


def evaluate_files(
    files: Mapping[str, PathLike],
    networks: Mapping[str, Optional[nn.Module]],
    accelerations: Sequence[float] = (4.0, 8.0),
    mask_type: str = "random",
    seed: int = 0,
    device: Union[str, torch.device] = "cpu",
    agreement_with: Optional[str] = None,
    acquisitions: Sequence[str] = ("magnitude",),
) -> List[Dict[str, Any]]:
    """Reconstruct every file at every acceleration with every network (``None``: zero-filled) through
    :func:`~.reconstruction.reconstruct_file`, returning one row per (file, acquisition, acceleration, network)
    with PSNR/SSIM/NMSE.

    ``acquisitions``: how an image volume is acquired, ``"magnitude"`` (the image as it is, zero phase) and/or
    ``"phase"`` (the image given a smooth phase seeded by its name, ``simulate_phase``); a fastMRI ``.h5`` is
    undersampled from its own complex k-space once, as ``"complex"``.

    ``agreement_with``: the name of one of ``networks`` (e.g. a teacher); every row then also holds
    ``psnr_agreement``, the PSNR of its reconstruction against that network's reconstruction of the same
    acquisition (data range of the reference volume, as the PSNR to the truth; ``None`` on its own rows): how
    closely a student reproduces its teacher, where the teacher is right and where it is wrong alike.

    Raises:
        KeyError: ``agreement_with`` is not one of ``networks``.
        ValueError: an acquisition other than ``"magnitude"`` / ``"phase"``.
    """
    if agreement_with is not None and agreement_with not in networks:
        raise KeyError(f"agreement_with={agreement_with!r} is not one of the networks {list(networks)}.")
    unknown = [a for a in acquisitions if a not in ACQUISITIONS]
    if unknown or not acquisitions:
        raise ValueError(f"acquisitions must be some of {ACQUISITIONS}, got {list(acquisitions)}.")
    rows: List[Dict[str, Any]] = []
    for source, path in files.items():
        raw = Path(path).suffix.lower() in FASTMRI_SUFFIXES
        for acquisition in ("complex",) if raw else acquisitions:
            extra = {"simulate_phase": True} if acquisition == "phase" else {}
            for acc in accelerations:
                block, recons, data_range = [], {}, None
                for name, net in networks.items():
                    r = reconstruct_file(
                        path, net, acceleration=acc, mask_type=mask_type, seed=seed, device=device, **extra
                    )
                    block.append(
                        {
                            "source": source,
                            "acquisition": acquisition,
                            "acceleration": acc,
                            "method": name,
                            **r.metrics["reconstruction"],
                            "seconds": r.seconds,
                        }
                    )
                    if agreement_with is not None:  # kept only to compare with the anchor's, once all have run
                        recons[name] = r.reconstruction
                        if name == agreement_with and r.reference is not None:
                            data_range = float(r.reference.max())
                if agreement_with is not None:
                    for row in block:
                        row["psnr_agreement"] = (
                            None
                            if row["method"] == agreement_with
                            else psnr(recons[agreement_with], recons[row["method"]], data_range=data_range)
                        )
                rows += block
    return rows


def _number(value: Optional[float], spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def metrics_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Markdown table of :func:`evaluate_files` rows."""
    lines = ["| source | acquisition | accel | method | PSNR (dB) | SSIM | NMSE |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['source']} | {r.get('acquisition', 'magnitude')} | {r['acceleration']:g}x | {r['method']} "
            f"| {_number(r.get('psnr'), '.2f')} | {_number(r.get('ssim'), '.4f')} | {_number(r.get('nmse'), '.5f')} |"
        )
    return "\n".join(lines)


def write_evaluation(rows: Sequence[Mapping[str, Any]], output_dir: PathLike) -> List[Mapping[str, Any]]:
    """Write :func:`evaluate_files` rows as ``metrics.json`` (strict JSON) and ``metrics.md``, both or neither;
    return the rows."""
    out = check_output_dir(output_dir)
    with AtomicFiles() as files:
        write_json(out / "metrics.json", list(rows), files=files)
        write_text(out / "metrics.md", metrics_table(rows) + "\n", files=files)
    return list(rows)


def metadata_eval_metrics(rows: Sequence[Mapping[str, Any]]) -> Dict[str, float]:
    """Flatten :func:`evaluate_files` rows into a bundle metadata ``eval_metrics`` mapping.

    Each row gives ``<source>_<acceleration>x_<method>_psnr`` (dB, 3 decimals) and ``..._ssim`` (4 decimals);
    e.g. ``t1_demo_4x_zero_filled_psnr``; a row of another acquisition than ``"magnitude"`` names it after the
    source, e.g. ``t1_demo_phase_4x_student_psnr``. Two rows with the same source, acquisition, acceleration and
    method are an error (the second would silently overwrite the first).
    """
    metrics: Dict[str, float] = {}
    for row in rows:
        missing = [k for k in ("source", "acceleration", "method", "psnr", "ssim") if k not in row]
        if missing:
            raise KeyError(f"evaluation row {dict(row)} lacks {missing}; expected rows of evaluate_files().")
        method = str(row["method"]).replace("-", "_").replace(" ", "_")
        acquisition = row.get("acquisition", "magnitude")
        source = row["source"] if acquisition == "magnitude" else f"{row['source']}_{acquisition}"
        stem = f"{source}_{float(row['acceleration']):g}x_{method}"
        if f"{stem}_psnr" in metrics:
            named = f"{row['source']!r}" + ("" if acquisition == "magnitude" else f" ({acquisition})")
            raise ValueError(
                f"two evaluation rows for source {named}, {float(row['acceleration']):g}x, method {row['method']!r}."
            )
        metrics[f"{stem}_psnr"] = None if row["psnr"] is None else round(float(row["psnr"]), 3)
        metrics[f"{stem}_ssim"] = None if row["ssim"] is None else round(float(row["ssim"]), 4)
    return metrics


def update_metadata_metrics(rows: Sequence[Mapping[str, Any]], metadata_file: PathLike) -> Path:
    """Replace ``eval_metrics`` in a bundle's ``metadata.json`` by :func:`metadata_eval_metrics` of ``rows``.

    Every other key is kept as it is; the file is written atomically (:mod:`monai_chpnet.atomic`), so an
    interrupted write never leaves a truncated metadata file. Returns the path.
    """
    path = Path(metadata_file)
    if not path.is_file():
        raise FileNotFoundError(f"bundle metadata file not found: {path}")
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"bundle metadata file {path} is not valid JSON ({e}).") from None
    if not isinstance(meta, dict):
        raise ValueError(f"bundle metadata file {path} holds a {type(meta).__name__}, expected a JSON object.")
    metrics = metadata_eval_metrics(rows)
    if not metrics:
        raise ValueError(f"no evaluation rows to write into {path}; eval_metrics left unchanged.")
    meta["eval_metrics"] = metrics
    write_json(path, meta, indent=4)
    return path
