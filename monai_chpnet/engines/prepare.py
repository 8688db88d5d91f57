"""From a collated sample dictionary to network arguments, and from network outputs back to the target's space.

Every engine (stock ``SupervisedTrainer``/``SupervisedEvaluator``, :class:`DistillationTrainer`,
:class:`ReconEvaluator`) and the inference path use the same two steps:

* :class:`ReconPrepareBatch` turns a batch ``{"image", "target", "kspace_masked", "mask", ...}`` into
  ``(image, target, (), {"kspace": ..., "mask": ...})`` -- MONAI's ``prepare_batch`` protocol with extra
  keyword arguments, which ``SimpleInferer`` forwards to ``network(image, kspace=..., mask=...)``;
* :func:`match_target` turns a network output (2-channel complex or 1-channel magnitude, possibly larger than the
  target, e.g. fastMRI's 640 x 368 grid vs its 320 x 320 reference) into a magnitude on the target's grid.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from monai_chpnet.keys import ReconKeys
from monai_chpnet.kspace import center_crop_hw, complex_abs
from monai_chpnet.transforms.intensity import denormalize

__all__ = ["ReconPrepareBatch", "match_target", "MagnitudeLoss", "denormalize_batch"]


def _to(x: Tensor, device: Any, non_blocking: bool, **kwargs: Any) -> Tensor:
    # complex tensors keep their dtype: a `dtype=` in kwargs is meant for real images only
    if torch.is_complex(x):
        kwargs = {k: v for k, v in kwargs.items() if k != "dtype"}
    return x.to(device=device, non_blocking=non_blocking, **kwargs)


class ReconPrepareBatch:
    """``prepare_batch`` for MONAI engines on reconstruction samples.

    Args:
        image_key: the network input: ``"image"`` (2-channel zero-filled, from ``ZeroFilledChannelsd``) for
            k-space mode, ``"zero_filled"`` (magnitude) or ``"low_res"`` for image / SR mode.
        target_key: the reference magnitude ``(B, 1, H, W)``; may be absent (prospective data, inference).
        kspace_key, mask_key: measured k-space and mask, passed as ``kspace=``/``mask=`` (data consistency);
            ``None`` (or absent from the batch) passes nothing.

    Returns (``__call__``):
        ``(image, target_or_None, (), {"kspace": ..., "mask": ...})`` on ``device``.
    """

    def __init__(
        self,
        image_key: str = ReconKeys.IMAGE,
        target_key: str = ReconKeys.TARGET,
        kspace_key: Optional[str] = ReconKeys.KSPACE_MASKED,
        mask_key: Optional[str] = ReconKeys.MASK,
    ) -> None:
        self.image_key, self.target_key = image_key, target_key
        self.kspace_key, self.mask_key = kspace_key, mask_key

    def __call__(
        self, batchdata: Mapping[str, Any], device: Any = None, non_blocking: bool = False, **kwargs: Any
    ) -> Tuple[Tensor, Optional[Tensor], tuple, Dict[str, Tensor]]:
        if not isinstance(batchdata, Mapping):
            raise TypeError(f"ReconPrepareBatch expects a dict batch, got {type(batchdata).__name__}.")
        if self.image_key not in batchdata:
            raise KeyError(f"batch has no network input {self.image_key!r} (keys: {sorted(batchdata)}).")
        image = _to(batchdata[self.image_key], device, non_blocking, **kwargs)
        target = batchdata.get(self.target_key)
        target = _to(target, device, non_blocking, **kwargs) if isinstance(target, Tensor) else None
        extra: Dict[str, Tensor] = {}
        if self.kspace_key and self.kspace_key in batchdata:
            if not self.mask_key or self.mask_key not in batchdata:
                raise KeyError(f"batch has k-space {self.kspace_key!r} but no mask {self.mask_key!r}.")
            extra["kspace"] = _to(batchdata[self.kspace_key], device, non_blocking, **kwargs)
            extra["mask"] = _to(batchdata[self.mask_key], device, non_blocking, **kwargs)
        return image, target, (), extra


def match_target(pred: Tensor, size: Optional[Sequence[int]] = None) -> Tensor:
    """Network output -> magnitude ``(B, 1, h, w)``, centre-cropped to ``size = (h, w)`` when given.

    Args:
        pred: ``(B, 2, H, W)`` real/imaginary channels or ``(B, 1, H, W)`` magnitude.
        size: the target's spatial size (``target.shape[-2:]``); must not exceed ``(H, W)``.
    """
    mag = complex_abs(pred) if pred.shape[-3] == 2 else pred
    if mag.shape[-3] != 1:
        raise ValueError(f"expected a 1- or 2-channel network output, got shape {tuple(pred.shape)}.")
    if size is not None and tuple(mag.shape[-2:]) != tuple(size):
        mag = center_crop_hw(mag, size)
    return mag


def denormalize_batch(x: Tensor, batchdata: Mapping[str, Any]) -> Tensor:
    """Map a normalised ``(B, C, H, W)`` tensor back to input units with the batch's ``mean``/``std`` (if any)."""
    std = batchdata.get(ReconKeys.STD)
    if std is None:
        return x
    mean = batchdata.get(ReconKeys.MEAN)
    return denormalize(x, 0.0 if mean is None else mean, std)


class MagnitudeLoss(nn.Module):
    """Apply an image loss to :func:`match_target` ``(pred, target.shape)`` and ``target``.

    Lets the stock ``SupervisedTrainer`` train a 2-channel k-space network (e.g. teacher pre-training) with a
    magnitude loss such as :class:`monai_chpnet.losses.ReconstructionLoss`.
    """

    def __init__(self, loss: nn.Module) -> None:
        super().__init__()
        self.loss = loss

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        return self.loss(match_target(pred, target.shape[-2:]), target)
