"""The infer task, its TaskConfig and the sample app, in-process (no server): results, errors, discovery."""

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from monailabel_fixtures import MONAILABEL_REQUIRED, assert_same_geometry, write_slab

pytest.importorskip(MONAILABEL_REQUIRED, reason="MONAI Label is an optional extra (bash scripts/setup.sh test)")

from fastapi import HTTPException  # noqa: E402
from monailabel.config import settings  # noqa: E402
from monailabel.interfaces.exception import MONAILabelException  # noqa: E402
from monailabel.interfaces.tasks.infer_v2 import InferType  # noqa: E402
from monailabel.utils.others.class_utils import get_class_of_subclass_from_file  # noqa: E402

from monai_chpnet.data.synthetic import ellipse_phantom, write_fastmri_h5  # noqa: E402
from monai_chpnet.inference import default_bundle_dir, reconstruct_file  # noqa: E402
from monai_chpnet.metrics import psnr  # noqa: E402
from monai_chpnet.monailabel import SAMPLE_APP_DIR, ReconstructionInferTask, ReconstructionTaskConfig  # noqa: E402


@pytest.fixture(scope="module")
def slab(tmp_path_factory):
    return write_slab(tmp_path_factory.mktemp("slab") / "t1_slab.nii.gz")


@pytest.fixture(scope="module")
def task():
    return ReconstructionInferTask()


def _run(task, request):
    """The task as MONAI Label calls it; the result file is removed afterwards, as the server does."""
    path, result = task(request)
    try:
        return sitk.ReadImage(path), result, Path(path)
    finally:
        Path(path).unlink()


def test_task_is_an_others_task_listing_its_request_defaults(task):
    info = task.info()
    assert info["type"] == InferType.OTHERS and info["dimension"] == 3 and info["labels"] == []
    assert info["config"]["acceleration"] == 4.0 and info["config"]["mask_type"][0] == "random"
    assert task.is_valid()
    assert not ReconstructionInferTask(bundle_dir=SAMPLE_APP_DIR).is_valid()  # no configs/inference.json there


def test_reconstruction_keeps_the_input_geometry_and_beats_zero_filling(task, slab):
    image, result, path = _run(task, {"image": str(slab), "acceleration": 4, "seed": 0})
    reference = sitk.ReadImage(str(slab))
    assert_same_geometry(image, reference)
    assert path.name.startswith("t1_slab_recon_") and path.name.endswith(".nii.gz")
    m = result["metrics"]
    assert m["reconstruction"]["psnr"] > m["zero_filled"]["psnr"] + 1.0
    # the JSON describes the image that was written: same PSNR, recomputed from the file
    ref, out = sitk.GetArrayFromImage(reference).astype("float32"), sitk.GetArrayFromImage(image)
    assert psnr(ref, out) == pytest.approx(m["reconstruction"]["psnr"], abs=1e-3)
    assert result["params"]["mask_type"] == "random" and 3.5 < result["acceleration"] < 4.5
    assert result["shape"] == [4, 256, 256] and "latencies" in result  # BasicInferTask's own keys stay


def test_same_request_same_reconstruction_as_the_inference_module(task, slab):
    image, _, _ = _run(task, {"image": str(slab), "acceleration": 8, "mask_type": "equispaced", "seed": 3})
    direct = reconstruct_file(slab, task._get_network("cpu", None), acceleration=8, mask_type="equispaced", seed=3)
    assert sitk.GetArrayFromImage(image) == pytest.approx(direct.reconstruction, abs=1e-5)


def test_nrrd_result_and_already_undersampled_input(task, slab, tmp_path):
    """An already-undersampled image (here the zero-filled 4x acquisition of the slab) is reconstructed with the
    acquisition's mask: closer to the reference than its input, no metrics (no reference), same geometry."""
    reference = sitk.ReadImage(str(slab))
    acquired = reconstruct_file(slab, None, acceleration=4, seed=5)
    undersampled = sitk.GetImageFromArray(acquired.zero_filled)
    undersampled.CopyInformation(reference)
    sitk.WriteImage(undersampled, str(tmp_path / "undersampled.nii.gz"))
    image, result, path = _run(
        task,
        {
            "image": str(tmp_path / "undersampled.nii.gz"),
            "undersampled": "true",
            "acceleration": 4,
            "seed": 5,
            "result_extension": ".nrrd",
        },
    )
    assert path.suffix == ".nrrd"
    assert_same_geometry(image, reference)
    assert result["metrics"] == {} and result["params"]["undersampled"] is True  # no reference to score against
    ref = sitk.GetArrayFromImage(reference).astype("float32")
    assert psnr(ref, sitk.GetArrayFromImage(image)) > psnr(ref, acquired.zero_filled)


