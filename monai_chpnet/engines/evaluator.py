"""``ReconEvaluator``: validation of a reconstruction network (and its teacher) in the target's units.

A MONAI ``SupervisedEvaluator`` whose iteration writes, for each batch, magnitudes on the target grid and mapped
back to input units (``x * std + mean``), so fastMRI's per-volume metrics (``data_range`` = volume max) mean
what they say::

    engine.state.output = {
        "image": network input, "label": target (B, 1, h, w),
        "pred": student (B, 1, h, w), "teacher_pred": teacher (B, 1, h, w) (when a teacher is given),
        "zero_filled": |F^-1 y| (B, 1, h, w)  -- the baseline beside every table,
    }

Metrics attach as usual, e.g. ``{"val_psnr": VolumePSNR(output_transform=from_engine(["pred", "label"]))}``,
``{"teacher_nmse": VolumeNMSE(output_transform=from_engine(["teacher_pred", "label"]))}``.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from monai.engines import SupervisedEvaluator
from monai.engines.utils import IterationEvents
from monai.utils.enums import CommonKeys as Keys
from torch import nn

from monai_chpnet.engines.prepare import ReconPrepareBatch, denormalize_batch, match_target
from monai_chpnet.keys import ReconKeys
from monai_chpnet.resampling import upsample

__all__ = ["ReconEvaluator"]


def _classical_upsampling(image: torch.Tensor, size: Sequence[int], degradation: str) -> torch.Tensor:
    """``(B, C, h, w)`` to ``size``: zero-padded k-space for the ``kspace`` degradation (its matched inverse),
    bicubic otherwise, as the super-resolution baseline."""
    scale = int(size[-1]) // int(image.shape[-1])
    if degradation == "kspace" and scale * image.shape[-1] == size[-1] and scale * image.shape[-2] == size[-2]:
        return upsample(image, scale, "kspace")
    return F.interpolate(image, size=tuple(size), mode="bicubic", align_corners=False)


class ReconEvaluator(SupervisedEvaluator):
    """Evaluate a student (and optionally a teacher) on reconstruction batches.

    Args:
        device, val_data_loader, epoch_length, non_blocking, iteration_update, inferer, postprocessing,
            key_val_metric, additional_metrics, metric_cmp_fn, val_handlers, amp, mode, event_names,
            event_to_attr, decollate, to_kwargs, amp_kwargs: as ``SupervisedEvaluator``.
        network: the network evaluated as ``pred``.
        teacher: optional second network, evaluated as ``teacher_pred``.
        prepare_batch: default :class:`ReconPrepareBatch`.
        zero_filled_key: batch key of the zero-filled magnitude (``None``: derived from the network input; a
            low-resolution input is upsampled by the classical inverse of the network's degradation: zero-padded
            k-space for ``kspace``, bicubic otherwise -- the super-resolution baseline).
    """

    def __init__(
        self,
        device: Union[str, torch.device],
        val_data_loader: Iterable,
        network: nn.Module,
        teacher: Optional[nn.Module] = None,
        prepare_batch: Callable = ReconPrepareBatch(),
        zero_filled_key: Optional[str] = ReconKeys.ZERO_FILLED,
        epoch_length: Optional[int] = None,
        non_blocking: bool = False,
        iteration_update: Optional[Callable] = None,
        inferer: Optional[Any] = None,
        postprocessing: Optional[Callable] = None,
        key_val_metric: Optional[dict] = None,
        additional_metrics: Optional[dict] = None,
        metric_cmp_fn: Optional[Callable] = None,
        val_handlers: Optional[Sequence] = None,
        amp: bool = False,
        mode: str = "eval",
        event_names: Optional[list] = None,
        event_to_attr: Optional[dict] = None,
        decollate: bool = False,
        to_kwargs: Optional[dict] = None,
        amp_kwargs: Optional[dict] = None,
    ) -> None:
        extra = {} if metric_cmp_fn is None else {"metric_cmp_fn": metric_cmp_fn}
        super().__init__(
            device=device,
            val_data_loader=val_data_loader,
            network=network,
            epoch_length=epoch_length,
            non_blocking=non_blocking,
            prepare_batch=prepare_batch,
            iteration_update=iteration_update,
            inferer=inferer,
            postprocessing=postprocessing,
            key_val_metric=key_val_metric,
            additional_metrics=additional_metrics,
            val_handlers=val_handlers,
            amp=amp,
            mode=mode,
            event_names=event_names,
            event_to_attr=event_to_attr,
            decollate=decollate,
            to_kwargs=to_kwargs,
            amp_kwargs=amp_kwargs,
            **extra,
        )
        self.teacher = teacher
        self.zero_filled_key = zero_filled_key

    def _iteration(self, engine: ReconEvaluator, batchdata: Dict[str, Any]) -> Dict[str, Any]:
        if batchdata is None:
            raise ValueError("Must provide batch data for current iteration.")
        image, target, args, kwargs = engine.prepare_batch(
            batchdata, engine.state.device, engine.non_blocking, **engine.to_kwargs
        )
        size = None if target is None else target.shape[-2:]
        autocast = torch.autocast("cuda", **engine.amp_kwargs) if engine.amp else torch.autocast("cpu", enabled=False)
        nets = {Keys.PRED: engine.network, **({"teacher_pred": engine.teacher} if engine.teacher is not None else {})}
        outputs: Dict[str, Any] = {}
        with engine.mode(*nets.values()), torch.no_grad(), autocast:
            for key, net in nets.items():
                outputs[key] = match_target(engine.inferer(image, net, *args, **kwargs).float(), size)
        zf = batchdata.get(engine.zero_filled_key) if engine.zero_filled_key else None
        if zf is None and size is not None and tuple(image.shape[-2:]) != tuple(size) and image.shape[-1] < size[-1]:
            zf = _classical_upsampling(image.float(), size, getattr(engine.network, "degradation", "bicubic"))
        zf = match_target(image, size) if zf is None else match_target(zf.to(image.device), size)
        outputs["zero_filled"] = zf
        outputs = {k: denormalize_batch(v, batchdata) for k, v in outputs.items()}
        label = None if target is None else denormalize_batch(target, batchdata)
        engine.state.output = {Keys.IMAGE: image, Keys.LABEL: label, **outputs}
        engine.fire_event(IterationEvents.FORWARD_COMPLETED)
        engine.fire_event(IterationEvents.MODEL_COMPLETED)
        return engine.state.output
