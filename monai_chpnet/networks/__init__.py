"""Reconstruction networks: Swin teacher, sub-pixel CNN student, fastMRI U-Net baseline, data consistency.

Every network implements the interface of ``docs/CONTRACTS.md``::

    forward(image, kspace=None, mask=None) -> Tensor
    forward_features(image, kspace=None, mask=None) -> (Tensor, {tap: Tensor})   # one pass
    feature_info() -> {tap: (channels, stride)}

and builds from named presets (``TEACHER_PRESETS`` / ``STUDENT_PRESETS``: ``tiny``, ``small``, ``paper``).
Parameter and MAC counts: :mod:`monai_chpnet.networks.summary` (``python -m monai_chpnet.networks.summary``).
"""

from monai_chpnet.networks.data_consistency import (
    HardDataConsistency,
    LearnedAdjointUpdate,
    SoftDataConsistency,
    check_measurements,
    replication_upsampler,
)
from monai_chpnet.networks.phase import CentrePhaseReference, rotate_channels
from monai_chpnet.networks.student import (
    DEFAULT_STUDENT_PRESET,
    STUDENT_PRESETS,
    SubpixelCNNStudent,
    SubpixelDenoiser,
    student_from_preset,
)
from monai_chpnet.networks.teacher import (
    TEACHER_PRESETS,
    ResidualSwinGroup,
    SwinBlock2d,
    SwinRestorationTeacher,
    WindowAttention2d,
    shifted_window_mask,
    teacher_from_preset,
)
from monai_chpnet.networks.unet_baseline import FastMRIUNet

__all__ = [
    "HardDataConsistency",
    "SoftDataConsistency",
    "LearnedAdjointUpdate",
    "check_measurements",
    "replication_upsampler",
    "CentrePhaseReference",
    "rotate_channels",
    "SwinRestorationTeacher",
    "ResidualSwinGroup",
    "SwinBlock2d",
    "WindowAttention2d",
    "shifted_window_mask",
    "TEACHER_PRESETS",
    "teacher_from_preset",
    "SubpixelCNNStudent",
    "SubpixelDenoiser",
    "STUDENT_PRESETS",
    "DEFAULT_STUDENT_PRESET",
    "student_from_preset",
    "FastMRIUNet",
]
