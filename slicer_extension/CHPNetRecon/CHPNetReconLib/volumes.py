"""Volume nodes <-> NumPy, with the voxel grid kept exactly.

Arrays are ``(K, J, I)`` as ``slicer.util.arrayFromVolume`` returns them. A node's placement in patient space is
its IJK-to-RAS matrix (spacing, origin and direction in one 4 x 4) plus its parent transform; outputs get both,
copied from the input, so they overlay the input voxel for voxel.

Files (for the background process) are written and read with ``vtkMRMLVolumeArchetypeStorageNode``. Reading keeps
the file's own index order (``ForceRightHandedIJKCoordinateSystem`` off): Slicer otherwise flips ``K`` of
left-handed grids, which would put the worker's output on a grid other than the input's.
"""

from __future__ import annotations

import os
from typing import Optional, Tuple, Union

import numpy as np
import slicer
import vtk

from .errors import (
    InputVolumeError,
    NoImageDataError,
    ReconstructionFailedError,
    ShapeMismatchError,
    UnsupportedVolumeError,
)

__all__ = [
    "node_label",
    "voxel_array",
    "ijk_to_ras",
    "copy_geometry",
    "check_same_grid",
    "grids_match",
    "update_volume",
    "write_volume_file",
    "read_volume_file",
]

PathLike = Union[str, "os.PathLike[str]"]
_UNSUPPORTED_CLASSES = ("vtkMRMLLabelMapVolumeNode", "vtkMRMLVectorVolumeNode", "vtkMRMLDiffusionTensorVolumeNode")


def node_label(node: Optional[slicer.vtkMRMLNode]) -> str:
    """``'name' (ID)`` of a node, for messages."""
    return "(none)" if node is None else f"'{node.GetName()}' ({node.GetID()})"


def voxel_array(node: Optional[slicer.vtkMRMLScalarVolumeNode], role: str = "input") -> np.ndarray:
    """A float32 copy of a scalar volume's voxels, ``(K, J, I)``.

    Args:
        node: a ``vtkMRMLScalarVolumeNode`` (not a label map, vector, multi-volume or tensor volume).
        role: what the node is for (``"input"``, ``"reference"``), for messages.

    Raises:
        InputVolumeError: no node, or non-finite voxels.
        NoImageDataError: the node holds no voxels.
        UnsupportedVolumeError: label map, vector / 4-D (several components per voxel) or tensor volume.
    """
    if node is None:
        raise InputVolumeError(f"no {role} volume selected.")
    if any(node.IsA(name) for name in _UNSUPPORTED_CLASSES) or not node.IsA("vtkMRMLScalarVolumeNode"):
        raise UnsupportedVolumeError(
            f"{role} volume {node_label(node)} is a {node.GetClassName()}; a scalar (grey-level) volume is needed."
        )
    image = node.GetImageData()
    if image is None or image.GetPointData() is None or image.GetPointData().GetScalars() is None:
        raise NoImageDataError(f"{role} volume {node_label(node)} has no image data (empty node, or loading failed).")
    dims = image.GetDimensions()
    if min(dims) < 1 or image.GetNumberOfPoints() == 0:
        raise NoImageDataError(f"{role} volume {node_label(node)} has no voxels (dimensions {dims}).")
    components = image.GetNumberOfScalarComponents()
    if components != 1:
        raise UnsupportedVolumeError(
            f"{role} volume {node_label(node)} has {components} components per voxel (a vector or 4-D volume); "
            "select one scalar 3-D volume."
        )
    array = np.array(slicer.util.arrayFromVolume(node), dtype=np.float32, copy=True)
    if not np.isfinite(array).all():
        raise InputVolumeError(f"{role} volume {node_label(node)} contains NaN or infinite voxels.")
    return array


def ijk_to_ras(node: slicer.vtkMRMLVolumeNode) -> np.ndarray:
    """The node's IJK-to-RAS matrix as a float64 ``(4, 4)`` array (its own grid, without parent transforms)."""
    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return slicer.util.arrayFromVTKMatrix(matrix).copy()


