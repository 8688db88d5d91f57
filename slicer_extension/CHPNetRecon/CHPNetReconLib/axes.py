"""Slice axes: which voxel axis the 2-D network slices along, and the NumPy re-ordering that goes with it.

``slicer.util.arrayFromVolume`` returns a volume's voxels as ``(K, J, I)`` -- array axis 0 is the IJK index ``K``,
axis 2 is ``I`` -- and ``monai_chpnet.inference.reconstruct_volume`` takes a stack of 2-D slices
``(slices, H, W)``. :func:`to_slices` moves the chosen axis to the front (the other two keep their order) and
:func:`from_slices` moves it back, exactly, so the output lands on the input's voxel grid.

NumPy only: the background worker imports this without MRML.
"""

from __future__ import annotations

from typing import Tuple, Union

import numpy as np

__all__ = ["SLICE_AXES", "slice_axis_index", "to_slices", "from_slices"]

#: Name of the IJK index held by each axis of a ``(K, J, I)`` voxel array.
SLICE_AXES: Tuple[str, str, str] = ("K", "J", "I")

SliceAxis = Union[str, int]


def slice_axis_index(axis: SliceAxis) -> int:
    """The ``(K, J, I)`` array axis for ``"K"``/``"J"``/``"I"`` (case-insensitive) or ``0``/``1``/``2``.

    Raises:
        ValueError: any other value.
    """
    if isinstance(axis, str) and axis.strip().upper() in SLICE_AXES:
        return SLICE_AXES.index(axis.strip().upper())
    if isinstance(axis, (int, np.integer)) and not isinstance(axis, bool) and 0 <= int(axis) < 3:
        return int(axis)
    raise ValueError(f"slice axis must be one of {SLICE_AXES} (or 0, 1, 2), got {axis!r}.")


def to_slices(volume: np.ndarray, axis: SliceAxis) -> np.ndarray:
    """``(K, J, I)`` voxels -> C-contiguous ``(slices, H, W)`` stack of slices along ``axis``.

    ``K``: ``(K, J, I)`` as is; ``J``: ``(J, K, I)``; ``I``: ``(I, K, J)``.
    """
    if np.ndim(volume) != 3:
        raise ValueError(f"expected a (K, J, I) voxel array, got shape {np.shape(volume)}.")
    return np.ascontiguousarray(np.moveaxis(volume, slice_axis_index(axis), 0))


def from_slices(stack: np.ndarray, axis: SliceAxis) -> np.ndarray:
    """Inverse of :func:`to_slices`: ``(slices, H, W)`` -> C-contiguous ``(K, J, I)``."""
    if np.ndim(stack) != 3:
        raise ValueError(f"expected a (slices, H, W) stack, got shape {np.shape(stack)}.")
    return np.ascontiguousarray(np.moveaxis(stack, 0, slice_axis_index(axis)))
