"""Super-resolution in the inference core: geometry against SimpleITK, baselines, degradation, files written."""

import json

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from monai_chpnet.data.volumes import read_volume
from monai_chpnet.inference.sr_files import degrade_volume, super_resolve_file, write_sr_outputs
from monai_chpnet.inference.superres import super_resolve_slices, upsample_baseline, upsampled_geometry
from monai_chpnet.kspace import fft2c
from monai_chpnet.networks import student_from_preset
from monai_chpnet.transforms.degradation import SRDownsample
from monai_chpnet.transforms.recipes import sr_eval_transforms, sr_train_transforms


def _oblique_volume(path, shape=(5, 6, 7)):
    image = sitk.GetImageFromArray(np.random.default_rng(0).random(shape).astype(np.float32))
    image.SetSpacing((0.9, 1.3, 2.5))
    image.SetOrigin((10.0, -4.0, 3.0))
    image.SetDirection(sitk.VersorTransform((0.3, 0.2, 0.9), 0.7).GetMatrix())
    sitk.WriteImage(image, str(path))
    return image


@pytest.mark.parametrize("slice_axis", [0, 1, 2])
@pytest.mark.parametrize("scale", [2, 4])
def test_upsampled_grid_is_simpleitk_s_grid_that_tiles_each_pixel(tmp_path, slice_axis, scale):
    """Nearest-neighbour resampling onto the upsampled grid replicates each pixel scale x scale times: the new pixel
    centres sit inside the old pixels, none on a border (a half-pixel shift would move one row to the next pixel)."""
    image = _oblique_volume(tmp_path / "lr.nii.gz")
    low, geometry = read_volume(tmp_path / "lr.nii.gz", slice_axis=slice_axis)
    high = upsampled_geometry(geometry, scale)
    reference = sitk.Image(list(reversed(high.shape)), sitk.sitkFloat32)
    reference.SetSpacing(high.spacing)
    reference.SetOrigin(high.origin)
    reference.SetDirection(high.direction)
    resampled = sitk.Resample(image, reference, sitk.Transform(), sitk.sitkNearestNeighbor, -1.0)
    replicated = np.moveaxis(sitk.GetArrayFromImage(resampled), slice_axis, 0)
    assert np.array_equal(replicated, low.repeat(scale, axis=1).repeat(scale, axis=2))
    assert high.direction == geometry.direction and high.array_shape == (
        low.shape[0],
        scale * low.shape[1],
        scale * low.shape[2],
    )
    # the physical extent (pixel edges) is unchanged: corner of the first pixel in both grids
    first_edge = np.array(geometry.origin) - np.array(geometry.direction).reshape(3, 3) @ (
        np.array(geometry.spacing) / 2
    )
    new_edge = np.array(high.origin) - np.array(high.direction).reshape(3, 3) @ (np.array(high.spacing) / 2)
    in_plane = [a for a in range(3) if a != 2 - slice_axis]
    d = np.array(geometry.direction).reshape(3, 3)
    assert np.allclose(d[:, in_plane].T @ (first_edge - new_edge), 0, atol=1e-9)