def test_fastmri_kspace_gives_an_image_on_its_reconstruction_grid(task, tmp_path):
    h5 = write_fastmri_h5(
        tmp_path / "file1000001.h5", ellipse_phantom(2, (48, 40)), kspace_shape=(64, 48), recon_size=(40, 40)
    )
    image, result, path = _run(task, {"image": str(h5), "acceleration": 4})
    assert path.name.startswith("file1000001_recon_")
    assert image.GetSize() == (40, 40, 2) and image.GetSpacing() == (1.0, 1.0, 1.0)  # k-space carries no geometry
    assert set(result["metrics"]) == {"zero_filled", "reconstruction"}
    multi = write_fastmri_h5(
        tmp_path / "multi.h5", ellipse_phantom(1, (32, 32)), kspace_shape=(32, 32), recon_size=(32, 32), num_coils=4
    )
    with pytest.raises(HTTPException) as err:
        task({"image": str(multi)})
    assert err.value.status_code == 422 and "cannot reconstruct multi.h5" in err.value.detail
    import h5py

    with h5py.File(multi, "w") as f:  # a file with no k-space: the reader's KeyError is the client's 422 too
        f.create_dataset("image", data=np.zeros((1, 8, 8), dtype="float32"))
    with pytest.raises(HTTPException) as err:
        task({"image": str(multi)})
    assert err.value.status_code == 422 and "kspace" in err.value.detail


def test_network_is_built_once_per_device(task):
    assert task._get_network("cpu", None) is task._get_network("cpu", None)


@pytest.mark.parametrize(
    "request_, status, words",
    [
        ({"image": ""}, 404, "not in this app's datastore"),  # what MONAI Label passes for an unknown image id
        ({"image": "/no/such/volume.nii.gz"}, 404, "image not found: volume.nii.gz"),
        ({"acceleration": 0}, 422, "acceleration must be >= 1"),
        ({"mask_type": "radial"}, 422, "mask_type must be one of"),
    ],
)
def test_client_mistakes_are_http_errors_with_a_message(task, slab, request_, status, words):
    with pytest.raises(HTTPException) as err:
        task({"image": str(slab), **request_})
    assert err.value.status_code == status and words in err.value.detail


def test_unreadable_file_is_422_without_server_paths(task, tmp_path):
    bad = tmp_path / "notes.nii.gz"
    bad.write_text("not an image")
    with pytest.raises(HTTPException) as err:
        task({"image": str(bad)})
    assert err.value.status_code == 422 and "cannot reconstruct notes.nii.gz" in err.value.detail
    assert str(tmp_path) not in err.value.detail


def test_task_config_serves_the_configured_bundle(tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(default_bundle_dir(), bundle)
    config = ReconstructionTaskConfig()
    config.init("chpnet_mri_recon", str(tmp_path / "model"), {"chpnet_bundle": str(bundle)}, None)
    task = config.infer()
    assert isinstance(task, ReconstructionInferTask) and task.bundle_dir == bundle and task.is_valid()
    assert config.trainer() is None
    config.init("chpnet_mri_recon", str(tmp_path / "model"), {"preload": "perhaps"}, None)
    with pytest.raises(ValueError, match="preload must be true or false"):
        config.infer()


@pytest.fixture
def sample_app(tmp_path, monkeypatch):
    """The sample app's class, loaded from a copy of its folder the way MONAI Label loads apps."""
    app_dir = shutil.copytree(SAMPLE_APP_DIR, tmp_path / "app", ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(settings, "MONAI_LABEL_DATASTORE_AUTO_RELOAD", False)  # no file-watcher thread
    monkeypatch.setattr(settings, "MONAI_LABEL_SESSIONS", False)  # nothing under ~/.cache
    before = set(sys.modules)
    yield app_dir, get_class_of_subclass_from_file("main", str(app_dir / "main.py"), "MONAILabelApp")
    for name in set(sys.modules) - before:  # the app's "main" and "lib" must not leak into other tests
        if name == "main" or name == "lib" or name.startswith("lib."):
            del sys.modules[name]


def test_sample_app_finds_the_config_and_serves_the_task(sample_app, slab, tmp_path):
    app_dir, app_class = sample_app
    studies = tmp_path / "studies"
    studies.mkdir()
    shutil.copy(slab, studies / "t1_slab.nii.gz")
    app = app_class(app_dir=str(app_dir), studies=str(studies), conf={"models": "chpnet_mri_recon"})
    info = app.info()
    assert list(info["models"]) == ["chpnet_mri_recon"] and info["models"]["chpnet_mri_recon"]["type"] == "others"
    result = app.infer({"model": "chpnet_mri_recon", "image": "t1_slab"})
    try:
        assert_same_geometry(sitk.ReadImage(result["file"]), sitk.ReadImage(str(slab)))
    finally:
        Path(result["file"]).unlink()
    assert result["params"]["metrics"]["reconstruction"]["psnr"] > result["params"]["metrics"]["zero_filled"]["psnr"]


def test_sample_app_rejects_an_unknown_model(sample_app, tmp_path):
    app_dir, app_class = sample_app
    with pytest.raises(MONAILabelException) as err:
        app_class(app_dir=str(app_dir), studies=str(tmp_path), conf={"models": "segmentation_spleen"})
    assert "segmentation_spleen" in err.value.msg and "chpnet_mri_recon" in err.value.msg


def test_a_failed_write_leaves_no_temporary_file(task, slab, tmp_path, monkeypatch):
    import tempfile

    import monai_chpnet.monailabel.infer as infer_module

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # mkstemp's folder, for this test only

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(infer_module, "write_volume", crash)
    with pytest.raises(Exception, match="disk full"):
        task({"image": str(slab)})
    assert not list(tmp_path.glob("*_recon_*"))
