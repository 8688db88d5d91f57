"""``DistillationTrainer``: a MONAI ``SupervisedTrainer`` whose iteration distils a teacher into a student.

One iteration (``kd="dynamic"``), on a batch prepared by :class:`~monai_chpnet.engines.ReconPrepareBatch`::

    T, t_feats = teacher.forward_features(x, kspace, mask)          # one pass, with gradient
    S, s_feats = student.forward_features(x, kspace, mask)
    alpha_t <- update(mse(S, GT), mse(T, GT))                       # alpha.signal == "batch": this batch's error ratio
    K = T, replaced by GT where |E(T) - E(GT)| > tau                # edge-corrected knowledge: K == T where T is right
    L_S = L_rec(S, GT) + alpha_t L_out(S, K) + beta L_feat(s_feats, t_feats) + gamma L_edge(S, GT)
    student (+ feature projectors) <- step(L_S)                    # T, t_feats, K detached inside the loss
    lambda_t = ratio ||dL_rec/dT|| / ||dL_fb/dT||                   # BalancedFeedbackWeight (or a constant lambda)
    L_T = L_rec(T, GT) + lambda_t L_fb(T, S, GT)                    # S detached: the teacher learns from the student
    teacher <- step(L_T)                                            # its own optimizer, smaller learning rate

The first ``hint_iterations`` iterations of a run are a hint stage (the KD-MRI mechanism): the student and its
projectors learn ``L_feat`` alone -- the teacher's features, stage by stage -- and the teacher is only run (no
gradient, no step, ``alpha`` not updated); ground-truth training with every term follows for the remaining
iterations of the same budget. The stage is read from ``engine.state.iteration``, so a resumed run is in the right
one.

With ``unlabelled_data_loader`` each iteration also draws a batch of inputs without a reference (prospectively
undersampled k-space, images whose truth is not to be used): the teacher (no gradient) and the student (in the
same pass as the labelled batch) reconstruct it, and the student learns the teacher's output there
(``L_unl``, see :class:`~monai_chpnet.losses.DistillationLoss`) -- knowledge the student alone cannot get. The
teacher itself keeps learning from the labelled batch only.

``kd="static"`` freezes the teacher (no gradient, eval mode, parameters never change); ``kd="none"`` needs no
teacher and trains the student alone with the same loss minus the distillation terms (the ablation baseline).
Edge correction and feature KD are switched by how ``loss_function`` (a
:class:`~monai_chpnet.losses.DistillationLoss`) is built: ``knowledge=None`` / ``feature=None`` turn them off.

Ignite/MONAI events fire as in ``SupervisedTrainer`` (``FORWARD_COMPLETED``, ``LOSS_COMPLETED``,
``BACKWARD_COMPLETED``, ``MODEL_COMPLETED``), so stock handlers (``StatsHandler``, ``TensorBoardStatsHandler``,
``ValidationHandler``, ``LrScheduleHandler``, checkpointing) work unchanged. ``engine.state.output`` holds the
usual ``image``/``label``/``pred``/``loss`` plus, as floats logged each iteration: every loss term (``loss_*``),
``alpha``, ``hint`` (1 in the hint stage), with a teacher ``kd_error_ratio`` (the batch's student / teacher mean
squared error) and ``kd_corrected`` (the fraction of pixels where the edge correction replaced the teacher by the
truth), and in dynamic mode ``teacher_loss``, ``teacher_rec``, ``teacher_fb`` and ``teacher_fb_weight`` (``lambda_t``).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, Optional, Sequence, Tuple, Union

import torch
from monai.engines import SupervisedTrainer
from monai.engines.utils import IterationEvents
from monai.utils.enums import CommonKeys as Keys
from torch import Tensor, nn
from torch.optim import Optimizer

from monai_chpnet.engines.prepare import ReconPrepareBatch, match_target
from monai_chpnet.losses import (
    BalancedFeedbackWeight,
    DistillationLoss,
    DynamicKDWeight,
    ReconstructionLoss,
    TeacherFeedbackLoss,
)

__all__ = ["KD_MODES", "DistillationTrainer", "FeatureForward", "scalar_outputs"]

KD_MODES = ("none", "static", "dynamic")


class FeatureForward(nn.Module):
    """Expose ``net.forward_features`` as ``forward``, so ``DistributedDataParallel`` sees (and syncs) the pass."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, *args: Any, **kwargs: Any) -> Tuple[Tensor, Dict[str, Tensor]]:
        return self.net.forward_features(*args, **kwargs)


