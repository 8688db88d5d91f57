"""Bad requests of issue #19 against a real MONAI Label server serving the sample app: a misspelled parameter,
``params`` that are not a JSON object, uploads that cannot be reconstructed -- each one 422 with a message naming
the key or the upload, and no temporary file left in the server's temporary folder."""

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from monailabel_fixtures import MONAILABEL_REQUIRED, write_slab

pytest.importorskip(MONAILABEL_REQUIRED, reason="MONAI Label is an optional extra (bash scripts/setup.sh test)")
requests = pytest.importorskip("requests")

from fastapi import HTTPException  # noqa: E402
from monailabel_server_support import monailabel_server  # noqa: E402

from monai_chpnet.data.synthetic import ellipse_phantom, write_fastmri_h5  # noqa: E402
from monai_chpnet.monailabel import SAMPLE_APP_DIR, ReconstructionInferTask  # noqa: E402
from monai_chpnet.monailabel.routes import parse_params_field, upload_name  # noqa: E402

MODEL = "chpnet_mri_recon"
TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("monailabel_requests")
    app = shutil.copytree(SAMPLE_APP_DIR, root / "app", ignore=shutil.ignore_patterns("__pycache__", "model", "logs"))
    studies = root / "studies"
    studies.mkdir()
    slab = write_slab(studies / "t1_slab.nii.gz")
    with monailabel_server(root, app, studies, {"models": MODEL}) as url:
        yield url, root / "tmp", slab


def _post(url, params_text, files=None, **query):
    fields = {"params": (None, params_text), **(files or {})}
    return requests.post(f"{url}/infer/{MODEL}", params=query, files=fields, timeout=TIMEOUT_S)


def _leftovers(tmp):
    return sorted(
        str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.suffix in (".gz", ".h5", ".nii") or "chpnet" in p.name
    )


@pytest.mark.parametrize(
    "params_text, words",
    [
        (json.dumps({"acclereation": 8}), "unknown parameter 'acclereation' (did you mean 'acceleration'?)"),
        ("{acceleration: 8}", "params must be a JSON object, got text that is not JSON"),
        ("[8]", "params must be a JSON object"),
        (json.dumps({"seed": 2**32}), "seed must be an integer from 0 to 4294967295"),
    ],
)
def test_bad_params_are_422_naming_what_is_wrong(served, params_text, words):
    url, _, _ = served
    response = _post(url, params_text, image="t1_slab")
    assert response.status_code == 422, response.text
    assert words in response.json()["detail"]


def _upload(url, name, data, params=None):
    return _post(url, json.dumps(params or {}), files={"file": (name, data)}, output="json")


def test_failed_uploads_are_named_as_uploaded_and_leave_nothing(served, tmp_path):
    url, tmp, slab = served
    before = _leftovers(tmp)
    data = slab.read_bytes()
    empty = write_fastmri_h5(
        tmp_path / "e.h5", ellipse_phantom(1, (32, 32)), kspace_shape=(32, 32), recon_size=(32, 32)
    )
    with h5py.File(empty, "a") as f:
        del f["kspace"]
        f.create_dataset("kspace", data=np.zeros((0, 32, 32), np.complex64))
        del f["reconstruction_esc"]
    for name, payload, words in (
        ("notes.nii.gz", b"not an image", "cannot reconstruct notes.nii.gz: cannot read volume notes.nii.gz"),
        (
            "half_brain.nii.gz",
            data[: len(data) // 2],
            "cannot reconstruct half_brain.nii.gz: volume half_brain.nii.gz is incomplete",
        ),
        ("knee.h5", empty.read_bytes(), "cannot reconstruct knee.h5: fastMRI file knee.h5 has no k-space"),
    ):
        response = _upload(url, name, payload, {"undersampled": True} if name.endswith(".h5") else None)
        assert response.status_code == 422, response.text
        detail = response.json()["detail"]
        assert words in detail and str(tmp) not in detail and "tmp" not in detail.split(":")[0], detail
    assert _leftovers(tmp) == before, "a failed upload left files in the server's temporary folder"


def test_uploads_are_kept_under_their_own_name_and_removed_after_the_answer(served):
    url, tmp, slab = served
    response = _upload(url, "../../escape/brain.nii.gz", slab.read_bytes(), {"acceleration": 4})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["source"] == "brain.nii.gz" and result["metrics"]["reconstruction"]["psnr"] > 0
    assert not list(tmp.glob("chpnet-upload-*")), "the upload folder outlived the request"


def test_the_task_refuses_unknown_keys_in_process(tmp_path):
    slab = write_slab(tmp_path / "t1_slab.nii.gz")
    task = ReconstructionInferTask()
    with pytest.raises(HTTPException) as err:
        task({"image": str(slab), "acclereation": 8})
    assert err.value.status_code == 422 and "unknown parameter 'acclereation'" in err.value.detail
    path, result = task({"image": str(slab), "client_id": "slicer", "result_dtype": None})  # MONAI Label's own keys
    Path(path).unlink()
    assert result["metrics"]["reconstruction"]["psnr"] > result["metrics"]["zero_filled"]["psnr"]


def test_params_field_and_upload_names():
    assert parse_params_field("") == {} and parse_params_field('{"seed": 3}') == {"seed": 3}
    assert upload_name("C:\\scans\\knee.h5") == "knee.h5" and upload_name("") == "upload.nii.gz"
    assert upload_name("../.bashrc") == "bashrc" and upload_name("a b;c.nii.gz") == "a_b_c.nii.gz"
    assert Path(upload_name("/etc/passwd")).name == "passwd"