def copy_geometry(source: slicer.vtkMRMLVolumeNode, target: slicer.vtkMRMLVolumeNode) -> None:
    """Give ``target`` the IJK-to-RAS matrix and the parent transform of ``source``."""
    matrix = vtk.vtkMatrix4x4()
    source.GetIJKToRASMatrix(matrix)
    target.SetIJKToRASMatrix(matrix)
    target.SetAndObserveTransformNodeID(source.GetTransformNodeID())


def check_same_grid(
    input_node: slicer.vtkMRMLScalarVolumeNode,
    reference_node: slicer.vtkMRMLScalarVolumeNode,
    input_shape: Tuple[int, ...],
    reference_shape: Tuple[int, ...],
) -> None:
    """Raise :class:`ShapeMismatchError` unless the reference has the input's ``(K, J, I)`` voxel shape.

    Metrics compare voxel to voxel, so the two volumes must share a grid; resample the reference first (e.g. with
    Slicer's "Resample Scalar/Vector/DWI Volume" module) otherwise.
    """
    if tuple(input_shape) != tuple(reference_shape):
        raise ShapeMismatchError(
            f"reference volume {node_label(reference_node)} has voxel shape (K, J, I) = {tuple(reference_shape)} but "
            f"the input {node_label(input_node)} has {tuple(input_shape)}; resample the reference onto the input grid."
        )


def grids_match(a: np.ndarray, b: np.ndarray, tolerance: float = 1e-4) -> bool:
    """Whether two IJK-to-RAS matrices ``(4, 4)`` place every voxel at the same point (within ``tolerance`` mm)."""
    return bool(np.allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), atol=tolerance, rtol=1e-6))


def update_volume(
    scene: slicer.vtkMRMLScene,
    array: np.ndarray,
    geometry_source: slicer.vtkMRMLVolumeNode,
    node: Optional[slicer.vtkMRMLScalarVolumeNode] = None,
    name: str = "",
) -> slicer.vtkMRMLScalarVolumeNode:
    """Write ``array`` ``(K, J, I)`` into ``node`` (a new scalar volume named ``name`` when ``None``) with the
    geometry of ``geometry_source``, and give it display nodes. Returns the node."""
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", scene.GenerateUniqueName(name or "Volume"))
    was_modifying = node.StartModify()
    try:
        slicer.util.updateVolumeFromArray(node, np.ascontiguousarray(array, dtype=np.float32))
        copy_geometry(geometry_source, node)
    finally:
        node.EndModify(was_modifying)
    if node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()
    return node


def write_volume_file(node: slicer.vtkMRMLVolumeNode, path: PathLike) -> None:
    """Write a volume node to ``path`` (NRRD, NIfTI, ... by suffix) with its IJK-to-RAS geometry.

    Raises:
        OSError: the storage node could not write the file.
    """
    storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
    storage.SetFileName(os.fspath(path))
    storage.SetUseCompression(False)  # a temporary file: speed over size
    if not storage.WriteData(node):
        raise OSError(f"cannot write volume {node_label(node)} to {os.fspath(path)}.")


def read_volume_file(path: PathLike) -> Tuple[np.ndarray, np.ndarray]:
    """Read a volume file in its own index order.

    Returns:
        ``(voxels (K, J, I) float32, IJK-to-RAS (4, 4))``.

    Raises:
        ReconstructionFailedError: the file is missing or unreadable.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ReconstructionFailedError(f"expected output {path} was not written.")
    scene = slicer.vtkMRMLScene()
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode")
    storage = scene.AddNewNodeByClass("vtkMRMLVolumeArchetypeStorageNode")
    if hasattr(storage, "SetForceRightHandedIJKCoordinateSystem"):
        storage.SetForceRightHandedIJKCoordinateSystem(False)
    storage.SetFileName(path)
    if not storage.ReadData(node) or node.GetImageData() is None:
        raise ReconstructionFailedError(f"cannot read volume file {path}.")
    return np.array(slicer.util.arrayFromVolume(node), dtype=np.float32, copy=True), ijk_to_ras(node)
