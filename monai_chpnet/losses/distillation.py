"""Output distillation, the teacher's feedback loss, the dynamic distillation weight and the student's total loss."""

from __future__ import annotations

import math
from typing import Any, Dict, Mapping, Optional

import torch
from torch import Tensor, nn

from .edge import EdgeCorrectedKnowledge, EdgeLoss
from .feature import HeterogeneousFeatureLoss
from .reconstruction import ReconstructionLoss

__all__ = ["KD_MIXES", "OutputDistillationLoss", "TeacherFeedbackLoss", "DynamicKDWeight", "DistillationLoss"]

KD_MIXES = ("add", "convex")


def closer_mask(candidate: Tensor, reference: Tensor, target: Tensor) -> Tensor:
    """``[|candidate - target| < |reference - target|]`` per pixel, as ``candidate``'s dtype, without gradient.

    The selection both directions of dynamic distillation use: the student learns from the knowledge where the
    knowledge is closer to the truth (:class:`OutputDistillationLoss` ``bounded=True``), the teacher from the student
    where the student is (:class:`TeacherFeedbackLoss`). Ties select nothing.
    """
    with torch.no_grad():
        return ((candidate - target).abs() < (reference - target).abs()).to(candidate.dtype)


class OutputDistillationLoss(nn.Module):
    """``L_out(S, K)``: L1 (or MSE) between the student's output and the (detached) knowledge ``K``, plus
    optionally ``ssim_weight * (1 - SSIM(S, K))``.

    With ``ssim_weight=1`` and L1 the term is the reconstruction loss (:class:`ReconstructionLoss`) with ``K`` in
    place of the ground truth: the student then learns the same kind of thing from the knowledge as from the truth,
    structure as well as intensities (the SSIM part, unlike the L1 part, is never bounded).

    With ``bounded=True`` (and the ground truth passed as ``target``) only the pixels where the knowledge is closer
    to the ground truth than the student are distilled -- the teacher-bounded regression loss of Chen et al.
    (NeurIPS 2017), the student-side mirror of :class:`TeacherFeedbackLoss`::

        m = [|K - GT| < |S - GT|]  (no gradient),    L_out = sum(m * d(S, K)) / numel

    Normalised by *all* pixels, the term fades by itself as the student overtakes its teacher, and it never pulls
    the student away from the truth towards a teacher that is wrong where the student is right (which plain output
    distillation does wherever the teacher is the weaker of the two).

    Args:
        distance: ``"l1"`` or ``"l2"`` (squared error).
        bounded: distil only where the knowledge beats the student (needs ``target``).
        ssim_weight: weight of ``1 - SSIM(S, K)`` (MONAI ``SSIMLoss`` as in :class:`ReconstructionLoss`, data range
            per sample from ``K``); ``0`` (default) for the pixel distance alone.

    Shapes:
        ``student``, ``knowledge`` (and ``target``): ``(B, C, H, W)`` -> scalar; no gradient reaches ``knowledge``.
    """

    def __init__(self, distance: str = "l1", bounded: bool = False, ssim_weight: float = 0.0) -> None:
        super().__init__()
        if distance not in ("l1", "l2"):
            raise ValueError(f"distance must be 'l1' or 'l2', got {distance!r}.")
        if ssim_weight < 0:
            raise ValueError(f"ssim_weight must be >= 0, got {ssim_weight}.")
        self.distance = distance
        self.bounded = bool(bounded)
        self.ssim_weight = float(ssim_weight)
        self.structure = ReconstructionLoss() if ssim_weight else None  # its 1 - SSIM, with K as the reference

    def forward(self, student: Tensor, knowledge: Tensor, target: Optional[Tensor] = None) -> Tensor:
        if student.shape != knowledge.shape or (target is not None and target.shape != student.shape):
            raise ValueError(
                f"student output, knowledge and target must have the same shape, got {tuple(student.shape)}, "
                f"{tuple(knowledge.shape)} and {None if target is None else tuple(target.shape)}."
            )
        knowledge = knowledge.detach()
        diff = student - knowledge
        per_pixel = diff.abs() if self.distance == "l1" else diff.pow(2)
        if not self.bounded:
            loss = per_pixel.mean()
        elif target is None:
            raise ValueError("a bounded OutputDistillationLoss needs the ground truth: call it with target=...")
        else:
            loss = (closer_mask(knowledge, student, target) * per_pixel).mean()
        if self.structure is not None:
            loss = loss + self.ssim_weight * self.structure.structural(student, knowledge)
        return loss


