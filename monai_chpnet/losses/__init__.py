"""Losses of the distillation workflow: plain ``nn.Module``s on images ``(B, C, H, W)`` (magnitude: ``C == 1``).

* :class:`ReconstructionLoss`: L1 + SSIM to the ground truth (``L_rec``);
* :class:`EdgeMagnitude`, :class:`EdgeLoss`: differentiable Sobel/Scharr edges and ``L_edge``;
* :class:`EdgeCorrectedKnowledge`: the teacher's output corrected only where its edges are wrong (``K``, equal to
  ``T`` wherever they are right);
* :class:`OutputDistillationLoss`: ``L_out(S, K)``;
* :class:`FeatureProjector`, :class:`HeterogeneousFeatureLoss`: CNN -> ViT feature distillation (``L_feat``), with
  :func:`default_feature_pairs` pairing each student cascade with the teacher group at its relative depth;
* :class:`TeacherFeedbackLoss`: the teacher's feedback term (``L_fb``), weighted by :class:`BalancedFeedbackWeight`
  so its gradient is a set fraction of the teacher's reconstruction gradient;
* :class:`DynamicKDWeight`: ``alpha_t`` from the teacher/student error ratio (per batch or per validation);
* :class:`DistillationLoss`: ``L_S = L_rec + alpha_t L_out + beta L_feat + gamma L_edge`` with its terms for logging.
"""

from .distillation import (
    ALPHA_SIGNALS,
    BalancedFeedbackWeight,
    DistillationLoss,
    DynamicKDWeight,
    OutputDistillationLoss,
    TeacherFeedbackLoss,
)
from .edge import KNOWLEDGE_RULES, EdgeCorrectedKnowledge, EdgeLoss, EdgeMagnitude
from .feature import FEATURE_PAIRINGS, FeatureProjector, HeterogeneousFeatureLoss, default_feature_pairs, matched_group
from .reconstruction import ReconstructionLoss

__all__ = [
    "ALPHA_SIGNALS",
    "FEATURE_PAIRINGS",
    "KNOWLEDGE_RULES",
    "BalancedFeedbackWeight",
    "default_feature_pairs",
    "matched_group",
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
