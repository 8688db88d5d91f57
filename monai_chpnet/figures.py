"""Figures without a plotting dependency: rows of grey-scale panels with titles, written as PNG through SimpleITK.

Titles are drawn with a built-in 5 x 7 pixel font (capitals, digits and ``- . , : | ( ) / % _ + =``; other
characters show as ``?``), scaled with the panels, so a figure says what each panel is without matplotlib.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
import SimpleITK as sitk

from monai_chpnet.atomic import AtomicFiles

__all__ = ["to_uint8", "render_text", "save_png_row", "save_png_grid"]

# 5 x 7 glyphs: one 5-bit row per entry, top to bottom, most significant bit on the left
_FONT = {
    "A": (0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11),
    "B": (0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E),
    "C": (0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E),
    "D": (0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C),
    "E": (0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F),
    "F": (0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10),
    "G": (0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F),
    "H": (0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11),
    "I": (0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E),
    "J": (0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C),
    "K": (0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11),
    "L": (0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F),
    "M": (0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11),
    "N": (0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11),
    "O": (0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E),
    "P": (0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10),
    "Q": (0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D),
    "R": (0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11),
    "S": (0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E),
    "T": (0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04),
    "U": (0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E),
    "V": (0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04),
    "W": (0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A),
    "X": (0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11),
    "Y": (0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04),
    "Z": (0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F),
    "0": (0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E),
    "1": (0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E),
    "2": (0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F),
    "3": (0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E),
    "4": (0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02),
    "5": (0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E),
    "6": (0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E),
    "7": (0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08),
    "8": (0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E),
    "9": (0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C),
    " ": (0, 0, 0, 0, 0, 0, 0),
    "-": (0, 0, 0, 0x1F, 0, 0, 0),
    ".": (0, 0, 0, 0, 0, 0x0C, 0x0C),
    ",": (0, 0, 0, 0, 0x0C, 0x04, 0x08),
    ":": (0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0),
    "|": (0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04),
    "(": (0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02),
    ")": (0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08),
    "/": (0, 0x01, 0x02, 0x04, 0x08, 0x10, 0),
    "%": (0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03),
    "_": (0, 0, 0, 0, 0, 0, 0x1F),
    "+": (0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0),
    "=": (0, 0, 0x1F, 0, 0x1F, 0, 0),
    "?": (0x0E, 0x11, 0x01, 0x02, 0x04, 0, 0x04),
}
_GLYPH_W, _GLYPH_H = 5, 7


def to_uint8(image: np.ndarray, vmax: float, vmin: float = 0.0) -> np.ndarray:
    """Window ``image`` to ``[vmin, vmax]`` and scale to uint8."""
    scaled = (np.asarray(image, dtype=np.float64) - vmin) / max(vmax - vmin, 1e-12)
    return (np.clip(scaled, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def render_text(text: str, scale: int = 1, max_width: Optional[int] = None) -> np.ndarray:
    """``text`` (in capitals) as a uint8 image ``(7 * scale, width)``: black glyphs on white, one blank column
    between characters; characters beyond ``max_width`` pixels are left out."""
    step = (_GLYPH_W + 1) * scale
    chars = text.upper()
    if max_width is not None:
        chars = chars[: max(max_width // step, 0)]
    out = np.full((_GLYPH_H * scale, max(len(chars) * step - scale, 0)), 255, dtype=np.uint8)
    for i, char in enumerate(chars):
        rows = _FONT.get(char, _FONT["?"])
        bits = np.array([[(row >> (_GLYPH_W - 1 - c)) & 1 for c in range(_GLYPH_W)] for row in rows], dtype=bool)
        glyph = np.kron(bits, np.ones((scale, scale), dtype=bool))
        out[:, i * step : i * step + _GLYPH_W * scale][glyph] = 0
    return out


def save_png_grid(
    rows: Sequence[Sequence[np.ndarray]],
    path: Union[str, Path],
    gap: int = 4,
    titles: Optional[Sequence[Sequence[str]]] = None,
    files: Optional[AtomicFiles] = None,
) -> Path:
    """Tile uint8 2-D panels (rows of equal-height panels; panels are centre-padded to a common size) with a white
    ``gap``, a title above each panel when ``titles`` (same layout as ``rows``) are given, and write a PNG
    atomically (:mod:`monai_chpnet.atomic`; staged in ``files`` when given). Returns the path."""
    panels = [p for row in rows for p in row]
    if not panels or any(np.asarray(p).ndim != 2 for p in panels):
        raise ValueError("save_png_grid needs at least one panel, each a 2-D array.")
    h = max(p.shape[0] for p in panels)
    w = max(p.shape[1] for p in panels)
    ncol = max(len(r) for r in rows)
    scale = max(1, w // 128)  # 2 for a 256 or 320 pixel panel
    band = (_GLYPH_H + 4) * scale if titles is not None else 0  # title height plus a margin above and below
    cell = h + band
    canvas = np.full((len(rows) * (cell + gap) - gap, ncol * (w + gap) - gap), 255, dtype=np.uint8)
    for i, row in enumerate(rows):
        for j, p in enumerate(row):
            top, left = i * (cell + gap) + band + (h - p.shape[0]) // 2, j * (w + gap) + (w - p.shape[1]) // 2
            canvas[top : top + p.shape[0], left : left + p.shape[1]] = np.asarray(p, dtype=np.uint8)
            if titles is not None and j < len(titles[i]):
                text = render_text(titles[i][j], scale, max_width=w)
                y, x = i * (cell + gap) + 2 * scale, j * (w + gap) + (w - text.shape[1]) // 2
                canvas[y : y + text.shape[0], x : x + text.shape[1]] = text
    image = sitk.GetImageFromArray(canvas)
    if files is not None:
        return files.write(path, lambda tmp: sitk.WriteImage(image, str(tmp)))
    with AtomicFiles() as group:
        group.write(path, lambda tmp: sitk.WriteImage(image, str(tmp)))
    return Path(path)


def save_png_row(
    panels: Sequence[np.ndarray],
    path: Union[str, Path],
    gap: int = 4,
    titles: Optional[Sequence[str]] = None,
    files: Optional[AtomicFiles] = None,
) -> Path:
    """One row of uint8 panels as a PNG, with optional titles (see :func:`save_png_grid`)."""
    return save_png_grid([list(panels)], path, gap, None if titles is None else [list(titles)], files)
