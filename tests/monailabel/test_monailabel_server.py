"""Integration: a real ``monailabel start_server`` with the sample app, called over HTTP on 127.0.0.1.

One server for the module (start-up ~5-10 s on 2 cores), in its own process group with HOME, the working
directory, the app and the studies in a temporary folder; the finalizer stops the whole group and checks that
nothing of it is left.
"""

import base64
import json
import shutil
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Tuple

import pytest
import SimpleITK as sitk
from monailabel_fixtures import MONAILABEL_REQUIRED, assert_same_geometry, write_slab

pytest.importorskip(MONAILABEL_REQUIRED, reason="MONAI Label is an optional extra (bash scripts/setup.sh test)")
requests = pytest.importorskip("requests")

from monailabel_server_support import monailabel_server  # noqa: E402

from monai_chpnet.inference import reconstruct_file  # noqa: E402
from monai_chpnet.metrics import psnr  # noqa: E402
from monai_chpnet.monailabel import SAMPLE_APP_DIR  # noqa: E402

MODEL = "chpnet_mri_recon"
REQUEST_TIMEOUT_S = 60.0


@dataclass
class Server:
    url: str
    image_id: str
    image_path: Path
    log: Path

    def post_infer(self, params: Dict[str, Any], image: Optional[str] = None, **query: str) -> "requests.Response":
        """``POST /infer/chpnet_mri_recon`` as MONAI Label's clients send it: ``params`` as a multipart form field."""
        query = {"image": self.image_id if image is None else image, **query}
        return requests.post(
            f"{self.url}/infer/{MODEL}",
            params=query,
            files={"params": (None, json.dumps(params))},
            timeout=REQUEST_TIMEOUT_S,
        )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("monailabel")
    app = shutil.copytree(
        SAMPLE_APP_DIR, root / "app", ignore=shutil.ignore_patterns("__pycache__", "model", "logs", "bin")
    )
    studies = root / "studies"
    studies.mkdir()
    image = write_slab(studies / "t1_slab.nii.gz")
    with monailabel_server(root, app, studies, {"models": MODEL}) as url:
        yield Server(url=url, image_id="t1_slab", image_path=image, log=root / "server.log")


def _multipart(response: "requests.Response") -> Tuple[Dict[str, Any], str, bytes]:
    """MONAI Label's default answer: ``params`` (the result JSON) and ``image`` (the file), as multipart/form-data."""
    header = f"Content-Type: {response.headers['content-type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(header + response.content)
    parts = {part.get_param("name", header="content-disposition"): part for part in message.iter_parts()}
    assert set(parts) == {"params", "image"}
    image = parts["image"]
    return json.loads(parts["params"].get_content()), image.get_filename(), image.get_payload(decode=True)


def _read_image(data: bytes, name: str, folder: Path) -> sitk.Image:
    path = folder / name
    path.write_bytes(data)
    return sitk.ReadImage(str(path))


def test_info_lists_the_reconstruction_task(server):
    info = requests.get(f"{server.url}/info/", timeout=REQUEST_TIMEOUT_S).json()
    model = info["models"][MODEL]
    assert model["type"] == "others" and model["dimension"] == 3
    assert model["config"]["acceleration"] == 4.0 and "equispaced" in model["config"]["mask_type"]
    assert info["datastore"]["total"] == 1


def test_infer_returns_the_image_with_the_input_geometry_and_beats_zero_filling(server, tmp_path):
    response = server.post_infer({"acceleration": 4, "mask_type": "random", "seed": 0})
    assert response.status_code == 200, response.text
    result, name, data = _multipart(response)
    image = _read_image(data, name, tmp_path)
    reference = sitk.ReadImage(str(server.image_path))
    assert_same_geometry(image, reference)

    ref = sitk.GetArrayFromImage(reference).astype("float32")
    zero_filled = reconstruct_file(server.image_path, None, acceleration=4, mask_type="random", seed=0).zero_filled
    recon_psnr, zf_psnr = psnr(ref, sitk.GetArrayFromImage(image)), psnr(ref, zero_filled)
    assert recon_psnr > zf_psnr + 1.0, (recon_psnr, zf_psnr)
    assert result["metrics"]["reconstruction"]["psnr"] == pytest.approx(recon_psnr, abs=1e-3)
    assert result["metrics"]["zero_filled"]["psnr"] == pytest.approx(zf_psnr, abs=1e-3)
    assert result["params"] == {
        "acceleration": 4.0,
        "undersampled": False,
        "center_fraction": None,
        "mask_type": "random",
        "seed": 0,
        "slice_axis": 0,
        "result_extension": ".nii.gz",
        "trust": None,
    }
    assert "trust" not in result  # computed only on request


def test_infer_returns_the_trust_map_beside_the_reconstruction(server, tmp_path):
    """``"trust": "teacher"``: the map comes back in the result JSON as a base64 gzipped NIfTI on the same grid."""
    response = server.post_infer({"acceleration": 4, "seed": 0, "trust": "teacher"})
    assert response.status_code == 200, response.text
    result, name, data = _multipart(response)
    image = _read_image(data, name, tmp_path)
    trust_map = _read_image(base64.b64decode(result["trust"]["image"]), "trust.nii.gz", tmp_path)
    assert_same_geometry(trust_map, image)
    values = sitk.GetArrayFromImage(trust_map)
    assert values.min() >= 0.0 and values.max() == pytest.approx(1.0)
    assert result["trust"]["method"] == "teacher" and result["trust"]["seconds"] > 0
    assert result["params"]["trust"] == "teacher"


def test_uploaded_file_and_image_only_output(server, tmp_path):
    with open(server.image_path, "rb") as f:
        response = requests.post(
            f"{server.url}/infer/{MODEL}",
            params={"output": "image"},
            files={
                "file": ("upload.nii.gz", f),
                "params": (None, json.dumps({"acceleration": 8, "result_extension": ".nrrd"})),
            },
            timeout=REQUEST_TIMEOUT_S,
        )
    assert response.status_code == 200, response.text
    name = response.headers["content-disposition"].split("filename=")[-1].strip('"')
    assert name.endswith(".nrrd")
    assert_same_geometry(_read_image(response.content, name, tmp_path), sitk.ReadImage(str(server.image_path)))


@pytest.mark.parametrize(
    "image, params, status, words",
    [
        ("no_such_image", {}, 404, "image not found"),
        (None, {"acceleration": 0.5}, 422, "acceleration must be >= 1"),
        (None, {"acceleration": "fast"}, 422, "acceleration must be a number, got 'fast'"),
        (None, {"mask_type": "spiral"}, 422, "mask_type must be one of ['equispaced', 'random']"),
        (None, {"undersampled": "maybe"}, 422, "undersampled must be true or false"),
    ],
)
def test_bad_requests_get_a_4xx_with_a_message_and_the_server_keeps_serving(server, image, params, status, words):
    response = server.post_infer(params, image=image)
    assert response.status_code == status, response.text
    assert words in response.json()["detail"]
    assert requests.get(f"{server.url}/info/", timeout=REQUEST_TIMEOUT_S).status_code == 200


def test_server_still_reconstructs_after_bad_requests(server):
    response = server.post_infer({"acceleration": 4}, output="json")
    assert response.status_code == 200, response.text
    assert response.json()["metrics"]["reconstruction"]["psnr"] > response.json()["metrics"]["zero_filled"]["psnr"]