def scalar_outputs(output: Dict[str, Any]) -> Dict[str, float]:
    """The scalar entries of an iteration output (loss terms, ``alpha``): an ``output_transform`` for logging."""
    out = {}
    for key, value in output.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = float(value)
        elif isinstance(value, Tensor) and value.numel() == 1:
            out[key] = float(value.detach())
    return out


class DistillationTrainer(SupervisedTrainer):
    """Heterogeneous knowledge distillation (CNN student <- ViT teacher) as a MONAI ``SupervisedTrainer``.

    Args:
        device, max_epochs, train_data_loader, epoch_length, non_blocking, iteration_update, postprocessing,
            key_train_metric, additional_metrics, metric_cmp_fn, train_handlers, amp, event_names,
            event_to_attr, decollate, optim_set_to_none, to_kwargs, amp_kwargs: as ``SupervisedTrainer``.
        network: the student; must implement ``forward_features`` (see ``docs/CONTRACTS.md``).
        optimizer: the student's optimizer; include ``loss_function.parameters()`` (the feature projectors).
        loss_function: :class:`DistillationLoss` for the student.
        teacher: the teacher (``forward_features`` too); required unless ``kd="none"``.
        teacher_optimizer: the teacher's optimizer; required for ``kd="dynamic"``.
        teacher_loss_function: ``L_rec`` of the teacher (default :class:`ReconstructionLoss`).
        feedback_loss: ``L_fb`` (default :class:`TeacherFeedbackLoss`).
        feedback_weight: its ``lambda``: a constant, or a :class:`~monai_chpnet.losses.BalancedFeedbackWeight`
            that sets it each iteration so the feedback's gradient at the teacher's output is a set fraction of
            the reconstruction's.
        kd: ``"none"``, ``"static"`` or ``"dynamic"``.
        alpha: the output-distillation weight: a :class:`DynamicKDWeight` or a constant. A ``DynamicKDWeight`` with
            ``signal="batch"`` is updated here from every batch's student / teacher mean squared errors
            (``kd="dynamic"`` only); with ``signal="validation"`` by :class:`~monai_chpnet.engines.DynamicKDWeightHandler`.
        hint_iterations: length of the hint stage at the start of the run (0: none); needs a teacher and the
            feature term of ``loss_function``.
        prepare_batch: default :class:`ReconPrepareBatch` (k-space mode).
        grad_clip_norm: clip the global gradient norm of each optimizer's parameters (``None``: no clipping).
        unlabelled_data_loader: batches without a target (same keys and shapes as ``train_data_loader``'s apart
            from the target), cycled independently of the epochs; needs ``kd != "none"``. ``None``: labelled data only.
            Its position is not checkpointed: a resumed run starts a new pass over it.
        distributed: wrap student, teacher (dynamic) and the projectors in ``DistributedDataParallel``
            (``torch.distributed`` must be initialised, e.g. by ``torchrun``).

    Raises:
        ValueError: unknown ``kd`` mode, a missing teacher / teacher optimizer, a teacher whose output shape
            differs from the student's, or an unlabelled batch shaped unlike the labelled one.
        FloatingPointError: a non-finite loss (naming the iteration and the terms; the last checkpoint written
            before it is kept).
        KeyError: a training batch without a target.
    """

    def __init__(
        self,
        device: Union[str, torch.device],
        max_epochs: int,
        train_data_loader: Iterable,
        network: nn.Module,
        optimizer: Optimizer,
        loss_function: DistillationLoss,
        teacher: Optional[nn.Module] = None,
        teacher_optimizer: Optional[Optimizer] = None,
        teacher_loss_function: Optional[nn.Module] = None,
        feedback_loss: Optional[nn.Module] = None,
        feedback_weight: Union[float, BalancedFeedbackWeight] = 1.0,
        kd: str = "dynamic",
        alpha: Union[DynamicKDWeight, float] = 0.5,
        hint_iterations: int = 0,
        prepare_batch: Callable = ReconPrepareBatch(),
        grad_clip_norm: Optional[float] = None,
        unlabelled_data_loader: Optional[Iterable] = None,
        distributed: bool = False,
        epoch_length: Optional[int] = None,
        non_blocking: bool = False,
        iteration_update: Optional[Callable] = None,
        postprocessing: Optional[Callable] = None,
        key_train_metric: Optional[dict] = None,
        additional_metrics: Optional[dict] = None,
        metric_cmp_fn: Optional[Callable] = None,
        train_handlers: Optional[Sequence] = None,
        amp: bool = False,
        event_names: Optional[list] = None,
        event_to_attr: Optional[dict] = None,
        decollate: bool = False,
        optim_set_to_none: bool = False,
        to_kwargs: Optional[dict] = None,
        amp_kwargs: Optional[dict] = None,
    ) -> None:
        if kd not in KD_MODES:
            raise ValueError(f"kd must be one of {KD_MODES}, got {kd!r}.")
        if kd != "none" and teacher is None:
            raise ValueError(f"kd={kd!r} needs a teacher network; use kd='none' to train the student alone.")
        if kd == "dynamic" and teacher_optimizer is None:
            raise ValueError("kd='dynamic' needs a teacher_optimizer: the teacher keeps learning while it teaches.")
        hint_iterations = float(hint_iterations)  # numbers given as strings ('3') are accepted
        if int(hint_iterations) != hint_iterations or hint_iterations < 0:
            raise ValueError(f"hint_iterations must be an integer >= 0, got {hint_iterations}.")
        if hint_iterations and (kd == "none" or getattr(loss_function, "feature", None) is None):
            raise ValueError(
                "a hint stage (hint_iterations > 0) trains the student on the teacher's features: it needs a teacher "
                "(kd='static' or 'dynamic') and the feature term (feature_kd)."
            )
        if unlabelled_data_loader is not None and kd == "none":
            raise ValueError(
                "unlabelled_data_loader needs a teacher: inputs without a reference can only be distilled "
                "(kd='static' or 'dynamic'); the student alone cannot learn from them."
            )
        extra = {} if metric_cmp_fn is None else {"metric_cmp_fn": metric_cmp_fn}
        super().__init__(
            device=device,
            max_epochs=max_epochs,
            train_data_loader=train_data_loader,
            network=network,
            optimizer=optimizer,
            loss_function=loss_function,
            epoch_length=epoch_length,
            non_blocking=non_blocking,
            prepare_batch=prepare_batch,
            iteration_update=iteration_update,
            postprocessing=postprocessing,
            key_train_metric=key_train_metric,
            additional_metrics=additional_metrics,
            train_handlers=train_handlers,
            amp=amp,
            event_names=event_names,
            event_to_attr=event_to_attr,
            decollate=decollate,
            optim_set_to_none=optim_set_to_none,
            to_kwargs=to_kwargs,
            amp_kwargs=amp_kwargs,
            **extra,
        )
        self.kd = kd
        self.teacher = teacher if kd != "none" else None
        self.teacher_optimizer = teacher_optimizer if kd == "dynamic" else None
        self.teacher_loss_function = teacher_loss_function or ReconstructionLoss()
        self.feedback_loss = feedback_loss or TeacherFeedbackLoss()
        self.feedback_weight = (
            feedback_weight if isinstance(feedback_weight, BalancedFeedbackWeight) else float(feedback_weight)
        )
        self.alpha = alpha
        self.hint_iterations = int(hint_iterations)
        self.distributed = bool(distributed)
        self.grad_clip_norm = grad_clip_norm
        self.unlabelled_data_loader = unlabelled_data_loader
        self._unlabelled_iter: Optional[Any] = None
        self._unlabelled_passes = 0
        self.teacher_scaler = torch.amp.GradScaler("cuda") if (amp and self.teacher_optimizer is not None) else None
        if self.kd == "static":
            self.teacher.eval()
            self.teacher.requires_grad_(False)
        self._student_fwd: nn.Module = FeatureForward(network)
        self._teacher_fwd: Optional[nn.Module] = FeatureForward(self.teacher) if self.teacher is not None else None
        self._loss_fwd: nn.Module = loss_function
        if distributed:
            self._wrap_distributed()

    def _wrap_distributed(self) -> None:
        from torch.nn.parallel import DistributedDataParallel as DDP

        if not torch.distributed.is_available() or not torch.distributed.is_initialized():
            raise RuntimeError("distributed=True needs an initialised torch.distributed process group (torchrun).")
        ids = [self.state.device] if torch.device(self.state.device).type == "cuda" else None
        self._student_fwd = DDP(self._student_fwd, device_ids=ids)
        if self.kd == "dynamic":
            self._teacher_fwd = DDP(self._teacher_fwd, device_ids=ids)
        # the projectors only while the feature term is computed: otherwise (beta = 0, or kd = "none") they never
        # receive a gradient and there is nothing to synchronise
        feature_on = self.loss_function.feature is not None and self.kd != "none" and bool(self.loss_function.beta)
        if feature_on and any(p.requires_grad for p in self.loss_function.parameters()):
            self._loss_fwd = DDP(self.loss_function, device_ids=ids)

    def in_hint_stage(self) -> bool:
        """Whether the current iteration (1-based ``state.iteration``) belongs to the hint stage."""
        return self.state.iteration <= self.hint_iterations

    def _batch_errors(self, student: Tensor, teacher: Tensor, target: Tensor) -> Tuple[float, float]:
        """Mean squared errors of student and teacher on the labelled batch (averaged over ranks when distributed):
        squared, like the NMSE and PSNR they are judged by (L1 ratios sit near 1, dominated by the noise floor)."""
        with torch.no_grad():
            errors = torch.stack([(student - target).pow(2).mean(), (teacher - target).pow(2).mean()]).float()
            if self.distributed and torch.distributed.is_initialized():
                torch.distributed.all_reduce(errors)
                errors /= torch.distributed.get_world_size()
        return float(errors[0]), float(errors[1])

    @property
    def alpha_value(self) -> float:
        """The output-distillation weight in force (0 without distillation)."""
        return 0.0 if self.kd == "none" else float(self.alpha)

    def _step(self, loss: Tensor, optimizer: Optimizer, scaler: Optional[Any], params: Iterable[Tensor]) -> None:
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
        else:
            loss.backward()
        if self.grad_clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(list(params), self.grad_clip_norm)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()

    def _check_finite(self, engine: Any, who: str, terms: Dict[str, Tensor]) -> None:
        bad = {k: float(v.detach()) for k, v in terms.items() if not torch.isfinite(v).all()}
        if bad:
            raise FloatingPointError(
                f"non-finite {who} loss at iteration {engine.state.iteration} (epoch {engine.state.epoch}): {bad}; "
                f"training stopped, the last checkpoint written before this iteration is kept."
            )

    def _next_unlabelled(self) -> Dict[str, Any]:
        """The next unlabelled batch; the loader restarts (a new pass, reshuffled) whenever it is exhausted."""
        for _ in range(2):
            if self._unlabelled_iter is None:
                sampler = getattr(self.unlabelled_data_loader, "sampler", None)
                if hasattr(sampler, "set_epoch"):  # DistributedSampler: a new order each pass
                    sampler.set_epoch(self._unlabelled_passes)
                self._unlabelled_passes += 1
                self._unlabelled_iter = iter(self.unlabelled_data_loader)
            try:
                return next(self._unlabelled_iter)
            except StopIteration:
                self._unlabelled_iter = None
        raise ValueError("unlabelled_data_loader yields no batch (empty dataset, or drop_last with too few items).")

    def _unlabelled_inputs(self, image: Tensor, kwargs: Dict[str, Any]) -> Tuple[Optional[Tensor], Dict[str, Any]]:
        """Prepare the next unlabelled batch; check it can share the student's pass with the labelled one."""
        if self.unlabelled_data_loader is None:
            return None, {}
        batch = self._next_unlabelled()
        u_image, u_target, _, u_kwargs = self.prepare_batch(
            batch, self.state.device, self.non_blocking, **self.to_kwargs
        )
        if u_target is not None:
            raise ValueError(
                "an unlabelled batch holds a target: drop it from the unlabelled pipeline (e.g. DeleteItemsd) "
                "or train on it as labelled data."
            )
        shapes = {"image": (image, u_image), **{k: (kwargs[k], u_kwargs.get(k)) for k in kwargs}}
        for key, (lab, unl) in shapes.items():
            if isinstance(lab, Tensor) and (not isinstance(unl, Tensor) or lab.shape[1:] != unl.shape[1:]):
                raise ValueError(
                    f"unlabelled batch {key!r} has shape {None if unl is None else tuple(unl.shape)}, the labelled "
                    f"batch {tuple(lab.shape)}: both go through the student in one pass, so they need the same "
                    "per-sample shape (use the same crop / patch transform)."
                )
        return u_image, u_kwargs

    def _iteration(self, engine: DistillationTrainer, batchdata: Dict[str, Tensor]) -> Dict[str, Any]:
        if batchdata is None:
            raise ValueError("Must provide batch data for current iteration.")
        image, target, _, kwargs = engine.prepare_batch(
            batchdata, engine.state.device, engine.non_blocking, **engine.to_kwargs
        )
        if target is None:
            raise KeyError("distillation needs a target in every training batch.")
        engine.state.output = {Keys.IMAGE: image, Keys.LABEL: target}
        size = target.shape[-2:]
        u_image, u_kwargs = engine._unlabelled_inputs(image, kwargs)
        autocast = torch.autocast("cuda", **engine.amp_kwargs) if engine.amp else torch.autocast("cpu", enabled=False)

        engine.network.train()
        engine.optimizer.zero_grad(set_to_none=engine.optim_set_to_none)
        hint = engine.in_hint_stage()
        teacher_learns = engine.kd == "dynamic" and not hint
        teacher_mag, teacher_feats, teacher_out = None, None, None
        with autocast:
            if engine.teacher is not None:
                if teacher_learns:
                    engine.teacher.train()
                    engine.teacher_optimizer.zero_grad(set_to_none=engine.optim_set_to_none)
                    teacher_out, teacher_feats = engine._teacher_fwd(image, **kwargs)
                else:
                    with torch.no_grad():
                        teacher_out, teacher_feats = engine._teacher_fwd(image, **kwargs)
                teacher_mag = match_target(teacher_out, size)
            s_image, s_kwargs = image, kwargs
            t_mag_all, t_feats_all = teacher_mag, teacher_feats
            if u_image is not None:  # one student pass over labelled + unlabelled rows (the student has no norm layers)
                s_image = torch.cat([image, u_image])
                s_kwargs = {k: torch.cat([v, u_kwargs[k]]) if isinstance(v, Tensor) else v for k, v in kwargs.items()}
                with torch.no_grad():
                    u_out, u_feats = engine._teacher_fwd(u_image, **u_kwargs)
                t_mag_all = torch.cat([teacher_mag, match_target(u_out, size)])  # detached at the loss call
                t_feats_all = {k: torch.cat([v, u_feats[k]]) for k, v in teacher_feats.items()}
            student_out, student_feats = engine._student_fwd(s_image, **s_kwargs)
            if teacher_out is not None and teacher_out.shape[-2:] != student_out.shape[-2:]:
                raise ValueError(
                    f"teacher output {tuple(teacher_out.shape)} and student output {tuple(student_out.shape)} are on "
                    "different grids (check upscale / presets): distillation compares them pixel by pixel."
                )
            student_mag_all = match_target(student_out, size)
            student_mag = student_mag_all[: image.shape[0]]
            engine.state.output[Keys.PRED] = student_mag
            if teacher_mag is not None:
                err_s, err_t = engine._batch_errors(student_mag, teacher_mag, target)
                engine.state.output["kd_error_ratio"] = err_s / err_t if err_t > 0 else float("inf")
                alpha = engine.alpha
                if teacher_learns and isinstance(alpha, DynamicKDWeight) and alpha.signal == "batch":
                    alpha.update(err_s, err_t)
            engine.fire_event(IterationEvents.FORWARD_COMPLETED)
            terms = engine._loss_fwd(
                student_mag_all,
                None if t_mag_all is None else t_mag_all.detach(),
                target,
                engine.alpha_value,
                student_feats,
                None if t_feats_all is None else {k: v.detach() for k, v in t_feats_all.items()},
                hint=hint,
            )
        corrected = terms.pop("corrected", None)
        engine._check_finite(engine, "student", terms)
        engine.state.output[Keys.LOSS] = terms["total"]
        engine.fire_event(IterationEvents.LOSS_COMPLETED)
        student_params = [p for g in engine.optimizer.param_groups for p in g["params"]]
        engine._step(terms["total"], engine.optimizer, engine.scaler if engine.amp else None, student_params)

        if teacher_learns:
            with autocast:
                t_rec = engine.teacher_loss_function(teacher_mag, target)
                t_fb = engine.feedback_loss(teacher_mag, student_mag.detach(), target)
            engine._check_finite(engine, "teacher", {"rec": t_rec, "fb": t_fb})
            weight = engine.feedback_weight
            lam = weight(t_rec, t_fb, teacher_mag) if isinstance(weight, BalancedFeedbackWeight) else weight
            t_total = t_rec + lam * t_fb
            teacher_params = [p for g in engine.teacher_optimizer.param_groups for p in g["params"]]
            engine._step(t_total, engine.teacher_optimizer, engine.teacher_scaler, teacher_params)
            engine.state.output.update(
                {
                    "teacher_loss": float(t_total.detach()),
                    "teacher_rec": float(t_rec.detach()),
                    "teacher_fb": float(t_fb.detach()),
                    "teacher_fb_weight": float(lam),
                }
            )
        engine.fire_event(IterationEvents.BACKWARD_COMPLETED)
        engine.state.output.update({f"loss_{k}": float(v.detach()) for k, v in terms.items() if k != "total"})
        engine.state.output["alpha"] = engine.alpha_value
        engine.state.output["hint"] = float(hint)
        if teacher_mag is not None:
            engine.state.output["teacher_pred"] = teacher_mag.detach()
            engine.state.output["kd_corrected"] = 0.0 if corrected is None else float(corrected)
        engine.fire_event(IterationEvents.MODEL_COMPLETED)
        return engine.state.output
