"""MONAI Label's stock bundle app serves the super-resolution bundle as it is (``BundleInferTask`` on
``chpnet_mri_sr``'s ``inference.json``), on a real server on 127.0.0.1: the answer is the upsampled volume, with the
upsampled grid's geometry, equal to the inference core's own result."""

import json
import shutil
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from monailabel_fixtures import MONAILABEL_REQUIRED, write_slab

pytest.importorskip(MONAILABEL_REQUIRED, reason="MONAI Label is an optional extra (bash scripts/setup.sh test)")
requests = pytest.importorskip("requests")

from monailabel_server_support import monailabel_server  # noqa: E402
from test_monailabel_bundle_app import SHIMS, STOCK_APP, TIMEOUT_S  # noqa: E402

from monai_chpnet.inference.sr_files import super_resolve_file  # noqa: E402
from monai_chpnet.inference.superres import load_sr_network  # noqa: E402

MODEL = "chpnet_mri_sr"
SR_BUNDLE = Path(__file__).resolve().parents[2] / "bundles" / MODEL


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("monaibundle_sr")
    app = root / "app"
    (app / "model").mkdir(parents=True)
    (app / "main.py").write_text(STOCK_APP)
    shutil.copytree(SR_BUNDLE, app / "model" / MODEL, ignore=shutil.ignore_patterns("eval", "docs", "runs"))
    studies = root / "studies"
    studies.mkdir()
    slab = write_slab(studies / "t1_slab.nii.gz")
    conf = {"models": MODEL, "zoo_source": "github", "preload": "false"}
    pytest.importorskip("shapely", reason="the stock bundle app needs requirements-monailabel-bundle.txt")
    with monailabel_server(root, app, studies, conf, python_path=SHIMS) as url:
        yield url, slab


def test_the_stock_bundle_task_super_resolves_onto_the_upsampled_grid(served, tmp_path):
    url, slab = served
    response = requests.post(
        f"{url}/infer/{MODEL}",
        params={"image": "t1_slab"},
        files={"params": (None, json.dumps({"evaluate": False}))},
        timeout=TIMEOUT_S,
    )
    assert response.status_code == 200, response.text
    header = f"Content-Type: {response.headers['content-type']}\r\n\r\n".encode()
    parts = {
        p.get_param("name", header="content-disposition"): p
        for p in BytesParser(policy=HTTP).parsebytes(header + response.content).iter_parts()
    }
    name = parts["image"].get_filename()
    (tmp_path / name).write_bytes(parts["image"].get_payload(decode=True))
    image, low = sitk.ReadImage(str(tmp_path / name)), sitk.ReadImage(str(slab))
    assert image.GetSize() == (2 * low.GetSize()[0], 2 * low.GetSize()[1], low.GetSize()[2])
    direct = super_resolve_file(slab, load_sr_network(SR_BUNDLE / "models" / "model.pt", 2, "kspace"), 2)
    expected = direct.geometry  # the upsampled grid (prospective mode)
    assert image.GetSpacing() == pytest.approx(expected.spacing, abs=1e-5)
    assert image.GetOrigin() == pytest.approx(expected.origin, abs=1e-4)
    assert image.GetDirection() == pytest.approx(expected.direction, abs=1e-6)
    np.testing.assert_allclose(sitk.GetArrayFromImage(image), direct.super_resolved, rtol=1e-4, atol=1e-3)
