"""SimpleITK volumes: geometry round trips (NIfTI, NRRD, MHA, DICOM series), slice-axis choice, bad input."""

import os

import numpy as np
import pytest
import SimpleITK as sitk

from monai_chpnet.data import Geometry, read_volume, write_volume

SPACING = (0.7, 0.9, 2.5)
ORIGIN = (-12.5, 30.25, 7.125)
# a rotation with short decimal entries (3-4-5 triangles), so DICOM's decimal strings hold it exactly
_RX = np.array([[1, 0, 0], [0, 0.6, -0.8], [0, 0.8, 0.6]])
_RZ = np.array([[0.8, -0.6, 0], [0.6, 0.8, 0], [0, 0, 1]])
DIRECTION = tuple((_RX @ _RZ).ravel())
SHAPE = (4, 5, 6)  # SimpleITK array (k, j, i)


def _volume(dtype=np.int16):
    return (np.arange(np.prod(SHAPE)).reshape(SHAPE) * 3 - 50).astype(dtype)


def _image(array):
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(SPACING)
    image.SetOrigin(ORIGIN)
    image.SetDirection(DIRECTION)
    return image


def _write_dicom_series(image, folder):
    """One file per slice with the tags SimpleITK's series reader needs (after SimpleITK's DICOM example)."""
    folder.mkdir()
    direction = image.GetDirection()
    for k in range(image.GetDepth()):
        s = image[:, :, k]
        position = image.TransformIndexToPhysicalPoint((0, 0, k))
        for tag, value in (
            ("0008|0060", "MR"),
            ("0020|000d", "1.2.826.0.1.3680043.2.1125.1"),
            ("0020|000e", "1.2.826.0.1.3680043.2.1125.1.1"),
            ("0020|0013", str(k + 1)),
            ("0020|0032", "\\".join(f"{v:.6f}" for v in position)),
            ("0020|0037", "\\".join(f"{v:.6f}" for v in direction[0::3] + direction[1::3])),
            ("0018|0050", f"{SPACING[2]:.6f}"),
        ):
            s.SetMetaData(tag, value)
        writer = sitk.ImageFileWriter()
        writer.KeepOriginalImageUIDOn()
        writer.SetFileName(str(folder / f"slice{k:03d}.dcm"))
        writer.Execute(s)


def _assert_geometry(geometry, tol=1e-6):
    assert np.allclose(geometry.spacing, SPACING, rtol=tol, atol=tol)
    assert np.allclose(geometry.origin, ORIGIN, rtol=tol, atol=tol)
    assert np.allclose(geometry.direction, DIRECTION, rtol=tol, atol=tol)


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd", ".mha"])
def test_file_geometry_round_trip(tmp_path, suffix):
    sitk.WriteImage(_image(_volume()), str(tmp_path / f"in{suffix}"))
    array, geometry = read_volume(tmp_path / f"in{suffix}")
    assert array.dtype == np.float32 and array.shape == SHAPE and np.array_equal(array, _volume())
    _assert_geometry(geometry)
    assert geometry.array_shape == SHAPE and geometry.array_spacing == pytest.approx((2.5, 0.9, 0.7), rel=1e-6)

    out = write_volume(array * 2, geometry, tmp_path / "out" / f"recon{suffix}")
    assert sorted(os.listdir(tmp_path / "out")) == [f"recon{suffix}"]  # no temporary left behind
    assert oct(out.stat().st_mode & 0o777) != oct(0o600)  # created by the writer, not as a private temp file
    written = sitk.ReadImage(str(out))
    assert written.GetPixelID() == sitk.sitkFloat32
    assert np.array_equal(sitk.GetArrayFromImage(written), 2 * _volume())
    again, geometry_again = read_volume(out)
    assert np.array_equal(again, 2 * _volume())
    _assert_geometry(geometry_again)


def test_dicom_series_geometry_round_trip(tmp_path):
    _write_dicom_series(_image(_volume()), tmp_path / "series")
    array, geometry = read_volume(tmp_path / "series")
    assert np.array_equal(array, _volume())
    _assert_geometry(geometry)
    out = write_volume(array, geometry, tmp_path / "recon.nrrd")
    _assert_geometry(read_volume(out)[1])


@pytest.mark.parametrize("axis, spacing", [(0, (2.5, 0.9, 0.7)), (1, (0.9, 2.5, 0.7)), (2, (0.7, 2.5, 0.9))])
def test_slice_axis_round_trip(tmp_path, axis, spacing):
    sitk.WriteImage(_image(_volume()), str(tmp_path / "in.mha"))
    slices, geometry = read_volume(tmp_path / "in.mha", slice_axis=axis)
    expected = np.moveaxis(_volume(), axis, 0)
    assert slices.shape == geometry.array_shape == expected.shape and np.array_equal(slices, expected)
    assert slices.flags.c_contiguous
    assert geometry.array_spacing == pytest.approx(spacing)
    back, _ = read_volume(write_volume(slices, geometry, tmp_path / "out.nii.gz"))
    assert np.array_equal(back, _volume())