def test_kspace_degradation_then_zero_padding_gives_back_the_low_resolution_kspace():
    y = torch.randn(1, 1, 16, 12, dtype=torch.complex64)
    for scale in (2, 4):
        up = upsample_baseline(y, scale, "sinc")
        H, W = 16 * scale, 12 * scale
        block = fft2c(up)[..., H // 2 - 8 : H // 2 + 8, W // 2 - 6 : W // 2 + 6]
        assert torch.allclose(block, scale * fft2c(y), atol=1e-5)
        assert torch.allclose(SRDownsample(scale, "kspace")(up[0]), y[0], atol=1e-5)


def test_baselines_keep_a_constant_image():
    x = torch.full((2, 1, 8, 8), 3.0)
    for method in ("bicubic", "sinc"):
        assert torch.allclose(upsample_baseline(x, 2, method), torch.full((2, 1, 16, 16), 3.0), atol=1e-5)


def test_degrade_volume_refuses_an_indivisible_size_naming_the_file():
    with pytest.raises(ValueError, match=r"brain.nii.gz: slices of 10 x 9 cannot be degraded x2.*crop .* 10 x 8"):
        degrade_volume(np.ones((2, 10, 9), np.float32), 2, "kspace", "brain.nii.gz")
    with pytest.raises(ValueError, match=r"scale must be one of \(2, 4\)"):
        degrade_volume(np.ones((2, 12, 12), np.float32), 3)


def test_slices_network_scale_must_match_and_blank_slices_stay_zero():
    volume = np.zeros((3, 8, 8), np.float32)
    volume[1] = np.random.default_rng(0).random((8, 8))
    net = student_from_preset("small", in_channels=1, upscale=2)
    out = super_resolve_slices(volume, net, 2)
    assert out.shape == (3, 16, 16) and not out[0].any() and not out[2].any() and out[1].any() and out.min() >= 0
    with pytest.raises(ValueError, match="the network upsamples x2, not the x4 asked for"):
        super_resolve_slices(volume, net, 4)


def test_evaluation_scores_baselines_and_writes_all_outputs(tmp_path):
    rng = np.random.default_rng(0)
    hr = np.zeros((2, 32, 32), np.float32)
    hr[:, 8:24, 8:24] = 1.0 + 0.1 * rng.random((2, 16, 16))
    image = sitk.GetImageFromArray(hr)
    image.SetSpacing((0.5, 0.5, 3.0))
    sitk.WriteImage(image, str(tmp_path / "hr.nii.gz"))
    result = super_resolve_file(tmp_path / "hr.nii.gz", None, 2, evaluate=True, degradation="kspace")
    assert set(result.metrics) == {"bicubic", "sinc", "super_resolved"}
    # the matched baseline (zero-padding for k-space degradation) beats bicubic
    assert result.metrics["sinc"]["psnr"] > result.metrics["bicubic"]["psnr"]
    paths = write_sr_outputs(result, tmp_path / "out")
    assert sorted(p.name for p in paths) == ["hr_bicubic.nii.gz", "hr_sr.nii.gz", "hr_sr_metrics.json"]
    written = sitk.ReadImage(str(paths[0]))
    assert written.GetSize() == (32, 32, 2) and written.GetSpacing() == (0.5, 0.5, 3.0)
    assert json.loads(paths[2].read_text())["scale"] == 2


def test_prospective_output_has_the_upsampled_geometry(tmp_path):
    image = _oblique_volume(tmp_path / "lr.nii.gz", (2, 8, 8))
    result = super_resolve_file(tmp_path / "lr.nii.gz", None, 4)
    (path, _) = write_sr_outputs(result, tmp_path)
    written = sitk.ReadImage(str(path))
    assert written.GetSize() == (32, 32, 2)
    assert np.allclose(written.GetSpacing(), (0.9 / 4, 1.3 / 4, 2.5))
    # the centre of the image is the same point in both grids
    centre = lambda img: img.TransformContinuousIndexToPhysicalPoint([(s - 1) / 2 for s in img.GetSize()])  # noqa: E731
    assert np.allclose(centre(written), centre(image), atol=1e-6)


def test_rgb_input_is_refused_naming_the_file(tmp_path):
    sitk.WriteImage(sitk.Image([8, 8, 2], sitk.sitkVectorFloat32, 3), str(tmp_path / "photo.mha"))
    with pytest.raises(ValueError, match="photo.mha has 3 components per voxel"):
        super_resolve_file(tmp_path / "photo.mha", None, 2)
    assert not list(tmp_path.glob("*_sr.nii.gz"))


def test_sr_recipes_degrade_and_normalise_from_the_low_resolution_input():
    sample = {"target": torch.rand(1, 96, 96)}
    out = sr_train_transforms(4, "bicubic", patch_size=64)(sample)
    mixed = [
        sr_train_transforms(2, patch_size=32)({"target": torch.rand(1, 64, 64)})["low_res"].shape for _ in range(2)
    ]
    assert mixed == [(1, 16, 16)] * 2
    assert out["low_res"].shape == (1, 16, 16) and out["target"].shape == (1, 64, 64)
    assert float(out["low_res"].std()) == pytest.approx(1.0, rel=1e-4)  # scaled by its own std
    ev = sr_eval_transforms(2, "kspace")({"target": torch.rand(1, 32, 32)})
    assert torch.allclose(
        ev["low_res"] * ev["std"], SRDownsample(2, "kspace")(ev["target"] * ev["std"]).clamp_min(0), atol=1e-5
    )
    with pytest.raises(ValueError, match="patch_size 66 must be a multiple of scale 4"):
        sr_train_transforms(4, patch_size=66)


def test_weights_of_the_other_task_are_named(tmp_path):
    from monai_chpnet.inference import load_network
    from monai_chpnet.inference.superres import load_sr_network

    torch.save(student_from_preset("small", in_channels=2).state_dict(), tmp_path / "kspace.pt")
    torch.save(
        student_from_preset("small", in_channels=1, upscale=2, degradation="kspace").state_dict(), tmp_path / "sr2.pt"
    )
    with pytest.raises(
        ValueError, match=r"kspace.pt holds k-space reconstruction weights; this task needs super-resolution x2"
    ):
        load_sr_network(tmp_path / "kspace.pt", 2)
    with pytest.raises(
        ValueError, match=r"sr2.pt holds super-resolution x2 weights; this task needs super-resolution x4"
    ):
        load_sr_network(tmp_path / "sr2.pt", 4)
    with pytest.raises(
        ValueError, match=r"sr2.pt holds super-resolution x2 weights; this task needs k-space reconstruction"
    ):
        load_network(tmp_path / "sr2.pt")
    assert load_sr_network(tmp_path / "sr2.pt", 2).upscale == 2


def test_cli_super_resolves_and_names_bad_inputs(tmp_path, capsys):
    from monai_chpnet.__main__ import main

    image = _oblique_volume(tmp_path / "lr.nii.gz", (2, 8, 12))
    weights = tmp_path / "sr2.pt"
    torch.save(student_from_preset("small", in_channels=1, upscale=2, degradation="kspace").state_dict(), weights)
    out = tmp_path / "out"
    assert (
        main(["super-resolve", str(tmp_path / "lr.nii.gz"), "--weights", str(weights), "--output-dir", str(out)]) == 0
    )
    written = sitk.ReadImage(str(out / "lr_sr.nii.gz"))
    assert written.GetSize() == (24, 16, 2) and written.GetDirection() == pytest.approx(image.GetDirection())
    # evaluation: the 8 x 12 slices degrade x4 to 2 x 3, too small; x2 works and writes its metrics
    assert main(["super-resolve", str(tmp_path / "lr.nii.gz"), "--evaluate", "--output-dir", str(tmp_path / "e")]) == 0
    assert json.loads((tmp_path / "e" / "lr_sr_metrics.json").read_text())["degradation"] == "kspace"
    capsys.readouterr()
    assert main(["super-resolve", str(tmp_path / "lr.nii.gz"), "--weights", str(weights), "--scale", "4",
                 "--output-dir", str(tmp_path / "bad")]) == 2  # fmt: skip
    assert "sr2.pt holds super-resolution x2 weights; this task needs super-resolution x4" in capsys.readouterr().err
    assert main(["super-resolve", str(tmp_path / "lr.nii.gz"), "--evaluate", "--scale", "4",
                 "--output-dir", str(tmp_path / "bad")]) == 2  # fmt: skip
    assert "low-resolution slices of 2 x 3 are too small" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists() or not list((tmp_path / "bad").iterdir())
