"""The training bundle's settings, checked and cast once.

``train_student.json`` and ``train_teacher.json`` list their command-line settings at the top; each config builds
one :class:`StudentSettings` / :class:`TeacherSettings` from them (``"settings"``, resolved in ``initialize`` so a
bad value stops the run before anything is built). Values given as strings on the command line are accepted
(``--feature_kd false`` arrives as the string ``'false'``, see :func:`monai_chpnet.config_utils.flag`), and every
error names its setting. The config reads the switches through it (``"$not @settings.edge_correction"``), and
:meth:`run_config` is the :class:`~monai_chpnet.engines.RunConfig` saved with the checkpoints and compared on
resume.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Any, Dict, Optional

from monai_chpnet.config_utils import flag, number, whole
from monai_chpnet.engines.distillation import KD_MODES
from monai_chpnet.engines.handlers import RunConfig
from monai_chpnet.losses import ALPHA_SIGNALS, FEATURE_PAIRINGS, KNOWLEDGE_RULES
from monai_chpnet.losses.distillation import KD_MIXES

__all__ = ["StudentSettings", "TeacherSettings"]

_FLAGS = ("edge_correction", "feature_kd", "teacher_bounded", "feedback_balance", "teacher_guard")
_NUMBERS = (
    "kd_ssim_weight",
    "alpha_temperature",
    "alpha_momentum",
    "feedback_ratio",
    "teacher_guard_margin",
    "unlabelled_weight",
    "phase_prob",
    "learning_rate",
    "teacher_learning_rate",
    "beta",
    "gamma",
    "tau",
    "feedback_weight",
)
_INTEGERS = ("knowledge_dilation", "hint_iterations", "patch_size", "batch_size", "seed")
_CHOICES = {
    "kd": KD_MODES,
    "kd_mix": KD_MIXES,
    "knowledge_rule": KNOWLEDGE_RULES,
    "feature_pairing": FEATURE_PAIRINGS,
    "alpha_signal": ALPHA_SIGNALS,
}


def _check(settings: Any, flags=(), numbers=(), integers=(), choices=None) -> None:
    for name in flags:
        setattr(settings, name, flag(getattr(settings, name), name))
    for name in numbers:
        setattr(settings, name, number(getattr(settings, name), name))
    for name in integers:
        setattr(settings, name, whole(getattr(settings, name), name))
    for name, allowed in (choices or {}).items():
        if getattr(settings, name) not in allowed:
            raise ValueError(f"{name} must be one of {tuple(allowed)}, got {getattr(settings, name)!r}.")


def _check_task(settings: Any) -> None:
    """``scale`` 1 is the k-space task; 2 / 4 super-resolution, with the ``degradation`` the low-res input is made by."""
    from monai_chpnet.transforms.degradation import SR_MODES

    settings.scale = whole(settings.scale, "scale")
    if settings.scale not in (1, 2, 4):
        raise ValueError(f"scale must be 1 (k-space reconstruction), 2 or 4 (super-resolution), got {settings.scale}.")
    if settings.scale == 1:
        return
    if settings.degradation not in SR_MODES:  # the networks' consistency step uses this one D
        raise ValueError(f"degradation must be one of {SR_MODES} for super-resolution, got {settings.degradation!r}.")
    if settings.patch_size % settings.scale:
        raise ValueError(f"patch_size {settings.patch_size} must be a multiple of scale {settings.scale}.")


def _task_record(settings: Any) -> Dict[str, Any]:
    """The task in a run's record: nothing for k-space (as its checkpoints have always been), else scale and
    degradation."""
    return {} if settings.scale == 1 else {"scale": settings.scale, "degradation": settings.degradation}


class _Validation:
    """What the validation metrics read from a batch of the ``dataset`` setting's kind."""

    dataset: str

    @property
    def volume_key(self) -> Optional[str]:
        """The batch key grouping slices into volumes: a fastMRI file's name; other sets are 2-D images."""
        return "fname" if self.dataset == "fastmri" else None

    @property
    def data_range_key(self) -> Optional[str]:
        """The batch key of each volume's data range (fastMRI's ``max``)."""
        return "max" if self.dataset == "fastmri" else None


