"""The comparison layout: zero-filled | reconstruction | reference, linked, cut along the reconstruction's slice axis."""

import numpy as np
import pytest
from mrml_support import skip_without_mrml

skip_without_mrml()

import slicer  # noqa: E402

from CHPNetReconLib.views import (  # noqa: E402
    COMPARISON_LAYOUT_ID,
    VIEW_NAMES,
    comparison_layout_xml,
    show_comparison,
    slice_orientation,
)
from CHPNetReconLib.volumes import ijk_to_ras  # noqa: E402


def _view(scene, class_name, name):
    for i in range(scene.GetNumberOfNodesByClass(class_name)):
        node = scene.GetNthNodeByClass(i, class_name)
        if node.GetLayoutName() == name:
            return node
    raise AssertionError(f"no {class_name} for view {name}")


def test_orientation_is_the_view_closest_to_the_slice_planes():
    permuted = np.array([[0, 0, -1.5, 0], [0.9, 0, 0, 0], [0, 1.2, 0, 0], [0, 0, 0, 1]])  # I->A, J->S, K->L
    assert slice_orientation(permuted, "K") == "Sagittal"
    assert slice_orientation(permuted, "J") == "Axial"
    assert slice_orientation(permuted, "I") == "Coronal"
    assert slice_orientation(np.eye(4), "K") == "Axial"


def test_layout_xml_has_three_named_views_in_a_row():
    import xml.etree.ElementTree as ET

    root = ET.fromstring(comparison_layout_xml("Coronal"))
    assert root.get("type") == "horizontal"
    views = root.findall("./item/view")
    assert [v.get("singletontag") for v in views] == list(VIEW_NAMES)
    assert all(v.find("property[@name='orientation']").text == "Coronal" for v in views)


@pytest.mark.parametrize("axis", ["K", "J", "I"])
def test_three_linked_views_cut_the_volume_along_the_slice_axis(scene, make_volume, axis):
    rng = np.random.default_rng(0)
    zero_filled, reconstruction, reference = (
        make_volume(rng.random((6, 7, 8)) * s, n) for s, n in ((1, "ZF"), (2, "Rec"), (3, "Ref"))
    )
    names = show_comparison(scene, [zero_filled, reconstruction, reference], axis)
    assert names == list(VIEW_NAMES)
    assert scene.GetFirstNodeByClass("vtkMRMLLayoutNode").GetViewArrangement() == COMPARISON_LAYOUT_ID
    slice_axis_ras = ijk_to_ras(reference)[:3, 2 - "KJI".index(axis)]
    slice_axis_ras /= np.linalg.norm(slice_axis_ras)
    matrices = []
    for name, volume in zip(VIEW_NAMES, (zero_filled, reconstruction, reference)):
        composite = _view(scene, "vtkMRMLSliceCompositeNode", name)
        assert composite.GetBackgroundVolumeID() == volume.GetID()
        assert composite.GetLinkedControl()
        slice_to_ras = slicer.util.arrayFromVTKMatrix(_view(scene, "vtkMRMLSliceNode", name).GetSliceToRAS())
        normal = slice_to_ras[:3, 2] / np.linalg.norm(slice_to_ras[:3, 2])
        assert abs(float(normal @ slice_axis_ras)) == pytest.approx(1.0, abs=1e-6)  # oblique grid: exact voxel planes
        matrices.append(slice_to_ras)
    np.testing.assert_allclose(matrices[0], matrices[1])  # all three views show the same plane
    np.testing.assert_allclose(matrices[0], matrices[2])
    windows = {
        (v.GetDisplayNode().GetWindowLevelMin(), v.GetDisplayNode().GetWindowLevelMax())
        for v in (zero_filled, reconstruction, reference)
    }
    assert len(windows) == 1  # one grey scale for the three
    low, high = windows.pop()
    assert high > 2.5 and not any(v.GetDisplayNode().GetAutoWindowLevel() for v in (zero_filled, reference))


def test_missing_reference_leaves_the_third_view_empty(scene, make_volume):
    a, b = make_volume(np.ones((3, 4, 5)), "A"), make_volume(np.ones((3, 4, 5)) * 2, "B")
    assert show_comparison(scene, [a, b, None]) == list(VIEW_NAMES)
    assert _view(scene, "vtkMRMLSliceCompositeNode", "Green").GetBackgroundVolumeID() is None
    assert show_comparison(scene, [None, None, None]) == []
