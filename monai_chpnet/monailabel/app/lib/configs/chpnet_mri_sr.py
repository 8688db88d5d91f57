"""``--conf models chpnet_mri_sr``: CHPNet MRI super-resolution (x2 / x4, per request) from the ``chpnet_mri_sr`` bundle.

Copy this file into the ``lib/configs/`` folder of a MONAI Label app that discovers its configs like the
radiology sample app (``get_class_names(lib.configs, "TaskConfig")``) to serve the task next to its other models.
"""

from monailabel.interfaces.config import TaskConfig

from monai_chpnet.monailabel import SuperResolutionTaskConfig


class ChpnetMriSr(SuperResolutionTaskConfig, TaskConfig):
    """The super-resolution task; ``TaskConfig`` is named again because MONAI Label's discovery lists only classes
    that have it among their direct bases."""