@dataclass
class StudentSettings(_Validation):
    """``train_student.json``'s settings (the README's "Training" section says what each does)."""

    kd: str = "dynamic"
    edge_correction: bool = True
    feature_kd: bool = True
    teacher_bounded: bool = False
    kd_mix: str = "add"
    kd_ssim_weight: float = 0.0
    knowledge_rule: str = "mask"
    knowledge_dilation: int = 0
    feature_pairing: str = "depth"
    hint_iterations: int = 0
    alpha_signal: str = "batch"
    alpha_temperature: float = 0.25
    alpha_momentum: float = 0.9
    feedback_balance: bool = True
    feedback_ratio: float = 0.5
    teacher_guard: bool = True
    teacher_guard_margin: float = 0.2
    student_preset: str = "small"
    teacher_preset: str = "small"
    teacher_weights: Optional[str] = None
    dataset: str = "sample"
    unlabelled_dataset: Optional[str] = None
    unlabelled_dir: Optional[str] = None
    unlabelled_weight: float = 1.0
    patch_size: int = 96
    phase_prob: float = 0.25
    batch_size: int = 8
    learning_rate: float = 1e-3
    teacher_learning_rate: float = 5e-5
    beta: float = 0.1
    gamma: float = 0.5
    tau: float = 0.3
    feedback_weight: float = 1.0
    grad_clip_norm: Optional[float] = 1.0
    seed: int = 0
    scale: int = 1
    degradation: Any = None

    def __post_init__(self) -> None:
        _check(self, _FLAGS, _NUMBERS, _INTEGERS, _CHOICES)
        _check_task(self)
        if self.grad_clip_norm is not None:
            self.grad_clip_norm = number(self.grad_clip_norm, "grad_clip_norm")
        if self.kd != "none" and not self.teacher_weights:
            raise ValueError(f"teacher_weights must name the teacher's weights file for kd={self.kd!r}.")

    def recorded(self) -> Dict[str, Any]:
        """What must not change across a resume, under the keys checkpoints have always recorded."""
        return {
            "kd": self.kd,
            "edge_correction": self.edge_correction,
            "feature_kd": self.feature_kd,
            "teacher_bounded": self.teacher_bounded,
            "kd_mix": self.kd_mix,
            "kd_ssim_weight": self.kd_ssim_weight,
            "knowledge": {"rule": self.knowledge_rule, "dilation": self.knowledge_dilation}
            if self.edge_correction
            else None,
            "feature_pairing": self.feature_pairing,
            "hint_iterations": self.hint_iterations,
            "alpha": {
                "signal": self.alpha_signal,
                "temperature": self.alpha_temperature,
                "momentum": self.alpha_momentum,
            },
            "feedback": {"balance": self.feedback_balance, "ratio": self.feedback_ratio},
            "teacher_guard": self.teacher_guard_margin if self.teacher_guard else None,
            "student_preset": self.student_preset,
            "teacher_preset": self.teacher_preset,
            "dataset": self.dataset,
            "unlabelled": None
            if self.unlabelled_dataset is None
            else {"dataset": self.unlabelled_dataset, "dir": self.unlabelled_dir, "weight": self.unlabelled_weight},
            "patch_size": self.patch_size,
            "phase_prob": self.phase_prob,
            "batch_size": self.batch_size,
            "learning_rate": self.learning_rate,
            "teacher_learning_rate": self.teacher_learning_rate,
            "loss_weights": {
                "beta": self.beta,
                "gamma": self.gamma,
                "tau": self.tau,
                "feedback_weight": self.feedback_weight,
            },
            "grad_clip_norm": self.grad_clip_norm,
            "teacher_weights": None if self.kd == "none" else os.path.abspath(self.teacher_weights),
            "seed": self.seed,
            **_task_record(self),
        }

    def run_config(self) -> RunConfig:
        return RunConfig(self.recorded())


@dataclass
class TeacherSettings(_Validation):
    """``train_teacher.json``'s settings."""

    teacher_preset: str = "small"
    dataset: str = "sample"
    patch_size: int = 96
    phase_prob: float = 0.25
    batch_size: int = 8
    learning_rate: float = 5e-4
    init_weights: Optional[str] = None
    seed: int = 0
    scale: int = 1
    degradation: Any = None

    def __post_init__(self) -> None:
        _check(self, numbers=("phase_prob", "learning_rate"), integers=("patch_size", "batch_size", "seed"))
        self.init_weights = str(self.init_weights) if self.init_weights else None
        _check_task(self)

    def recorded(self) -> Dict[str, Any]:
        """What must not change across a resume, under the keys checkpoints have always recorded."""
        task = ("scale", "degradation")
        return {**{f.name: getattr(self, f.name) for f in fields(self) if f.name not in task}, **_task_record(self)}

    def run_config(self) -> RunConfig:
        return RunConfig(self.recorded())
