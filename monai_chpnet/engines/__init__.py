"""Training and evaluation workflows on MONAI engines (Ignite): distillation trainer, evaluator, handlers.

Teacher pre-training and the student-alone baseline can use MONAI's stock ``SupervisedTrainer`` with
:class:`ReconPrepareBatch` and :class:`MagnitudeLoss`; distillation uses :class:`DistillationTrainer`, with
:class:`TeacherGuard` keeping a dynamic teacher near its pre-trained quality; :func:`teacher_win_rate` checks
before an ablation that the teacher has something to teach.
"""

from monai_chpnet.engines.diagnostics import teacher_win_rate
from monai_chpnet.engines.distillation import KD_MODES, DistillationTrainer, FeatureForward, scalar_outputs
from monai_chpnet.engines.evaluator import ReconEvaluator
from monai_chpnet.engines.handlers import (
    AtomicCheckpointSaver,
    ComparisonFigureSaver,
    DynamicKDWeightHandler,
    EpochSetter,
    ResumeFromCheckpoint,
    RunConfig,
    is_main_process,
    latest_checkpoint,
)
from monai_chpnet.engines.prepare import MagnitudeLoss, ReconPrepareBatch, denormalize_batch, match_target
from monai_chpnet.engines.settings import StudentSettings, TeacherSettings
from monai_chpnet.engines.teacher_guard import TeacherGuard

__all__ = [
    "KD_MODES",
    "AtomicCheckpointSaver",
    "ComparisonFigureSaver",
    "DistillationTrainer",
    "DynamicKDWeightHandler",
    "EpochSetter",
    "FeatureForward",
    "MagnitudeLoss",
    "ReconEvaluator",
    "ReconPrepareBatch",
    "ResumeFromCheckpoint",
    "RunConfig",
    "StudentSettings",
    "TeacherGuard",
    "TeacherSettings",
    "denormalize_batch",
    "is_main_process",
    "latest_checkpoint",
    "match_target",
    "scalar_outputs",
    "teacher_win_rate",
]
