"""Output distillation, the teacher's feedback loss, the dynamic distillation weight and the student's total loss."""

from __future__ import annotations

import math
from typing import Any, Dict, Mapping, Optional

import torch
from torch import Tensor, nn

from .edge import EdgeCorrectedKnowledge, EdgeLoss
from .feature import HeterogeneousFeatureLoss
from .reconstruction import ReconstructionLoss

__all__ = [
    "ALPHA_SIGNALS",
    "KD_MIXES",
    "BalancedFeedbackWeight",
    "OutputDistillationLoss",
    "TeacherFeedbackLoss",
    "DynamicKDWeight",
    "DistillationLoss",
]

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
        ssim_weight = float(ssim_weight)  # numbers given as strings ('1.0') are accepted
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


ALPHA_SIGNALS = ("batch", "validation")


class DynamicKDWeight:
    """The distillation weight ``alpha_t`` from the measured teacher/student error ratio.

    ``update(err_s, err_t)`` (errors where lower is better: the mean squared errors of a training batch, or
    validation NMSE) sets the target value ``sigmoid(log(err_s / err_t) / temperature) = err_s^(1/T) / (err_s^(1/T)
    + err_t^(1/T))``: 0.5 when the student is as good as the teacher, towards 1 while it lags behind, below 0.5 once it
    is better, so distillation fades as the student catches up. ``temperature=1`` is ``err_s / (err_s + err_t)``,
    which barely moves: a student 1 dB behind its teacher (squared-error ratio 1.26) gives 0.56 (measured: 0.50 ->
    0.62 -> 0.55 over whole runs). A smaller temperature spreads the same ratios over the range: with 0.25 the ratio
    1.26 gives 0.72, 1.5 gives 0.84, 0.9 gives 0.40 (on training batches, squared-error ratios of 0.74-1.16 were
    measured for students after 200 iterations and 1.18-1.74 for the shipped pair).
    The target is blended with the previous value by ``momentum`` (``alpha <- momentum * alpha_prev +
    (1 - momentum) * target``; 0 for none) and clipped to ``[alpha_min, alpha_max]``.

    ``signal`` says what drives it: ``"batch"``, the :class:`~monai_chpnet.engines.DistillationTrainer` updates it
    from every training batch's errors (``kd="dynamic"`` only; a signal that moves with every step), or
    ``"validation"``, :class:`~monai_chpnet.engines.DynamicKDWeightHandler` after each validation. Checkpoint it
    with ``state_dict`` / ``load_state_dict`` (e.g. in MONAI's ``CheckpointSaver`` ``save_dict``).

    Args:
        initial: ``alpha`` before the first update.
        alpha_min, alpha_max: clipping range.
        momentum: EMA smoothing in ``[0, 1)``.
        temperature: ``T > 0`` of the sigmoid.
        signal: ``"batch"`` or ``"validation"``.
    """

    def __init__(
        self,
        initial: float = 0.5,
        alpha_min: float = 0.0,
        alpha_max: float = 1.0,
        momentum: float = 0.0,
        temperature: float = 1.0,
        signal: str = "validation",
    ):
        momentum, temperature = float(momentum), float(temperature)  # numbers given as strings are accepted
        if not 0.0 <= alpha_min <= alpha_max:
            raise ValueError(f"need 0 <= alpha_min <= alpha_max, got alpha_min={alpha_min}, alpha_max={alpha_max}.")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}.")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}.")
        if signal not in ALPHA_SIGNALS:
            raise ValueError(f"signal must be one of {ALPHA_SIGNALS}, got {signal!r}.")
        self.alpha_min, self.alpha_max, self.momentum = alpha_min, alpha_max, momentum
        self.temperature, self.signal = float(temperature), signal
        self.value = min(max(float(initial), alpha_min), alpha_max)
        self.num_updates = 0

    def __float__(self) -> float:
        return self.value

    def target(self, student_error: float, teacher_error: float) -> float:
        """The unsmoothed, unclipped value for these errors (finite, >= 0)."""
        errors = (float(student_error), float(teacher_error))
        if not all(math.isfinite(e) and e >= 0 for e in errors):
            raise ValueError(
                f"errors must be finite and >= 0, got student_error={errors[0]}, teacher_error={errors[1]}."
            )
        err_s, err_t = errors
        if err_s == err_t:
            return 0.5
        if err_t == 0 or err_s == 0:
            return 1.0 if err_t == 0 else 0.0
        z = math.log(err_s / err_t) / self.temperature
        return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))

    def update(self, student_error: float, teacher_error: float) -> float:
        """Set ``alpha`` from the latest errors (finite, >= 0) and return it."""
        target = self.target(student_error, teacher_error)
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


