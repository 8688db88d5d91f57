"""Reconstruction loss to the ground truth: L1 + SSIM (MONAI ``SSIMLoss``)."""

from __future__ import annotations

from typing import Optional

import torch.nn.functional as F
from monai.losses import SSIMLoss
from torch import Tensor, nn

__all__ = ["ReconstructionLoss"]


class ReconstructionLoss(nn.Module):
    """``L_rec = mean |pred - target| + ssim_weight * (1 - SSIM(pred, target))``.

    SSIM is MONAI's :class:`~monai.losses.SSIMLoss`, by default with fastMRI's 7x7 uniform window (MONAI's own
    default is an 11x11 Gaussian). Its data range is per sample: ``max - min`` of each target (detached), which
    suits normalised images whose range varies from sample to sample; both images are divided by it and SSIM is
    evaluated with ``data_range = 1``, which is the same SSIM.

    Args:
        ssim_weight: weight of ``1 - SSIM``; ``0`` gives plain L1.
        data_range: a fixed data range instead of the per-sample one (e.g. ``1.0`` for images in [0, 1]).
        win_size: SSIM window size (images must be at least this large).
        kernel_type: ``"uniform"`` or ``"gaussian"`` (sigma 1.5).

    Shapes:
        ``pred``, ``target``: ``(B, C, H, W)`` -> scalar.
    """

    def __init__(
        self,
        ssim_weight: float = 1.0,
        data_range: Optional[float] = None,
        win_size: int = 7,
        kernel_type: str = "uniform",
    ) -> None:
        super().__init__()
        if data_range is not None and data_range <= 0:
            raise ValueError(f"data_range must be > 0, got {data_range}.")
        self.ssim_weight = ssim_weight
        self.data_range = data_range
        self.ssim = SSIMLoss(spatial_dims=2, data_range=1.0, kernel_type=kernel_type, win_size=win_size)

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        if pred.shape != target.shape:
            raise ValueError(
                f"pred and target must have the same shape, got {tuple(pred.shape)} and {tuple(target.shape)}."
            )
        l1 = F.l1_loss(pred, target)
        if self.ssim_weight == 0:
            return l1
        return l1 + self.ssim_weight * self.structural(pred, target)

    def structural(self, pred: Tensor, target: Tensor) -> Tensor:
        """``1 - SSIM(pred, target)`` (unweighted), with this loss's window and data range; scalar."""
        if self.data_range is None:
            flat = target.detach().flatten(1)
            scale = (flat.amax(dim=1) - flat.amin(dim=1)).clamp_min(1e-8).view(-1, 1, 1, 1)
        else:
            scale = self.data_range
        return self.ssim(pred / scale, target / scale)
