"""``--conf models chpnet_mri_recon``: CHPNet MRI reconstruction from the ``chpnet_mri_recon`` bundle.

Copy this file into the ``lib/configs/`` folder of a MONAI Label app that discovers its configs like the
radiology sample app (``get_class_names(lib.configs, "TaskConfig")``) to serve the task next to its other models.
"""

from monailabel.interfaces.config import TaskConfig

from monai_chpnet.monailabel import ReconstructionTaskConfig


class ChpnetMriRecon(ReconstructionTaskConfig, TaskConfig):
    """The reconstruction task; ``TaskConfig`` is named again because MONAI Label's discovery lists only classes
    that have it among their direct bases."""
