"""The Slicer library's super-resolution mode against real MRML scenes: the upsampled node sits on the upsampled
grid, beside the input, under its parent transform; bad requests are named before any work."""

import numpy as np
import pytest
from mrml_support import oblique_ijk_to_ras, skip_without_mrml

skip_without_mrml()

import slicer  # noqa: E402
from CHPNetReconLib.errors import ParameterError, UnsupportedVolumeError  # noqa: E402
from CHPNetReconLib.superresolution import (  # noqa: E402
    SuperResolutionLogic,
    SuperResolutionRequest,
    super_resolve_arrays,
    upsampled_ijk_to_ras,
)

from monai_chpnet.networks import student_from_preset  # noqa: E402


def _input(scene, shape=(3, 8, 12)):
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "low")
    slicer.util.updateVolumeFromArray(node, np.random.default_rng(0).random(shape).astype(np.float32) + 0.1)
    node.SetIJKToRASMatrix(slicer.util.vtkMatrixFromArray(oblique_ijk_to_ras()))
    transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "moved")
    node.SetAndObserveTransformNodeID(transform.GetID())
    return node


@pytest.mark.parametrize("axis", ["K", "J", "I"])
def test_upsampled_grid_puts_each_old_voxel_centre_between_its_new_voxels(axis):
    low = oblique_ijk_to_ras()
    high = upsampled_ijk_to_ras(low, 2, axis)
    kept = {"K": 2, "J": 1, "I": 0}[axis]
    for ijk in ([0, 0, 0], [3, 1, 2], [7, 5, 1]):
        fine = [2 * v + 0.5 if c != kept else v for c, v in enumerate(ijk)]
        assert np.allclose(high @ [*fine, 1], low @ [*ijk, 1], atol=1e-9)


def test_logic_writes_the_upsampled_node_beside_the_input():
    scene = slicer.vtkMRMLScene()
    node = _input(scene)
    net = student_from_preset("tiny", in_channels=1, upscale=2, degradation="kspace")
    out = SuperResolutionLogic(scene).super_resolve(node, SuperResolutionRequest(scale=2), network=net)
    assert out.GetName() == "low CHPNet x2" and out.GetImageData().GetDimensions() == (24, 16, 3)
    assert out.GetTransformNodeID() == node.GetTransformNodeID()
    from CHPNetReconLib.volumes import ijk_to_ras

    assert np.allclose(ijk_to_ras(out), upsampled_ijk_to_ras(oblique_ijk_to_ras(), 2, "K"))
    expected = super_resolve_arrays(slicer.util.arrayFromVolume(node), SuperResolutionRequest(scale=2), net)
    assert np.allclose(slicer.util.arrayFromVolume(out), expected)
    assert node.GetImageData().GetDimensions() == (12, 8, 3)  # the input is untouched


def test_bad_requests_are_named_before_any_work():
    scene = slicer.vtkMRMLScene()
    node = _input(scene)
    logic = SuperResolutionLogic(scene)
    with pytest.raises(ParameterError, match=r"scale must be one of \(2, 4\), got 3"):
        logic.super_resolve(node, SuperResolutionRequest(scale=3))
    with pytest.raises(ParameterError, match="degradation must be one of"):
        logic.super_resolve(node, SuperResolutionRequest(degradation="lanczos"))
    with pytest.raises(UnsupportedVolumeError, match=r"slices along J .* are \(3, 12\)"):
        logic.super_resolve(node, SuperResolutionRequest(slice_axis="J"), network=object())
    assert scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode") == 1
