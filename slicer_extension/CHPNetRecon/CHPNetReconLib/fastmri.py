"""fastMRI single-coil ``.h5`` files as volume nodes.

A fastMRI file holds k-space, not an image. Loading it makes a volume node of its image -- the file's target
(``reconstruction_esc``) when it has one, else the magnitude of its k-space as acquired -- computed by
``monai_chpnet.inference.reconstruct_file`` on fastMRI's 320 x 320 grid, and remembers the file in the node
attribute :data:`FASTMRI_FILE_ATTRIBUTE`. Reconstructing that node then starts from the file's own k-space
(see :func:`~CHPNetReconLib.reconstruction.reconstruct_arrays`), not from the image.

The files carry no patient geometry that fastMRI keeps: the node gets 1 mm voxels and LPS-like axes (IJK-to-RAS
``diag(-1, -1, 1)``), so an axial view shows each slice as fastMRI's own figures do (row 0 at the top).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

import numpy as np
import slicer

from .volumes import update_volume

__all__ = [
    "FASTMRI_FILE_ATTRIBUTE",
    "FASTMRI_SUFFIXES",
    "is_fastmri_file",
    "fastmri_image",
    "load_fastmri_volume",
    "fastmri_source",
]

FASTMRI_FILE_ATTRIBUTE = "CHPNetRecon.FastMRIFile"
FASTMRI_SUFFIXES = (".h5", ".hdf5")
_IJK_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])

PathLike = Union[str, "os.PathLike[str]"]


def is_fastmri_file(path: PathLike) -> bool:
    """Whether ``path`` is an HDF5 file with a fastMRI ``kspace`` dataset (``False`` if ``h5py`` is missing)."""
    p = Path(path)
    if p.suffix.lower() not in FASTMRI_SUFFIXES or not p.is_file():
        return False
    try:
        import h5py
    except ImportError:
        return False
    try:
        with h5py.File(p, "r") as f:
            return "kspace" in f
    except OSError:
        return False


def fastmri_image(path: PathLike) -> np.ndarray:
    """The image of a fastMRI file, float32 ``(slices, 320, 320)``: its target if present, else ``|F^-1 k|``.

    Raises:
        FileNotFoundError / ValueError / OSError: from ``monai_chpnet`` (missing, multi-coil or unreadable file).
    """
    from monai_chpnet.inference import reconstruct_file

    result = reconstruct_file(os.fspath(path), network=None, acceleration=None)
    image = result.reference if result.reference is not None else result.zero_filled
    return np.asarray(image, dtype=np.float32)


def load_fastmri_volume(
    scene: slicer.vtkMRMLScene, path: PathLike, name: Optional[str] = None
) -> slicer.vtkMRMLScalarVolumeNode:
    """Add a scalar volume node holding the file's image (``K`` = slices) and tag it with the file's path."""
    image = fastmri_image(path)
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", scene.GenerateUniqueName(name or Path(path).stem))
    node.SetIJKToRASMatrix(slicer.util.vtkMatrixFromArray(_IJK_TO_RAS))
    update_volume(scene, image, node, node=node)
    node.SetAttribute(FASTMRI_FILE_ATTRIBUTE, os.fspath(Path(path).resolve()))
    return node


def fastmri_source(node: Optional[slicer.vtkMRMLNode]) -> Optional[str]:
    """The fastMRI file a node was loaded from, or ``None``."""
    return None if node is None else node.GetAttribute(FASTMRI_FILE_ATTRIBUTE)
