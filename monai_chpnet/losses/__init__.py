"""Losses of the distillation workflow: plain ``nn.Module``s on images ``(B, C, H, W)`` (magnitude: ``C == 1``).

* :class:`ReconstructionLoss`: L1 + SSIM to the ground truth (``L_rec``);
* :class:`EdgeMagnitude`, :class:`EdgeLoss`: differentiable Sobel/Scharr edges and ``L_edge``;
* :class:`EdgeCorrectedKnowledge`: the teacher's output corrected where its edges are wrong (``K``);
* :class:`OutputDistillationLoss`: ``L_out(S, K)``;
* :class:`FeatureProjector`, :class:`HeterogeneousFeatureLoss`: CNN -> ViT feature distillation (``L_feat``);
* :class:`TeacherFeedbackLoss`: the teacher's feedback term (``L_fb``);
* :class:`DynamicKDWeight`: ``alpha_t`` from the teacher/student error gap;
* :class:`DistillationLoss`: ``L_S = L_rec + alpha_t L_out + beta L_feat + gamma L_edge`` with its terms for logging.
"""

from .distillation import DistillationLoss, DynamicKDWeight, OutputDistillationLoss, TeacherFeedbackLoss
from .edge import EdgeCorrectedKnowledge, EdgeLoss, EdgeMagnitude
from .feature import FeatureProjector, HeterogeneousFeatureLoss, default_feature_pairs
from .reconstruction import ReconstructionLoss

__all__ = [
    "default_feature_pairs",
    "DistillationLoss",
    "DynamicKDWeight",
    "EdgeCorrectedKnowledge",
    "EdgeLoss",
    "EdgeMagnitude",
    "FeatureProjector",
    "HeterogeneousFeatureLoss",
    "OutputDistillationLoss",
    "ReconstructionLoss",
    "TeacherFeedbackLoss",
]
