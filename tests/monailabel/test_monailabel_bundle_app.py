"""MONAI Label's stock bundle app serves the bundle as it is: ``BundleInferTask`` (what the ``monaibundle`` sample
app builds for every bundle in ``--conf models``) reads ``configs/inference.json``'s ``preprocessing``,
``inferer`` and ``postprocessing`` and ``displayable_configs``, and answers with the reconstruction, on a real
server on 127.0.0.1. No monai-chpnet code in the app: only the bundle's config calls it."""

import importlib.util
import json
import shutil
import textwrap
from pathlib import Path
from email.parser import BytesParser
from email.policy import HTTP

import numpy as np
import pytest
import SimpleITK as sitk
from monailabel_fixtures import MONAILABEL_REQUIRED, assert_same_geometry, write_slab

pytest.importorskip(MONAILABEL_REQUIRED, reason="MONAI Label is an optional extra (bash scripts/setup.sh test)")
requests = pytest.importorskip("requests")

from monailabel_server_support import monailabel_server  # noqa: E402

from monai_chpnet.inference import default_bundle_dir, load_bundle_network, reconstruct_file  # noqa: E402
from monai_chpnet.metrics import psnr  # noqa: E402

MODEL = "chpnet_mri_recon"
TIMEOUT_S = 120.0
#: torchvision stand-ins, on the server's path only without a torchvision (see shims/torchvision/__init__.py)
SHIMS = [] if importlib.util.find_spec("torchvision") else [Path(__file__).with_name("shims")]

#: the monaibundle sample app's inference part (MONAILabel/sample-apps/monaibundle/main.py), which is not in the wheel
STOCK_APP = textwrap.dedent(
    """
    from typing import Dict

    import monailabel
    from monailabel.interfaces.app import MONAILabelApp
    from monailabel.interfaces.tasks.infer_v2 import InferTask
    from monailabel.tasks.infer.bundle import BundleInferTask
    from monailabel.utils.others.generic import get_bundle_models


    class MyApp(MONAILabelApp):
        def __init__(self, app_dir, studies, conf):
            self.models = get_bundle_models(app_dir, conf)
            super().__init__(
                app_dir=app_dir,
                studies=studies,
                conf=conf,
                name=f"MONAILabel - Zoo/Bundle ({monailabel.__version__})",
                description="DeepLearning models provided via MONAI Zoo/Bundle",
                version=monailabel.__version__,
            )

        def init_infers(self) -> Dict[str, InferTask]:
            return {n: BundleInferTask(b, self.conf) for n, b in self.models.items()}
    """
)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("monaibundle")
    app = root / "app"
    (app / "model").mkdir(parents=True)
    (app / "main.py").write_text(STOCK_APP)
    shutil.copytree(default_bundle_dir(), app / "model" / MODEL, ignore=shutil.ignore_patterns("eval", "docs", "runs"))
    studies = root / "studies"
    studies.mkdir()
    slab = write_slab(studies / "t1_slab.nii.gz")
    conf = {"models": MODEL, "zoo_source": "github", "preload": "false"}  # github: bundles from app/model
    pytest.importorskip("shapely", reason="the stock bundle app needs requirements-monailabel-bundle.txt")
    with monailabel_server(root, app, studies, conf, python_path=SHIMS) as url:
        yield url, slab


def _infer(url, params):
    response = requests.post(
        f"{url}/infer/{MODEL}",
        params={"image": "t1_slab"},
        files={"params": (None, json.dumps(params))},
        timeout=TIMEOUT_S,
    )
    assert response.status_code == 200, response.text
    header = f"Content-Type: {response.headers['content-type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(header + response.content)
    parts = {part.get_param("name", header="content-disposition"): part for part in message.iter_parts()}
    return (
        json.loads(parts["params"].get_content()),
        parts["image"].get_filename(),
        parts["image"].get_payload(decode=True),
    )


def test_info_shows_the_bundles_displayable_settings(served):
    url, _ = served
    config = requests.get(f"{url}/info/", timeout=TIMEOUT_S).json()["models"][MODEL]["config"]
    assert {k: config[k] for k in ("acceleration", "mask_type", "seed", "undersampled", "slice_axis")} == {
        "acceleration": 4.0,
        "mask_type": "random",
        "seed": 0,
        "undersampled": False,
        "slice_axis": 0,
    }


@pytest.mark.parametrize("params", [{}, {"acceleration": 8, "mask_type": "equispaced", "seed": 3}])
def test_the_stock_bundle_task_reconstructs_with_the_inputs_geometry(served, tmp_path, params):
    url, slab = served
    result, name, data = _infer(url, params)
    (tmp_path / name).write_bytes(data)
    image, reference = sitk.ReadImage(str(tmp_path / name)), sitk.ReadImage(str(slab))
    assert_same_geometry(image, reference)
    settings = {"acceleration": 4.0, "mask_type": "random", "seed": 0, **params}
    direct = reconstruct_file(slab, load_bundle_network(), **settings)
    np.testing.assert_allclose(sitk.GetArrayFromImage(image), direct.reconstruction, rtol=1e-4, atol=1e-3)
    ref = sitk.GetArrayFromImage(reference).astype(np.float32)
    assert psnr(ref, sitk.GetArrayFromImage(image)) > psnr(ref, direct.zero_filled) + 1.0
    m = result["metrics"]
    assert m["reconstruction"]["psnr"] == pytest.approx(direct.metrics["reconstruction"]["psnr"], abs=1e-3)
    assert result["acceleration"] == pytest.approx(direct.acceleration)