class TeacherFeedbackLoss(nn.Module):
    """``L_fb``: the teacher learns from the student where the student is already right.

    With ``m = [|S - GT| < |T - GT|]`` per pixel (no gradient) and the student output ``S`` detached::

        L_fb = sum(m * |T - S|) / numel  +  friendliness_weight * mean(|T - S|)

    The first term pulls the teacher toward the student only where the student is closer to the ground truth; it
    is normalised by *all* pixels, so it fades as the student rarely beats the teacher. The second, small term
    keeps the teacher's output within the student's reach everywhere (student-friendly teacher training,
    SFT-KD-Recon 2023); ``0`` disables it. Gradients reach the teacher only. The teacher's total loss is
    ``L_T = L_rec(T, GT) + lambda * L_fb``.

    Args:
        friendliness_weight: weight of the everywhere term.

    Shapes:
        ``teacher``, ``student``, ``target``: ``(B, C, H, W)`` -> scalar.
    """

    def __init__(self, friendliness_weight: float = 0.1) -> None:
        super().__init__()
        if friendliness_weight < 0:
            raise ValueError(f"friendliness_weight must be >= 0, got {friendliness_weight}.")
        self.friendliness_weight = friendliness_weight

    def forward(self, teacher: Tensor, student: Tensor, target: Tensor) -> Tensor:
        if not teacher.shape == student.shape == target.shape:
            raise ValueError(
                f"teacher, student and target must have the same shape, got {tuple(teacher.shape)}, "
                f"{tuple(student.shape)} and {tuple(target.shape)}."
            )
        student = student.detach()
        gap = (teacher - student).abs()
        return (closer_mask(student, teacher, target) * gap).mean() + self.friendliness_weight * gap.mean()


class DynamicKDWeight:
    """The distillation weight ``alpha_t`` from the measured teacher/student error gap.

    ``update(err_s, err_t)`` (errors where lower is better, e.g. validation NMSE or L1) sets
    ``alpha = err_s / (err_s + err_t)``: 0.5 when the student is as good as the teacher, towards 1 while it lags
    behind, below 0.5 once it is better, so distillation fades as the student catches up. The new value is blended
    with the previous one by ``momentum`` (``alpha <- momentum * alpha_prev + (1 - momentum) * alpha_new``; 0 for
    no smoothing) and clipped to ``[alpha_min, alpha_max]``. Checkpoint it with ``state_dict`` /
    ``load_state_dict`` (e.g. in MONAI's ``CheckpointSaver`` ``save_dict``).

    Args:
        initial: ``alpha`` before the first update.
        alpha_min, alpha_max: clipping range.
        momentum: EMA smoothing in ``[0, 1)``.
    """

    def __init__(self, initial: float = 0.5, alpha_min: float = 0.0, alpha_max: float = 1.0, momentum: float = 0.0):
        if not 0.0 <= alpha_min <= alpha_max:
            raise ValueError(f"need 0 <= alpha_min <= alpha_max, got alpha_min={alpha_min}, alpha_max={alpha_max}.")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}.")
        self.alpha_min, self.alpha_max, self.momentum = alpha_min, alpha_max, momentum
        self.value = min(max(float(initial), alpha_min), alpha_max)
        self.num_updates = 0

    def __float__(self) -> float:
        return self.value

    def update(self, student_error: float, teacher_error: float) -> float:
        """Set ``alpha`` from the latest errors (finite, >= 0) and return it."""
        errors = (float(student_error), float(teacher_error))
        if not all(math.isfinite(e) and e >= 0 for e in errors):
            raise ValueError(
                f"errors must be finite and >= 0, got student_error={errors[0]}, teacher_error={errors[1]}."
            )
        total = sum(errors)
        target = 0.5 if total == 0 else errors[0] / total
        blended = self.momentum * self.value + (1.0 - self.momentum) * target
        self.value = min(max(blended, self.alpha_min), self.alpha_max)
        self.num_updates += 1
        return self.value

    def state_dict(self) -> Dict[str, Any]:
        return {"value": self.value, "num_updates": self.num_updates}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        missing = {"value", "num_updates"} - set(state_dict)
        if missing:
            raise KeyError(f"DynamicKDWeight state is missing {sorted(missing)}.")
        self.value = float(state_dict["value"])
        self.num_updates = int(state_dict["num_updates"])