class BalancedFeedbackWeight:
    """The feedback weight ``lambda_t`` of the dynamic teacher, set each iteration so that the feedback moves it.

    ``L_T = L_rec(T, GT) + lambda_t L_fb``, with ``lambda_t = ratio * ||dL_rec/dT|| / ||dL_fb/dT||`` (gradients with
    respect to the teacher's output image, a cheap backward through the losses only, not the network), capped at
    ``max_weight``: the feedback's gradient at the teacher's output is ``ratio`` times the reconstruction's (exactly,
    below the cap). A fixed ``lambda = 1`` gave a feedback gradient 0.15-0.31 (mean 0.22) of the reconstruction's
    there (a loss about 0.1 of it), and in the first ablation the teacher did not measurably learn from the
    student. Through the network the two gradients keep the same order: on the shipped pair the parameter-gradient
    ratio was 1.2-5x (mean 2.6x) the output one. The default ``ratio=0.5`` (``lambda_t`` about 2-3 at first) moves
    the teacher: fine-tuning the shipped teacher for 100 iterations, its validation PSNR fell by 0.59 dB from
    ``L_rec`` alone (learning rate 5e-5), by 1.0-1.2 dB with the feedback at ratio 0.5, and by 1.7 dB at ratio 1
    (toward students that had not learnt much yet) -- so :class:`~monai_chpnet.engines.TeacherGuard` keeps it within
    a margin of its pre-trained quality, lowering ``ratio`` during a run when it drops; ``ratio`` is checkpointed
    with ``state_dict``.

    Args:
        ratio: feedback / reconstruction gradient norm at the teacher's output, ``>= 0``.
        max_weight: cap of ``lambda_t`` (where the feedback's gradient vanishes, e.g. the student is nowhere closer).
    """

    def __init__(self, ratio: float = 0.5, max_weight: float = 100.0) -> None:
        ratio = float(ratio)  # numbers given as strings ('0.5') are accepted
        if not ratio >= 0 or not max_weight > 0:
            raise ValueError(f"need ratio >= 0 and max_weight > 0, got ratio={ratio}, max_weight={max_weight}.")
        self.ratio, self.max_weight = float(ratio), float(max_weight)

    def __call__(self, reconstruction: Tensor, feedback: Tensor, teacher_output: Tensor) -> float:
        """``lambda_t`` for these two scalar losses of ``teacher_output`` (their graphs are kept for the step)."""
        if self.ratio == 0:
            return 0.0
        g_rec = torch.autograd.grad(reconstruction, teacher_output, retain_graph=True, allow_unused=True)[0]
        g_fb = torch.autograd.grad(feedback, teacher_output, retain_graph=True, allow_unused=True)[0]
        return self.weight(g_rec, g_fb)

    def weight(self, rec_grad: Optional[Tensor], fb_grad: Optional[Tensor]) -> float:
        rec_norm = 0.0 if rec_grad is None else float(rec_grad.detach().norm())
        fb_norm = 0.0 if fb_grad is None else float(fb_grad.detach().norm())
        if fb_norm == 0 or not math.isfinite(fb_norm) or not math.isfinite(rec_norm):
            return 0.0
        return min(self.ratio * rec_norm / fb_norm, self.max_weight)

    def state_dict(self) -> Dict[str, Any]:
        return {"ratio": self.ratio}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        if "ratio" not in state_dict:
            raise KeyError("BalancedFeedbackWeight state is missing ['ratio'].")
        self.ratio = float(state_dict["ratio"])


