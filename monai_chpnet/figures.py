"""Figures without a plotting dependency: rows of grey-scale panels written as PNG through SimpleITK."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Sequence, Union

import numpy as np
import SimpleITK as sitk

__all__ = ["to_uint8", "save_png_row", "save_png_grid"]


def to_uint8(image: np.ndarray, vmax: float, vmin: float = 0.0) -> np.ndarray:
    """Window ``image`` to ``[vmin, vmax]`` and scale to uint8."""
    scaled = (np.asarray(image, dtype=np.float64) - vmin) / max(vmax - vmin, 1e-12)
    return (np.clip(scaled, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def save_png_grid(rows: Sequence[Sequence[np.ndarray]], path: Union[str, Path], gap: int = 4) -> Path:
    """Tile uint8 2-D panels (rows of equal-height panels; panels are centre-padded to a common size) with a white
    ``gap`` and write a PNG atomically (temp file in the same folder, then rename). Returns the path."""
    panels = [p for row in rows for p in row]
    if not panels or any(np.asarray(p).ndim != 2 for p in panels):
        raise ValueError("save_png_grid needs at least one panel, each a 2-D array.")
    h = max(p.shape[0] for p in panels)
    w = max(p.shape[1] for p in panels)
    ncol = max(len(r) for r in rows)
    canvas = np.full((len(rows) * (h + gap) - gap, ncol * (w + gap) - gap), 255, dtype=np.uint8)
    for i, row in enumerate(rows):
        for j, p in enumerate(row):
            top, left = i * (h + gap) + (h - p.shape[0]) // 2, j * (w + gap) + (w - p.shape[1]) // 2
            canvas[top : top + p.shape[0], left : left + p.shape[1]] = np.asarray(p, dtype=np.uint8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        sitk.WriteImage(sitk.GetImageFromArray(canvas), tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def save_png_row(panels: Sequence[np.ndarray], path: Union[str, Path], gap: int = 4) -> Path:
    """One row of uint8 panels as a PNG (see :func:`save_png_grid`)."""
    return save_png_grid([list(panels)], path, gap)
