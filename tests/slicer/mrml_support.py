"""Shared by the Slicer-extension tests: paths, the ``slicer-core`` availability check, the test grid.

Imported by ``conftest.py`` and by the test modules (``from mrml_support import ...``), which skip themselves
when MRML is missing (``pytest.skip(..., allow_module_level=True)``) instead of failing to import.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
EXTENSION_DIR = ROOT / "slicer_extension"
MODULE_DIR = EXTENSION_DIR / "CHPNetRecon"
if str(MODULE_DIR) not in sys.path:
    sys.path.insert(0, str(MODULE_DIR))


def _mrml_missing() -> Optional[str]:
    try:
        import slicer
    except ImportError as err:
        return f"slicer-core is not installed ({err}); install the 'slicer' extra: pip install -e '.[slicer]'"
    if not hasattr(slicer, "vtkMRMLScene"):
        return f"the 'slicer' module at {getattr(slicer, '__file__', '?')} is not slicer-core (no vtkMRMLScene)"
    return None


MRML_MISSING = _mrml_missing()

# An oblique, anisotropic, left-handed grid: rotation of 30 degrees about (1, 2, 2)/3, spacing 0.9 / 1.2 / 2.5 mm,
# K flipped, origin off-centre. Every one of spacing, origin and direction is non-trivial.


def oblique_ijk_to_ras() -> np.ndarray:
    """IJK-to-RAS ``(4, 4)`` of the test grid (det < 0: a left-handed voxel grid, as many NIfTI files have)."""
    axis = np.array([1.0, 2.0, 2.0]) / 3.0
    angle = np.deg2rad(30.0)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rotation = np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k
    matrix = np.eye(4)
    matrix[:3, :3] = rotation @ np.diag([0.9, 1.2, -2.5])
    matrix[:3, 3] = (-37.5, 12.25, 81.0)
    return matrix


def skip_without_mrml() -> None:
    """Skip the calling test module when slicer-core is missing (call at module level, before MRML imports)."""
    import pytest

    if MRML_MISSING:
        pytest.skip(MRML_MISSING, allow_module_level=True)
