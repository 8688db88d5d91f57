"""``TeacherGuard``: a teacher that learns while teaching must not unlearn what it came to teach.

In dynamic distillation the teacher follows ``L_T = L_rec(T, GT) + lambda_t L_fb``; once the feedback is strong
enough to change it (:class:`~monai_chpnet.losses.BalancedFeedbackWeight`), it can also change it for the worse --
and so can its own updates: a converged teacher fine-tuned by a fresh Adam lost 0.59 dB of validation PSNR in 100
iterations at learning rate 5e-5 and 0.32 dB at 1e-5 from ``L_rec`` alone (the shipped teacher on the training
recipe's 64-pixel patches; the balanced feedback at ratio 0.5 toward an untrained student: 1.0-1.2 dB). The guard
watches the teacher's validation score and holds it within ``margin`` of its pre-trained value:

* **baseline**: before the first training iteration of a fresh run, the pre-trained teacher is scored once on the
  validation data (its own :class:`~monai_chpnet.engines.ReconEvaluator`, ``metric``: the same definition as the
  main evaluator's ``teacher_psnr``); that state is the first *best* state;
* after every validation of the main ``evaluator``, with ``s`` its ``metric_name``:

  - ``s >= baseline - margin``: allowed; if ``s`` is the best so far, the teacher's weights (and its optimizer's
    state) become the best state;
  - ``s < baseline - margin``: the teacher (and its optimizer) are restored to the best state, whose score is at
    least the baseline, and what moved it is reduced: the feedback, ``ratio <- shrink * ratio`` of the
    ``BalancedFeedbackWeight`` (or the trainer's constant ``feedback_weight``), and the teacher's learning rate,
    ``lr <- lr_shrink * lr`` (every group of ``teacher_optimizer``); the guard's checkpointed state keeps both
    reduced.

So at every validation after the guard has run, the teacher in use scores at least ``baseline - margin``. At the
start of each validation the evaluator's metrics gain ``teacher_baseline`` and the ``feedback_ratio`` and
``teacher_lr_scale`` in force since the last one (logged with the others by the stats and TensorBoard handlers: the
teacher's trajectory), and after it a line ``teacher guard: ...`` says what the guard did. Its state (baseline, best score and state,
restores) is checkpointed with ``state_dict``, so a resumed run keeps its baseline.
"""

from __future__ import annotations

import copy
import logging
from typing import Any, Callable, Dict, Iterable, Mapping, Optional, Union

import torch
from ignite.engine import Engine, Events
from torch import nn
from torch.optim import Optimizer

from monai_chpnet.losses import BalancedFeedbackWeight

__all__ = ["TeacherGuard"]

logger = logging.getLogger(__name__)


