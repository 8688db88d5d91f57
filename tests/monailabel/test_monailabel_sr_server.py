"""Integration: the sample app's ``chpnet_mri_sr`` task on a real ``monailabel start_server`` on 127.0.0.1, with the
scale and degradation chosen per request."""

import base64
import json
import shutil
from email.parser import BytesParser
from email.policy import HTTP

import numpy as np
import pytest
import SimpleITK as sitk
from monailabel_fixtures import MONAILABEL_REQUIRED, assert_same_geometry

pytest.importorskip(MONAILABEL_REQUIRED, reason="MONAI Label is an optional extra (bash scripts/setup.sh test)")
requests = pytest.importorskip("requests")

from monailabel_server_support import monailabel_server  # noqa: E402

from monai_chpnet.data.sample import sample_volume_path  # noqa: E402
from monai_chpnet.data.volumes import read_volume  # noqa: E402
from monai_chpnet.inference import upsampled_geometry  # noqa: E402
from monai_chpnet.monailabel import SAMPLE_APP_DIR  # noqa: E402

MODEL = "chpnet_mri_sr"
TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("monailabel_sr")
    app = shutil.copytree(
        SAMPLE_APP_DIR, root / "app", ignore=shutil.ignore_patterns("__pycache__", "model", "logs", "bin")
    )
    studies = root / "studies"
    studies.mkdir()
    # two 128 x 128 slices of the sample: a low-resolution input for x2 / x4, and a reference for evaluation
    image = sitk.ReadImage(str(sample_volume_path()))[64:192, 64:192, 9:11]
    sitk.WriteImage(image, str(studies / "t1_small.nii.gz"))
    with monailabel_server(root, app, studies, {"models": MODEL}) as url:
        yield url, studies / "t1_small.nii.gz"


def _infer(url, params):
    response = requests.post(
        f"{url}/infer/{MODEL}", params={"image": "t1_small"}, files={"params": (None, json.dumps(params))},
        timeout=TIMEOUT_S,
    )  # fmt: skip
    return response


def _parts(response, folder):
    header = f"Content-Type: {response.headers['content-type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(header + response.content)
    parts = {p.get_param("name", header="content-disposition"): p for p in message.iter_parts()}
    path = folder / parts["image"].get_filename()
    path.write_bytes(parts["image"].get_payload(decode=True))
    return json.loads(parts["params"].get_content()), sitk.ReadImage(str(path))


def _expected_grid(path, scale):
    geometry = upsampled_geometry(read_volume(path)[1], scale)
    image = sitk.Image(*reversed(geometry.shape), sitk.sitkFloat32)
    image.SetSpacing(geometry.spacing)
    image.SetOrigin(geometry.origin)
    image.SetDirection(geometry.direction)
    return image


@pytest.mark.parametrize("scale, degradation", [(2, "kspace"), (4, "bicubic")])
def test_each_request_gets_its_scale_and_the_upsampled_geometry(server, tmp_path, scale, degradation):
    url, path = server
    response = _infer(url, {"scale": scale, "degradation": degradation, "trust": "tta"})
    assert response.status_code == 200, response.text
    result, image = _parts(response, tmp_path)
    assert image.GetSize() == (128 * scale, 128 * scale, 2)
    assert_same_geometry(image, _expected_grid(path, scale))
    (tmp_path / "trust.nii.gz").write_bytes(base64.b64decode(result["trust"]["image"]))
    trust = sitk.ReadImage(str(tmp_path / "trust.nii.gz"))
    assert_same_geometry(trust, image)
    assert result["params"]["scale"] == scale and result["params"]["degradation"] == degradation
    assert result["metrics"] == {}


def test_evaluation_mode_beats_the_classical_upsampling(server, tmp_path):
    url, path = server
    response = _infer(url, {"scale": 2, "evaluate": True})
    assert response.status_code == 200, response.text
    result, image = _parts(response, tmp_path)
    assert_same_geometry(image, sitk.ReadImage(str(path)))
    m = result["metrics"]
    assert m["super_resolved"]["psnr"] > max(m["bicubic"]["psnr"], m["sinc"]["psnr"])
    assert np.isfinite(sitk.GetArrayFromImage(image)).all()


@pytest.mark.parametrize(
    "params, words",
    [({"scale": 3}, "scale must be one of [2, 4], got 3"), ({"degradation": "blur"}, "degradation must be one of"),
     ({"sclae": 2}, "did you mean 'scale'?"), ({"trust": "teacher!"}, "trust must be one of")],
)  # fmt: skip
def test_bad_requests_are_422_naming_the_parameter(server, params, words):
    url, _ = server
    response = _infer(url, params)
    assert response.status_code == 422, response.text
    assert words in response.json()["detail"]
