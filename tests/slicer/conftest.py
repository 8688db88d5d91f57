"""Fixtures for the 3D Slicer extension's library, tested against real MRML scenes from the ``slicer-core`` wheel.

``slicer-core`` (the ``slicer`` extra, installed by ``scripts/setup.sh test``) gives ``slicer.vtkMRMLScene``, volume
nodes, storage nodes and ``slicer.util``'s array helpers -- not ``slicer.app``, Qt or ``ScriptedLoadableModule``.
Without it every test here that needs MRML is skipped with that reason; the file-consistency tests still run.
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import pytest
from mrml_support import MRML_MISSING, oblique_ijk_to_ras


@pytest.fixture(scope="session")
def sample_voxels() -> np.ndarray:
    """A ``(K, J, I)`` = ``(4, 160, 200)`` int16 crop of the shipped MNI T1 sample (the bundle beats zero-filling on it)."""
    from monai_chpnet.data.sample import sample_volume_path
    from monai_chpnet.data.volumes import read_volume

    volume, _ = read_volume(sample_volume_path())
    return np.ascontiguousarray(volume[8:12, 40:200, 30:230]).astype(np.int16)


@pytest.fixture
def scene():
    """A bare MRML scene, with the slice orientation presets Slicer's application adds at start-up."""
    if MRML_MISSING:
        pytest.skip(MRML_MISSING)
    import slicer

    scene = slicer.vtkMRMLScene()
    slicer.vtkMRMLSliceNode.AddDefaultSliceOrientationPresets(scene)
    return scene


@pytest.fixture
def make_volume(scene) -> Callable[..., "object"]:
    """``make_volume(voxels, name="T1", ijk_to_ras=oblique)`` -> a scalar volume node in ``scene``."""
    import slicer

    def make(voxels: np.ndarray, name: str = "T1", ijk_to_ras: Optional[np.ndarray] = None):
        node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name)
        matrix = oblique_ijk_to_ras() if ijk_to_ras is None else ijk_to_ras
        node.SetIJKToRASMatrix(slicer.util.vtkMatrixFromArray(matrix))
        slicer.util.updateVolumeFromArray(node, np.ascontiguousarray(voxels))
        node.CreateDefaultDisplayNodes()
        return node

    return make


@pytest.fixture
def input_node(make_volume, sample_voxels):
    return make_volume(sample_voxels)


@pytest.fixture(scope="session")
def network():
    """The shipped bundle's student, loaded once (what the logic loads by default)."""
    from CHPNetReconLib.reconstruction import load_network

    return load_network()