class TeacherGuard:
    """Keep the dynamic teacher's validation score within ``margin`` of its pre-trained value (module docstring).

    Attach it to the trainer (``train_handlers``, or ``attach(trainer)``): it measures the baseline before the first
    iteration and watches ``evaluator``'s validations.

    Args:
        teacher: the teacher being trained.
        evaluator: the main evaluator, which computes ``metric_name`` (e.g. ``teacher_psnr``) at each validation.
        feedback: the :class:`~monai_chpnet.losses.BalancedFeedbackWeight` whose ``ratio`` is reduced; ``None``:
            the constant ``feedback_weight`` of the trainer the guard is attached to.
        teacher_optimizer: restored with the teacher (its moments point where the teacher went wrong).
        margin: allowed drop below the baseline, in the metric's units (dB for PSNR), ``>= 0``.
        shrink: factor in ``[0, 1)`` applied to the feedback at each restore.
        lr_shrink: factor in ``(0, 1]`` applied to the teacher's learning rate at each restore (1: unchanged).
        metric_name: the main evaluator's metric of the teacher (higher is better).
        val_data_loader, device, metric: to score the pre-trained teacher before training (``metric``: an
            unattached Ignite metric on ``pred``/``label``, e.g. ``validation_metrics()["val_psnr"]``); or
        baseline: the pre-trained score, when known (then nothing is measured).
        prepare_batch: as the main evaluator's (default :class:`~monai_chpnet.engines.ReconPrepareBatch`).

    Raises:
        ValueError: bad ``margin`` / ``shrink``, or neither ``baseline`` nor the means to measure it.
        KeyError: (at validation) the evaluator did not compute ``metric_name``.
    """

    def __init__(
        self,
        teacher: nn.Module,
        evaluator: Engine,
        feedback: Optional[BalancedFeedbackWeight] = None,
        teacher_optimizer: Optional[Optimizer] = None,
        margin: float = 0.2,
        shrink: float = 0.5,
        lr_shrink: float = 0.5,
        metric_name: str = "teacher_psnr",
        val_data_loader: Optional[Iterable] = None,
        device: Union[str, torch.device] = "cpu",
        metric: Optional[Any] = None,
        baseline: Optional[float] = None,
        prepare_batch: Optional[Callable] = None,
    ) -> None:
        margin = float(margin)  # numbers given as strings ('0.2') are accepted
        if not margin >= 0:
            raise ValueError(f"margin must be >= 0, got {margin}.")
        if not 0 <= shrink < 1:
            raise ValueError(f"shrink must be in [0, 1), got {shrink}.")
        if not 0 < lr_shrink <= 1:
            raise ValueError(f"lr_shrink must be in (0, 1], got {lr_shrink}.")
        if baseline is None and (val_data_loader is None or metric is None):
            raise ValueError("TeacherGuard needs the pre-trained score (baseline) or val_data_loader and metric.")
        if feedback is not None and not isinstance(feedback, BalancedFeedbackWeight):
            raise TypeError(f"feedback must be a BalancedFeedbackWeight or None, got {type(feedback).__name__}.")
        self.teacher, self.evaluator, self.feedback, self.teacher_optimizer = (
            teacher,
            evaluator,
            feedback,
            teacher_optimizer,
        )
        self.margin, self.shrink, self.metric_name = float(margin), float(shrink), metric_name
        self.lr_shrink, self.lr_scale = float(lr_shrink), 1.0
        self._base_lrs = None if teacher_optimizer is None else [g["lr"] for g in teacher_optimizer.param_groups]
        self.val_data_loader, self.device, self.metric, self.prepare_batch = (
            val_data_loader,
            device,
            metric,
            prepare_batch,
        )
        self.baseline: Optional[float] = None if baseline is None else float(baseline)
        self.best_score: Optional[float] = self.baseline
        self.best_state: Optional[Dict[str, Any]] = None
        self.restores = 0
        self.trainer: Optional[Engine] = None

    # -- the feedback it reduces ---------------------------------------------------------------------------------
    def _balance(self) -> Optional[BalancedFeedbackWeight]:
        if self.feedback is not None:
            return self.feedback
        weight = getattr(self.trainer, "feedback_weight", None)
        return weight if isinstance(weight, BalancedFeedbackWeight) else None

    @property
    def feedback_ratio(self) -> Optional[float]:
        """The current feedback strength: the balance's ``ratio``, or the trainer's constant weight (``None``
        before the guard is attached to a trainer without a ``feedback``)."""
        balance = self._balance()
        if balance is not None:
            return balance.ratio
        return None if self.trainer is None else float(self.trainer.feedback_weight)

    def _set_feedback(self, value: float) -> None:
        balance = self._balance()
        if balance is not None:
            balance.ratio = float(value)
        elif self.trainer is not None:
            self.trainer.feedback_weight = float(value)
        else:
            raise RuntimeError("TeacherGuard without a feedback must be attached to the trainer before it is used.")

    # -- events --------------------------------------------------------------------------------------------------
    def attach(self, trainer: Engine) -> None:
        """Measure the baseline before ``trainer``'s first iteration; watch the evaluator's validations."""
        self.trainer = trainer
        trainer.add_event_handler(Events.ITERATION_STARTED, self._before_training)
        self.evaluator.add_event_handler(Events.EPOCH_STARTED, self.publish)
        self.evaluator.add_event_handler(Events.EPOCH_COMPLETED, self)

    def _before_training(self, engine: Engine) -> None:
        if self.best_state is None:  # a fresh run (a resumed one restored its state at STARTED)
            self.start()

    def publish(self, evaluator: Engine) -> None:
        """Put the baseline and the feedback ratio and learning-rate scale in force into ``evaluator``'s metrics."""
        if self.baseline is not None:
            evaluator.state.metrics["teacher_baseline"] = self.baseline
        if self.feedback_ratio is not None:
            evaluator.state.metrics["feedback_ratio"] = self.feedback_ratio
        evaluator.state.metrics["teacher_lr_scale"] = self.lr_scale

    def start(self) -> float:
        """Score the pre-trained teacher (unless the baseline was given) and keep it as the best state."""
        if self.baseline is None:
            self.baseline = self.measure()
            logger.info(f"teacher guard: pre-trained teacher {self.metric_name} = {self.baseline:.4f}")
        self.best_score = self.baseline
        self.best_state = self._snapshot()
        return self.baseline

    def measure(self) -> float:
        """The teacher's score on ``val_data_loader`` by ``metric`` (a :class:`ReconEvaluator` of the teacher)."""
        from monai_chpnet.engines.evaluator import ReconEvaluator

        extra = {} if self.prepare_batch is None else {"prepare_batch": self.prepare_batch}
        evaluator = ReconEvaluator(
            self.device, self.val_data_loader, self.teacher, key_val_metric={self.metric_name: self.metric}, **extra
        )
        evaluator.run()
        return float(evaluator.state.metrics[self.metric_name])

    def __call__(self, evaluator: Engine) -> None:
        metrics = evaluator.state.metrics
        if self.metric_name not in metrics:
            raise KeyError(f"TeacherGuard needs metric {self.metric_name!r}; the evaluator computed {sorted(metrics)}.")
        if self.best_state is None:
            self.start()
        score = float(metrics[self.metric_name])
        floor = self.baseline - self.margin
        if score >= floor:
            if score > self.best_score:
                self.best_score, self.best_state = score, self._snapshot()
            action = "kept"
        else:
            self._restore(self.best_state)
            self._set_feedback(self.shrink * self.feedback_ratio)
            self.lr_scale *= self.lr_shrink
            self._apply_lr()
            self.restores += 1
            action = (
                f"below the floor {floor:.4f}: restored the best teacher ({self.best_score:.4f}), "
                f"feedback reduced to {self.feedback_ratio:.4g}, learning rate x{self.lr_scale:g}"
            )
        evaluator.logger.info(
            f"teacher guard: {self.metric_name} {score:.4f} (pre-trained {self.baseline:.4f}, margin {self.margin:g}): "
            f"{action}"
        )

    # -- state ---------------------------------------------------------------------------------------------------
    def _snapshot(self) -> Dict[str, Any]:
        state = {"teacher": {k: v.detach().clone() for k, v in self.teacher.state_dict().items()}}
        if self.teacher_optimizer is not None:
            state["optimizer"] = copy.deepcopy(self.teacher_optimizer.state_dict())
        return state

    def _apply_lr(self) -> None:
        """Set the teacher's learning rates to ``lr_scale`` times those it started with (a restored optimizer
        state brings back the old ones)."""
        if self.teacher_optimizer is not None and self._base_lrs is not None:
            for group, base in zip(self.teacher_optimizer.param_groups, self._base_lrs):
                group["lr"] = base * self.lr_scale

    def _restore(self, state: Mapping[str, Any]) -> None:
        self.teacher.load_state_dict(state["teacher"])
        if self.teacher_optimizer is not None and "optimizer" in state:
            self.teacher_optimizer.load_state_dict(state["optimizer"])

    def state_dict(self) -> Dict[str, Any]:
        return {
            "baseline": self.baseline,
            "best_score": self.best_score,
            "best_state": self.best_state,
            "restores": self.restores,
            "feedback": self.feedback_ratio,
            "lr_scale": self.lr_scale,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        missing = {"baseline", "best_score", "best_state", "restores"} - set(state)
        if missing:
            raise KeyError(f"TeacherGuard state is missing {sorted(missing)}.")
        self.baseline = None if state["baseline"] is None else float(state["baseline"])
        self.best_score = None if state["best_score"] is None else float(state["best_score"])
        self.best_state = state["best_state"]
        self.restores = int(state["restores"])
        if state.get("feedback") is not None:  # a feedback reduced before the checkpoint stays reduced
            self._set_feedback(state["feedback"])
        self.lr_scale = float(state.get("lr_scale", 1.0))  # the optimizer's own state holds the reduced rates
