"""MONAI Label integration: serve the ``chpnet_mri_recon`` bundle as an infer task (``POST /infer/chpnet_mri_recon``).

* :class:`ReconstructionInferTask`: a ``BasicInferTask`` (``InferType.OTHERS``) that returns the reconstructed
  *image* with the input's geometry, and the metrics as the result JSON;
* :class:`ReconstructionTaskConfig`: the ``TaskConfig`` an app lists under ``--conf models chpnet_mri_recon``;
* :class:`SuperResolutionInferTask` / :class:`SuperResolutionTaskConfig`: the ``chpnet_mri_sr`` bundle, scale and
  degradation per request (``POST /infer/chpnet_mri_sr``);
* :data:`SAMPLE_APP_DIR`: a minimal app serving it (``monailabel start_server --app <it> --studies <folder>
  --conf models chpnet_mri_recon``).

MONAI Label is an optional extra, installed by ``scripts/setup.sh test`` from ``requirements-monailabel*.txt``;
see ``README.md`` beside this file. Nothing else in ``monai_chpnet`` imports this package.
"""

from pathlib import Path

try:
    import monailabel.interfaces.config  # noqa: F401  (a submodule: a stray "monailabel" folder is no package)
except ImportError as _err:
    raise ImportError(
        f"monai_chpnet.monailabel needs MONAI Label ({_err}). Install it as scripts/setup.sh does: "
        "pip install -c constraints.txt -r requirements-monailabel.txt, then "
        "pip install -c constraints.txt --no-deps -r requirements-monailabel-nodeps.txt "
        "(see monai_chpnet/monailabel/README.md)."
    ) from _err

from monai_chpnet.monailabel.config import (
    BUNDLE_CONF,
    SR_BUNDLE_CONF,
    ReconstructionTaskConfig,
    SuperResolutionTaskConfig,
)
from monai_chpnet.monailabel.infer import PARAMS_KEY, ParseReconRequestd, ReconstructionInferTask
from monai_chpnet.monailabel.params import RECON_DEFAULTS, InvalidRequest, ReconParams, parse_recon_params
from monai_chpnet.monailabel.routes import install_infer_route
from monai_chpnet.monailabel.sr_infer import SuperResolutionInferTask

__all__ = [
    "BUNDLE_CONF",
    "InvalidRequest",
    "PARAMS_KEY",
    "ParseReconRequestd",
    "RECON_DEFAULTS",
    "ReconParams",
    "ReconstructionInferTask",
    "ReconstructionTaskConfig",
    "SAMPLE_APP_DIR",
    "SR_BUNDLE_CONF",
    "SuperResolutionInferTask",
    "SuperResolutionTaskConfig",
    "install_infer_route",
    "parse_recon_params",
]

#: the sample MONAI Label app (``main.py`` + ``lib/configs/chpnet_mri_recon.py``); copy it before serving it:
#: ``monailabel start_server`` creates ``model/``, ``logs/`` and ``bin/`` folders inside the app
SAMPLE_APP_DIR = Path(__file__).resolve().parent / "app"
