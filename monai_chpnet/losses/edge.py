"""Differentiable edge operator, edge loss and edge-corrected teacher knowledge."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["EdgeMagnitude", "EdgeLoss", "EdgeCorrectedKnowledge"]

# x-derivative kernels (y is the transpose), normalised so that a unit-slope ramp has gradient 1
_KERNELS = {
    "sobel": torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]]) / 8.0,
    "scharr": torch.tensor([[3.0, 0.0, -3.0], [10.0, 0.0, -10.0], [3.0, 0.0, -3.0]]) / 32.0,
}


class EdgeMagnitude(nn.Module):
    """Gradient magnitude by a Sobel or Scharr operator, per channel, differentiable everywhere.

    ``E(x) = sqrt(gx^2 + gy^2 + eps) - sqrt(eps)``: zero on flat regions, and the ``eps`` keeps the gradient of the
    square root finite there. The kernels are normalised (Sobel / 8, Scharr / 32) so that ``gx`` is a central
    difference: a ramp of slope ``a`` per pixel has magnitude ``|a|``, and a step of height ``h`` between two
    columns gives ``h / 2`` on the two pixels beside it. Borders are replicate-padded, so the image boundary
    creates no edge.

    Args:
        operator: ``"sobel"`` or ``"scharr"``.
        eps: stabiliser of the square root.

    Shapes:
        input ``(B, C, H, W)`` -> output ``(B, C, H, W)``.
    """

    def __init__(self, operator: str = "sobel", eps: float = 1e-8) -> None:
        super().__init__()
        if operator not in _KERNELS:
            raise ValueError(f"operator must be one of {sorted(_KERNELS)}, got {operator!r}.")
        self.operator = operator
        self.eps = eps
        gx = _KERNELS[operator]
        self.register_buffer("kernel", torch.stack([gx, gx.T])[:, None], persistent=False)  # (2, 1, 3, 3)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4:
            raise ValueError(f"EdgeMagnitude expects (B, C, H, W), got shape {tuple(x.shape)}.")
        b, c, h, w = x.shape
        kernel = self.kernel.to(dtype=x.dtype).repeat(c, 1, 1, 1)  # (2C, 1, 3, 3): (gx, gy) per channel
        grad = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel, groups=c).view(b, c, 2, h, w)
        return torch.sqrt(grad.pow(2).sum(dim=2) + self.eps) - x.new_tensor(self.eps).sqrt()


class EdgeLoss(nn.Module):
    """``L_edge = mean |E(pred) - E(target)|`` with :class:`EdgeMagnitude` ``E``.

    Args:
        operator: ``"sobel"`` or ``"scharr"``.

    Shapes:
        ``pred``, ``target``: ``(B, C, H, W)`` -> scalar.
    """

    def __init__(self, operator: str = "sobel") -> None:
        super().__init__()
        self.edge = EdgeMagnitude(operator)

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        return F.l1_loss(self.edge(pred), self.edge(target))


class EdgeCorrectedKnowledge(nn.Module):
    """The teacher's output corrected where its edges disagree with the ground truth's.

    ``w = exp(-|E(T) - E(GT)| / tau)`` and ``K = w * T + (1 - w) * GT``, per pixel and channel, with the teacher
    output ``T`` detached: ``K`` (and ``w``) carry no gradient; ``K`` is a target for the student. Where the
    teacher's edges agree with the ground truth's (``w = 1``) ``K = T``; where they are badly wrong (``w -> 0``)
    ``K -> GT``.

    Args:
        tau: edge-error scale, in the edge magnitude's units (intensity per pixel, see :class:`EdgeMagnitude`).
            The default 0.1 suits the scale-normalised images of this package (divided by the zero-filled
            image's std, so intensities are O(1)): an edge error of a tenth of that scale lowers the teacher's
            weight to 1/e (about 0.37). For images in [0, 1] use about 0.02.
        operator: ``"sobel"`` or ``"scharr"``.

    Shapes:
        ``teacher``, ``target``: ``(B, C, H, W)`` -> ``K`` ``(B, C, H, W)``.
    """

    def __init__(self, tau: float = 0.1, operator: str = "sobel") -> None:
        super().__init__()
        if tau <= 0:
            raise ValueError(f"tau must be > 0, got {tau}.")
        self.tau = tau
        self.edge = EdgeMagnitude(operator)

    @torch.no_grad()
    def confidence(self, teacher: Tensor, target: Tensor) -> Tensor:
        """``w = exp(-|E(T) - E(GT)| / tau)`` in ``(0, 1]``, ``(B, C, H, W)``, without gradient (log its mean)."""
        return torch.exp(-(self.edge(teacher) - self.edge(target)).abs() / self.tau)

    def forward(self, teacher: Tensor, target: Tensor) -> Tensor:
        if teacher.shape != target.shape:
            raise ValueError(
                f"teacher output and target must have the same shape, got {tuple(teacher.shape)} and "
                f"{tuple(target.shape)}."
            )
        teacher, target = teacher.detach(), target.detach()
        w = self.confidence(teacher, target)
        return w * teacher + (1.0 - w) * target
