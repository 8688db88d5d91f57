"""The reconstruction as MONAI components (inference.json's preprocessing -> inferer -> postprocessing): the same
numbers as the Python API, and outputs in the layouts MONAI's evaluator and MONAI Label's writer expect."""

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from monai.bundle import ConfigParser
from monai.data import decollate_batch
from monai.transforms import LoadImage

from monai_chpnet.data.synthetic import ellipse_phantom, write_fastmri_h5
from monai_chpnet.inference import (
    KspaceInferer,
    LoadReconInputd,
    ReconOutputsd,
    ReconSettings,
    ToImageLayoutd,
    batch_of_one,
    default_bundle_dir,
    reconstruct_file,
)
from monai_chpnet.networks.student import student_from_preset


@pytest.fixture(scope="module")
def student():
    torch.manual_seed(0)
    return student_from_preset("tiny", in_channels=2).eval()


@pytest.fixture(scope="module")
def oblique_volume(tmp_path_factory):
    path = tmp_path_factory.mktemp("vol") / "oblique.nii.gz"
    image = sitk.GetImageFromArray((ellipse_phantom(5, (32, 40)) * 100).astype(np.float32))
    image.SetSpacing((0.8, 0.9, 2.5))
    image.SetOrigin((-10.0, 20.5, 7.25))
    image.SetDirection((0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0))
    sitk.WriteImage(image, str(path))
    return path


def _pipeline(path, network, settings):
    data = LoadReconInputd("image", settings)({"image": str(path)})
    pred = KspaceInferer(settings)(data["image"][None], network)  # as MONAI Label calls it: a batch axis of one
    return ReconOutputsd("pred")({**data, "pred": pred[0]})


@pytest.mark.parametrize("slice_axis", [0, 2])
def test_components_give_the_python_apis_reconstruction(oblique_volume, student, slice_axis):
    settings = ReconSettings(acceleration=4, seed=2, slice_axis=slice_axis, batch_size=2)
    out = _pipeline(oblique_volume, student, settings)
    direct = reconstruct_file(oblique_volume, student, settings=settings)
    result = out["recon_result"]
    np.testing.assert_allclose(result.reconstruction, direct.reconstruction, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(result.mask, direct.mask)
    assert result.metrics["reconstruction"]["psnr"] == pytest.approx(direct.metrics["reconstruction"]["psnr"])
    assert out["result"]["metrics"] == result.metrics and out["result"]["shape"] == list(direct.reconstruction.shape)
    assert result.geometry == direct.geometry


@pytest.mark.parametrize("slice_axis", [0, 1])
def test_image_layout_is_monais_with_the_inputs_affine(oblique_volume, student, slice_axis):
    """What MONAI Label's Restored + writer take: (1, i, j, k) with the RAS affine a MONAI reader gives the input."""
    settings = ReconSettings(slice_axis=slice_axis)
    out = ToImageLayoutd("pred")(_pipeline(oblique_volume, student, settings))
    reference = LoadImage(reader="NibabelReader", image_only=True)(str(oblique_volume))
    assert tuple(out["pred"].shape) == (1, *reference.shape)
    np.testing.assert_allclose(out["pred"].affine.numpy(), reference.affine.numpy(), atol=1e-5)
    sitk_order = sitk.GetArrayFromImage(sitk.ReadImage(str(oblique_volume)))
    recon = out["recon_result"].reconstruction
    np.testing.assert_allclose(out["pred"][0].numpy().transpose(2, 1, 0), np.moveaxis(recon, 0, slice_axis))
    assert tuple(out["image"].meta["spatial_shape"]) == tuple(reversed(sitk_order.shape))


def test_fastmri_kspace_through_the_components(tmp_path, student):
    h5 = write_fastmri_h5(
        tmp_path / "file1.h5", ellipse_phantom(2, (48, 40)), kspace_shape=(64, 48), recon_size=(40, 40)
    )
    settings = ReconSettings(acceleration=4)
    out = _pipeline(h5, student, settings)
    direct = reconstruct_file(h5, student, settings=settings)
    assert out["label"].shape == (1, 2, 40, 40) and out["pred"].shape == (1, 2, 40, 40)
    np.testing.assert_allclose(out["recon_result"].reconstruction, direct.reconstruction, rtol=1e-5, atol=1e-5)
    assert out["recon_result"].geometry is None  # k-space carries no geometry: written with 1 mm voxels


def test_the_evaluators_collation_keeps_what_the_post_processing_reads(oblique_volume, student):
    """The bundle's loader batches one input without collating its meta, and MONAI's decollation (which splits
    list and array meta values) leaves the JSON text the post-processing reads."""
    settings = ReconSettings()
    batch = batch_of_one([LoadReconInputd("image", settings)({"image": str(oblique_volume)})])
    pred = KspaceInferer(settings)(batch["image"], student)
    item = decollate_batch({**batch, "pred": pred}, detach=True)[0]
    out = ReconOutputsd("pred")(item)
    assert out["recon_result"].metrics["reconstruction"]["psnr"] > 0
    with pytest.raises(ValueError, match="one input per batch"):
        batch_of_one([{}, {}])


def test_inference_json_wires_the_components():
    parser = ConfigParser()
    parser.read_config(str(default_bundle_dir() / "configs" / "inference.json"))
    parser.update({"bundle_root": str(default_bundle_dir()), "acceleration": "8", "undersampled": "false"})
    settings = parser.get_parsed_content("settings")
    assert isinstance(settings, ReconSettings) and settings.acceleration == 8.0 and settings.undersampled is False
    assert isinstance(parser.get_parsed_content("inferer"), KspaceInferer)
    names = [type(t).__name__ for t in parser.get_parsed_content("postprocessing").transforms]
    assert names == ["ReconOutputsd", "SaveReconOutputsd", "ToImageLayoutd"]
    parser.update({"batch_size": 0})
    with pytest.raises(Exception) as err:
        parser.get_parsed_content("settings")
    assert "batch_size must be an integer from 1" in str(err.value.__cause__ or err.value)