class DistillationLoss(nn.Module):
    """The student's loss ``L_S = L_rec(S, GT) + alpha * L_out(S, K) + beta * L_feat + gamma * L_edge(S, GT)``.

    With ``mix="convex"`` the ground truth and the knowledge share one weight instead:
    ``L_S = (1 - alpha) * L_rec(S, GT) + alpha * L_out(S, K) + beta * L_feat + gamma * L_edge(S, GT)`` -- Hinton's
    form of distillation, in which ``alpha`` (e.g. :class:`DynamicKDWeight`, about ``err_S / (err_S + err_T)``)
    moves the student's target between the truth and the teacher rather than adding a term on top of the truth.

    With ``teacher=None`` only ``L_rec + gamma * L_edge`` is computed (the student-alone baseline, ``kd="none"``),
    so every ablation arm goes through the same loss. ``K`` is :class:`EdgeCorrectedKnowledge` of the teacher's
    output when ``knowledge`` is given, else the detached
    teacher output. The feature term needs ``feature`` and both networks' tap dicts. The module's parameters are
    the feature projectors: optimise them with the student.

    Args:
        reconstruction: ``L_rec`` (default :class:`ReconstructionLoss`).
        output: ``L_out``, called as ``output(student, knowledge, target)`` (default :class:`OutputDistillationLoss`,
            L1; ``OutputDistillationLoss(bounded=True)`` distils only where the knowledge beats the student).
        knowledge: edge correction of the teacher's output; ``None`` uses the teacher output as it is.
        feature: ``L_feat``; ``None`` disables it.
        edge: ``L_edge`` (default :class:`EdgeLoss`, Sobel); disable with ``gamma=0``.
        beta, gamma: weights of ``L_feat`` and ``L_edge`` (``alpha`` is given per call, see
            :class:`DynamicKDWeight`). Starting points for scale-normalised images: ``L_feat`` is O(1) at the start
            (normalised features), ``L_edge`` about half of an L1 image error.
        mix: ``"add"`` (``L_rec + alpha L_out``) or ``"convex"`` (``(1 - alpha) L_rec + alpha L_out``); without a
            teacher both are ``L_rec``.

        unlabelled_weight: weight of ``L_unl``, the output distillation on inputs without a reference (below).

    Inputs without a reference (prospectively undersampled scans, images whose truth is not to be used): when
    ``student`` has more rows than ``target``, the rows beyond ``target.shape[0]`` are such inputs. They add
    ``unlabelled_weight * L_unl`` with ``L_unl = L_out(S_u, T_u)`` -- the teacher's output as it is, since edge
    correction and bounding need the truth -- and take part in ``L_feat`` (which needs no truth); ``L_rec``,
    ``L_edge`` and ``L_out`` use the labelled rows only.

    Shapes:
        ``student``, ``teacher``: ``(B + U, C, H, W)``; ``target``: ``(B, C, H, W)``; tap dicts: ``(B + U, ...)``.

    Returns (``forward``):
        ``{"rec", "out", "feat", "edge", "unl", "total"}``: scalar tensors, the unweighted terms and the weighted
        total (disabled terms are 0), for logging.
    """

    def __init__(
        self,
        reconstruction: Optional[nn.Module] = None,
        output: Optional[nn.Module] = None,
        knowledge: Optional[EdgeCorrectedKnowledge] = None,
        feature: Optional[HeterogeneousFeatureLoss] = None,
        edge: Optional[nn.Module] = None,
        beta: float = 0.1,
        gamma: float = 0.5,
        mix: str = "add",
        unlabelled_weight: float = 1.0,
    ) -> None:
        super().__init__()
        if mix not in KD_MIXES:
            raise ValueError(f"mix must be one of {KD_MIXES}, got {mix!r}.")
        if unlabelled_weight < 0:
            raise ValueError(f"unlabelled_weight must be >= 0, got {unlabelled_weight}.")
        self.unlabelled_weight = float(unlabelled_weight)
        self.mix = mix
        self.reconstruction = reconstruction if reconstruction is not None else ReconstructionLoss()
        self.output = output if output is not None else OutputDistillationLoss()
        self.knowledge = knowledge
        self.feature = feature
        self.edge = edge if edge is not None else EdgeLoss()
        self.beta, self.gamma = beta, gamma

    def forward(
        self,
        student: Tensor,
        teacher: Optional[Tensor],
        target: Tensor,
        alpha: float,
        student_features: Optional[Mapping[str, Tensor]] = None,
        teacher_features: Optional[Mapping[str, Tensor]] = None,
    ) -> Dict[str, Tensor]:
        labelled = target.shape[0]
        if (
            student.shape[1:] != target.shape[1:]
            or student.shape[0] < labelled
            or (teacher is not None and teacher.shape != student.shape)
        ):
            raise ValueError(
                f"student output, teacher output and target must have the same shape (the student and teacher may "
                f"have extra unlabelled rows), got {tuple(student.shape)}, "
                f"{None if teacher is None else tuple(teacher.shape)} and {tuple(target.shape)}."
            )
        unlabelled = student.shape[0] - labelled
        if unlabelled and teacher is None:
            raise ValueError(
                f"{unlabelled} of {student.shape[0]} student rows have no target: inputs without a reference can only "
                "be distilled, so they need a teacher (kd='static' or 'dynamic')."
            )
        if unlabelled and getattr(self.output, "bounded", False):
            raise ValueError(
                "teacher-bounded distillation needs the truth at every pixel; it cannot use inputs without a "
                "reference (drop the unlabelled data or teacher_bounded)."
            )
        zero = student.new_zeros(())
        s_lab = student[:labelled]
        terms = {"rec": self.reconstruction(s_lab, target), "out": zero, "feat": zero, "edge": zero, "unl": zero}
        if teacher is None:  # no distillation (the student-alone baseline): L_rec + gamma * L_edge only
            alpha, student_features = 0.0, None
        if alpha:
            t_lab = teacher[:labelled]
            knowledge = self.knowledge(t_lab, target) if self.knowledge is not None else t_lab.detach()
            terms["out"] = self.output(s_lab, knowledge, target)
        if unlabelled:
            terms["unl"] = self.output(student[labelled:], teacher[labelled:].detach())
        if self.gamma:
            terms["edge"] = self.edge(s_lab, target)
        if self.feature is not None and self.beta and teacher is not None:
            if student_features is None or teacher_features is None:
                raise ValueError("the feature term needs student_features and teacher_features (forward_features).")
            terms["feat"] = self.feature(student_features, teacher_features)
        rec_weight = 1.0 - alpha if self.mix == "convex" else 1.0
        terms["total"] = (
            rec_weight * terms["rec"]
            + alpha * terms["out"]
            + self.beta * terms["feat"]
            + self.gamma * terms["edge"]
            + self.unlabelled_weight * terms["unl"]
        )
        return terms
