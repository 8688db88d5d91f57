"""Volume nodes <-> arrays: validation errors, slice-axis re-ordering, geometry copies, file round trips."""

import numpy as np
import pytest
from mrml_support import oblique_ijk_to_ras, skip_without_mrml

skip_without_mrml()

import slicer  # noqa: E402
import vtk  # noqa: E402

from CHPNetReconLib.axes import SLICE_AXES, from_slices, slice_axis_index, to_slices  # noqa: E402
from CHPNetReconLib.errors import (  # noqa: E402
    InputVolumeError,
    NoImageDataError,
    ShapeMismatchError,
    UnsupportedVolumeError,
)
from CHPNetReconLib.volumes import (  # noqa: E402
    check_same_grid,
    ijk_to_ras,
    read_volume_file,
    update_volume,
    voxel_array,
    write_volume_file,
)


@pytest.mark.parametrize("axis", ["K", "J", "I", "k", 0, 1, 2])
def test_slices_round_trip_along_every_axis(axis):
    volume = np.arange(3 * 4 * 5, dtype=np.float32).reshape(3, 4, 5)
    stack = to_slices(volume, axis)
    index = slice_axis_index(axis)
    assert stack.shape[0] == volume.shape[index] and stack.flags.c_contiguous
    np.testing.assert_array_equal(stack[1], np.take(volume, 1, axis=index))  # a slice is a plane of that axis
    np.testing.assert_array_equal(from_slices(stack, axis), volume)


@pytest.mark.parametrize("bad", ["X", 3, -1, True, None, 1.0])
def test_slice_axis_names_are_checked(bad):
    with pytest.raises(ValueError, match="slice axis"):
        slice_axis_index(bad)
    assert SLICE_AXES == ("K", "J", "I")


def test_voxel_array_is_a_float32_copy_in_kji_order(make_volume):
    voxels = np.random.default_rng(0).integers(0, 1000, (3, 4, 5)).astype(np.int16)
    node = make_volume(voxels)
    array = voxel_array(node)
    assert array.dtype == np.float32 and array.shape == (3, 4, 5)
    np.testing.assert_array_equal(array, voxels)
    array[0, 0, 0] = -1  # a copy: the node keeps its voxels
    assert slicer.util.arrayFromVolume(node)[0, 0, 0] == voxels[0, 0, 0]


def test_voxel_array_rejects_bad_nodes_naming_them(scene, make_volume):
    with pytest.raises(InputVolumeError, match="no input volume selected"):
        voxel_array(None)
    empty = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "Empty")
    with pytest.raises(NoImageDataError, match="'Empty'.*no image data"):
        voxel_array(empty)
    vector = scene.AddNewNodeByClass("vtkMRMLVectorVolumeNode", "RGB")
    slicer.util.updateVolumeFromArray(vector, np.zeros((2, 3, 4, 3), np.uint8))
    with pytest.raises(UnsupportedVolumeError, match="'RGB'.*vtkMRMLVectorVolumeNode"):
        voxel_array(vector)
    labels = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "Labels")
    slicer.util.updateVolumeFromArray(labels, np.zeros((2, 3, 4), np.uint8))
    with pytest.raises(UnsupportedVolumeError, match="'Labels'.*scalar"):
        voxel_array(labels)
    four_d = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "Series")
    image = vtk.vtkImageData()  # a 4-D series stored as 5 components per voxel
    image.SetDimensions(4, 3, 2)
    image.AllocateScalars(vtk.VTK_FLOAT, 5)
    four_d.SetAndObserveImageData(image)
    with pytest.raises(UnsupportedVolumeError, match="'Series'.*5 components.*4-D"):
        voxel_array(four_d)
    nan = make_volume(np.full((2, 3, 4), np.nan, np.float32), name="NaNs")
    with pytest.raises(InputVolumeError, match="'NaNs'.*NaN"):
        voxel_array(nan, "reference")


def test_reference_on_another_grid_names_both_shapes(make_volume):
    a, b = make_volume(np.zeros((2, 3, 4)), "A"), make_volume(np.zeros((2, 3, 5)), "B")
    with pytest.raises(ShapeMismatchError, match=r"'B'.*\(2, 3, 5\).*'A'.*\(2, 3, 4\)"):
        check_same_grid(a, b, (2, 3, 4), (2, 3, 5))


def test_update_volume_copies_geometry_and_parent_transform(scene, make_volume):
    source = make_volume(np.zeros((2, 3, 4), np.int16))
    transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    source.SetAndObserveTransformNodeID(transform.GetID())
    values = np.random.default_rng(1).random((2, 3, 4)).astype(np.float32)
    out = update_volume(scene, values, source, name="Out")
    np.testing.assert_array_equal(ijk_to_ras(out), ijk_to_ras(source))
    np.testing.assert_array_equal(ijk_to_ras(out), oblique_ijk_to_ras())
    assert out.GetTransformNodeID() == transform.GetID()
    assert out.GetName() == "Out" and out.GetDisplayNode() is not None
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(out), values)
    again = update_volume(scene, values * 2, source, node=out)  # an existing node is overwritten, not duplicated
    assert again is out
    np.testing.assert_allclose(slicer.util.arrayFromVolume(out), values * 2)


def test_file_round_trip_keeps_a_left_handed_grid_voxel_for_voxel(tmp_path, make_volume):
    """Slicer's reader would flip K of this (det < 0) grid by default; the library reads files as written."""
    assert np.linalg.det(oblique_ijk_to_ras()[:3, :3]) < 0
    voxels = np.random.default_rng(2).integers(0, 500, (3, 4, 5)).astype(np.int16)
    node = make_volume(voxels)
    path = tmp_path / "vol.nrrd"
    write_volume_file(node, path)
    array, matrix = read_volume_file(path)
    np.testing.assert_array_equal(array, voxels)
    np.testing.assert_allclose(matrix, oblique_ijk_to_ras(), atol=1e-9)


def test_written_file_is_what_monai_chpnet_reads(tmp_path, make_volume):
    """The worker reads the file with monai_chpnet (SimpleITK): same (K, J, I) voxels, same geometry (LPS)."""
    from monai_chpnet.data.volumes import read_volume

    voxels = np.random.default_rng(3).random((3, 4, 5)).astype(np.float32)
    node = make_volume(voxels)
    write_volume_file(node, tmp_path / "vol.nrrd")
    array, geometry = read_volume(tmp_path / "vol.nrrd")
    np.testing.assert_array_equal(array, voxels)
    lps_to_ras = np.diag([-1.0, -1.0, 1.0])
    direction = np.asarray(geometry.direction).reshape(3, 3) * np.asarray(geometry.spacing)
    np.testing.assert_allclose(lps_to_ras @ direction, oblique_ijk_to_ras()[:3, :3], atol=1e-9)
    np.testing.assert_allclose(lps_to_ras @ np.asarray(geometry.origin), oblique_ijk_to_ras()[:3, 3], atol=1e-9)
