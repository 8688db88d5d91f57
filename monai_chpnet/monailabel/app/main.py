"""A minimal MONAI Label app that serves CHPNet MRI reconstruction and super-resolution::

    monailabel start_server --app <a copy of this folder> --studies <folder of volumes> --conf models chpnet_mri_recon,chpnet_mri_sr

Models are the task configs in ``lib/configs`` (one module each, named as ``--conf models`` names them), found
the way MONAI Label's radiology sample app finds its own; ``--conf models`` takes a comma-separated list or
``all`` (the default).
"""

import importlib
import logging
import os
from typing import Dict

import lib.configs
from monailabel.interfaces.app import MONAILabelApp
from monailabel.interfaces.config import TaskConfig
from monailabel.interfaces.exception import MONAILabelError, MONAILabelException
from monailabel.interfaces.tasks.infer_v2 import InferTask
from monailabel.utils.others.class_utils import get_class_names

import monai_chpnet
from monai_chpnet.monailabel import ReconstructionTaskConfig, install_infer_route

logger = logging.getLogger(__name__)


def available_configs() -> Dict[str, str]:
    """``{model name: class path}`` of the ``TaskConfig`` classes in ``lib/configs`` (name = module name)."""
    return {path.split(".")[-2].lower(): path for path in get_class_names(lib.configs, "TaskConfig")}


class CHPNetReconstructionApp(MONAILabelApp):
    """Serves the task configs chosen by ``--conf models`` (inference only: no trainers)."""

    def __init__(self, app_dir: str, studies: str, conf: Dict[str, str]) -> None:
        configs = available_configs()
        names = [n.strip() for n in conf.get("models", "all").split(",") if n.strip()]
        names = list(configs) if "all" in names else names
        unknown = [n for n in names if n not in configs]
        if unknown or not names:
            raise MONAILabelException(
                MONAILabelError.APP_INIT_ERROR,
                f"unknown model(s) {unknown} in --conf models; available: all, {', '.join(configs)}",
            )
        self.models: Dict[str, TaskConfig] = {}
        for name in names:
            module, cls = configs[name].rsplit(".", 1)
            config: TaskConfig = getattr(importlib.import_module(module), cls)()
            config.init(name, os.path.join(app_dir, "model"), conf, None)
            self.models[name] = config
        logger.info(f"+++ Using models: {list(self.models)}")
        super().__init__(
            app_dir=app_dir,
            studies=studies,
            conf=conf,
            name="MONAI Label - CHPNet MRI reconstruction",
            description="Fast MRI reconstruction by a CNN student distilled from a Swin teacher (monai-chpnet)",
            version=monai_chpnet.__version__,
        )

    def on_init_complete(self) -> None:
        """Once the server runs: check the reconstruction's ``params`` and keep its uploads under their names."""
        super().on_init_complete()
        install_infer_route([n for n, c in self.models.items() if isinstance(c, ReconstructionTaskConfig)])

    def init_infers(self) -> Dict[str, InferTask]:
        infers: Dict[str, InferTask] = {}
        for name, config in self.models.items():
            task = config.infer()
            infers.update(task if isinstance(task, dict) else {name: task})
        return infers