class DistillationLoss(nn.Module):
    """The student's loss ``L_S = L_rec(S, GT) + alpha * L_out(S, K) + beta * L_feat + gamma * L_edge(S, GT)``.

    With ``mix="convex"`` the ground truth and the knowledge share one weight instead:
    ``L_S = (1 - alpha) * L_rec(S, GT) + alpha * L_out(S, K) + beta * L_feat + gamma * L_edge(S, GT)`` -- Hinton's
    form of distillation, in which ``alpha`` (e.g. :class:`DynamicKDWeight`, ``sigmoid(log(err_S / err_T) / T)``)
    moves the student's target between the truth and the teacher rather than adding a term on top of the truth.

    With ``teacher=None`` only ``L_rec + gamma * L_edge`` is computed (the student-alone baseline, ``kd="none"``),
    so every ablation arm goes through the same loss. ``K`` is :class:`EdgeCorrectedKnowledge` of the teacher's
    output when ``knowledge`` is given (the teacher's output, replaced by the truth only where its edges are wrong),
    else the detached teacher output. The feature term needs ``feature`` and both networks' tap dicts. The module's
    parameters are the feature projectors: optimise them with the student.

    Args:
        reconstruction: ``L_rec`` (default :class:`ReconstructionLoss`).
        output: ``L_out``, called as ``output(student, knowledge, target)`` (default :class:`OutputDistillationLoss`,
            L1; ``OutputDistillationLoss(bounded=True)`` distils only where the knowledge beats the student).
        knowledge: edge correction of the teacher's output (:class:`EdgeCorrectedKnowledge`); ``None`` uses the
            teacher output as it is.
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

    Hint stage (``forward(..., hint=True)``, the KD-MRI mechanism): the total is ``L_feat`` alone (unweighted,
    computed whatever ``beta``), the student and its projectors imitate the teacher's features before they see the
    truth; the other terms are still returned (``L_rec`` for logging, the rest 0).

    Shapes:
        ``student``, ``teacher``: ``(B + U, C, H, W)``; ``target``: ``(B, C, H, W)``; tap dicts: ``(B + U, ...)``.

    Returns (``forward``):
        ``{"rec", "out", "feat", "edge", "unl", "total"}``: scalar tensors, the unweighted terms and the weighted
        total (disabled terms are 0), for logging; and ``"corrected"``, the truth's share of ``K`` (the fraction of
        pixels the edge correction replaced, see :meth:`EdgeCorrectedKnowledge.correct`; 0 without it), no
        gradient.
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
        unlabelled_weight = float(unlabelled_weight)
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
        hint: bool = False,
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
        if hint and (teacher is None or self.feature is None):
            raise ValueError("the hint stage trains on L_feat alone: it needs a teacher and the feature term.")
        if unlabelled and getattr(self.output, "bounded", False):
            raise ValueError(
                "teacher-bounded distillation needs the truth at every pixel; it cannot use inputs without a "
                "reference (drop the unlabelled data or teacher_bounded)."
            )
        zero = student.new_zeros(())
        s_lab = student[:labelled]
        terms = {"rec": self.reconstruction(s_lab, target), "out": zero, "feat": zero, "edge": zero, "unl": zero}
        terms["corrected"] = zero
        if hint:
            if student_features is None or teacher_features is None:
                raise ValueError("the hint stage needs student_features and teacher_features (forward_features).")
            terms["feat"] = self.feature(student_features, teacher_features)
            # + 0 * S: every student parameter stays in the graph (DistributedDataParallel expects a gradient for
            # each, also for the layers after the last tapped feature)
            terms["total"] = terms["feat"] + 0.0 * student.sum()
            return terms
        if teacher is None:  # no distillation (the student-alone baseline): L_rec + gamma * L_edge only
            alpha, student_features = 0.0, None
        if alpha:
            t_lab = teacher[:labelled]
            knowledge = t_lab.detach()
            if self.knowledge is not None:
                knowledge, terms["corrected"] = self.knowledge.correct(t_lab, target)
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
