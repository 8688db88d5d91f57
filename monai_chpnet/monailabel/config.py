"""The MONAI Label ``TaskConfig`` that adds CHPNet reconstruction to an app (``--conf models chpnet_mri_recon``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, Optional, Union

from monailabel.interfaces.config import TaskConfig
from monailabel.interfaces.tasks.infer_v2 import InferTask
from monailabel.interfaces.tasks.train import TrainTask

from monai_chpnet.config_utils import flag
from monai_chpnet.inference import default_bundle_dir
from monai_chpnet.monailabel.infer import ReconstructionInferTask
from monai_chpnet.monailabel.sr_infer import SuperResolutionInferTask

__all__ = ["BUNDLE_CONF", "ReconstructionTaskConfig", "SR_BUNDLE_CONF", "SuperResolutionTaskConfig"]

logger = logging.getLogger(__name__)

#: ``--conf chpnet_bundle <folder>``: the bundle to serve (default: ``$MONAI_CHPNET_BUNDLE`` or the checkout's)
BUNDLE_CONF = "chpnet_bundle"
#: ``--conf chpnet_sr_bundle <folder>``: the super-resolution bundle (default: beside the reconstruction one)
SR_BUNDLE_CONF = "chpnet_sr_bundle"


class ReconstructionTaskConfig(TaskConfig):
    """Serves the ``chpnet_mri_recon`` bundle as the infer task named like the config (``chpnet_mri_recon``).

    App ``--conf`` keys it reads: ``chpnet_bundle`` (the bundle folder) and ``preload`` (``true``: build the
    network at start-up). There is no train task: MONAI Label only serves the bundle, whose own
    ``train_student.json`` trains it.

    MONAI Label's config discovery (``get_class_names(lib.configs, "TaskConfig")`` in the sample apps) lists only
    classes that name ``TaskConfig`` among their *direct* bases, so an app declares it as
    ``class ChpnetMriRecon(ReconstructionTaskConfig, TaskConfig)`` in ``lib/configs/chpnet_mri_recon.py``.
    """

    def init(self, name: str, model_dir: str, conf: Dict[str, str], planner: Any, **kwargs: Any) -> None:
        super().init(name, model_dir, conf, planner, **kwargs)
        folder = (conf or {}).get(BUNDLE_CONF)
        self.bundle_path: Union[str, Path] = Path(folder) if folder else default_bundle_dir()
        logger.info(f"+++ {name}: serving the bundle {self.bundle_path}")

    def infer(self) -> Union[InferTask, Dict[str, InferTask]]:
        return ReconstructionInferTask(
            self.bundle_path, preload=flag((self.conf or {}).get("preload", False), "preload")
        )

    def trainer(self) -> Optional[TrainTask]:
        return None


class SuperResolutionTaskConfig(ReconstructionTaskConfig):
    """Serves the ``chpnet_mri_sr`` bundle (``--conf chpnet_sr_bundle <folder>``) as
    :class:`~monai_chpnet.monailabel.sr_infer.SuperResolutionInferTask`: scale and degradation per request. An app
    declares it as ``class ChpnetMriSr(SuperResolutionTaskConfig, TaskConfig)`` in ``lib/configs/chpnet_mri_sr.py``."""

    def init(self, name: str, model_dir: str, conf: Dict[str, str], planner: Any, **kwargs: Any) -> None:
        TaskConfig.init(self, name, model_dir, conf, planner, **kwargs)
        folder = (conf or {}).get(SR_BUNDLE_CONF)
        self.bundle_path = Path(folder) if folder else SuperResolutionInferTask.default_bundle()
        logger.info(f"+++ {name}: serving the bundle {self.bundle_path}")

    def infer(self) -> Union[InferTask, Dict[str, InferTask]]:
        return SuperResolutionInferTask(
            self.bundle_path, preload=flag((self.conf or {}).get("preload", False), "preload")
        )