def test_write_keeps_the_array_dtype(tmp_path):
    geometry = Geometry(SPACING, ORIGIN, DIRECTION, SHAPE)
    out = write_volume(_volume(np.uint16), geometry, tmp_path / "u16.nii.gz")
    assert sitk.ReadImage(str(out)).GetPixelID() == sitk.sitkUInt16


def test_failed_write_leaves_destination_untouched(tmp_path, monkeypatch):
    sitk.WriteImage(_image(_volume()), str(tmp_path / "recon.mha"))
    before = (tmp_path / "recon.mha").read_bytes()
    _, geometry = read_volume(tmp_path / "recon.mha")

    def crash(image, path, useCompression):  # noqa: N803 (SimpleITK's keyword)
        open(path, "wb").write(b"partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(sitk, "WriteImage", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        write_volume(np.zeros(SHAPE, np.float32), geometry, tmp_path / "recon.mha")
    assert (tmp_path / "recon.mha").read_bytes() == before and sorted(os.listdir(tmp_path)) == ["recon.mha"]


def test_bad_volumes_are_named(tmp_path):
    (tmp_path / "garbage.nii.gz").write_bytes(b"not an image")
    with pytest.raises(OSError, match="cannot read volume .*garbage.nii.gz"):
        read_volume(tmp_path / "garbage.nii.gz")
    with pytest.raises(FileNotFoundError, match="nowhere.nrrd does not exist"):
        read_volume(tmp_path / "nowhere.nrrd")
    sitk.WriteImage(sitk.Image([3, 3, 3, 2], sitk.sitkFloat32), str(tmp_path / "4d.nii.gz"))
    with pytest.raises(ValueError, match=r"4d.nii.gz is 4-D with size \(3, 3, 3, 2\); .*select a single volume"):
        read_volume(tmp_path / "4d.nii.gz")
    sitk.WriteImage(sitk.Image([5, 4], sitk.sitkUInt8), str(tmp_path / "flat.png"))
    with pytest.raises(ValueError, match=r"flat.png is 2-D with size \(5, 4\); read_volume expects one 3-D volume"):
        read_volume(tmp_path / "flat.png")
    sitk.WriteImage(sitk.Image([3, 3, 3], sitk.sitkVectorFloat32, 3), str(tmp_path / "vector.mha"))
    with pytest.raises(ValueError, match="vector.mha has 3 components per voxel"):
        read_volume(tmp_path / "vector.mha")
    (tmp_path / "nodicom").mkdir()
    (tmp_path / "nodicom" / "readme.txt").write_text("x")
    with pytest.raises(FileNotFoundError, match="no DICOM series in folder .*nodicom"):
        read_volume(tmp_path / "nodicom")
    with pytest.raises(ValueError, match="slice_axis must be 0, 1 or 2"):
        read_volume(tmp_path / "vector.mha", slice_axis=3)

    geometry = Geometry(SPACING, ORIGIN, DIRECTION, SHAPE, slice_axis=2)
    with pytest.raises(ValueError, match=r"array of shape \(4, 5, 6\) does not match .* = \(6, 4, 5\)"):
        write_volume(np.zeros(SHAPE, np.float32), geometry, tmp_path / "x.nii.gz")
    with pytest.raises(ValueError, match="cannot write .*x.png: supported volume formats are .nii.gz, .nii"):
        write_volume(np.zeros((6, 4, 5), np.float32), geometry, tmp_path / "x.png")


def test_a_dicom_series_that_is_not_one_stack_is_refused(tmp_path):
    """Two echoes sharing one SeriesInstanceUID would be stacked into one volume with a wrong spacing."""
    import shutil

    image = _image(_volume())
    _write_dicom_series(image, tmp_path / "echo1")
    _write_dicom_series(image, tmp_path / "echo2")
    both = tmp_path / "both"
    both.mkdir()
    for echo in ("echo1", "echo2"):
        for f in (tmp_path / echo).iterdir():
            shutil.copy(f, both / f"{echo}_{f.name}")
    n = len(list(both.iterdir()))
    with pytest.raises(ValueError, match=rf"both: {n} files at only {n // 2} slice positions -- several echoes"):
        read_volume(both)
    (tmp_path / "echo1" / "slice001.dcm").unlink()  # a missing slice: one gap twice the others
    with pytest.raises(ValueError, match=r"echo1 has uneven slice spacing \(2.5 to 5 mm\)"):
        read_volume(tmp_path / "echo1")
    volume, geometry = read_volume(tmp_path / "echo2")  # one complete stack still reads
    assert volume.shape == SHAPE and np.isclose(geometry.spacing[2], SPACING[2])
