"""Checks to run before a distillation ablation: is there anything to teach?

If the student alone reaches its teacher, no distillation term can help. :func:`teacher_win_rate` measures, on
training batches (the training recipe's patches, as the trainer sees them), at how many pixels the teacher's
reconstruction is closer to the truth than the student's: about 0.5 means they are as good as each other (the first
ablation's magnitude-only pair: 0.52), a teacher that has something to teach wins clearly more (aim for >= 0.6).
"""

from __future__ import annotations

from typing import Callable, Dict, Iterable, Union

import torch
from torch import nn

from monai_chpnet.engines.prepare import ReconPrepareBatch, match_target

__all__ = ["teacher_win_rate"]


@torch.no_grad()
def teacher_win_rate(
    teacher: nn.Module,
    student: nn.Module,
    data_loader: Iterable,
    batches: int = 16,
    device: Union[str, torch.device] = "cpu",
    prepare_batch: Callable = ReconPrepareBatch(),
    foreground: float = 0.1,
) -> Dict[str, float]:
    """The teacher's pixel win rate over the student on the first ``batches`` batches of ``data_loader``.

    Both networks reconstruct each batch (eval mode, no gradient); with ``e_T = |T - GT|`` and ``e_S = |S - GT|``
    per pixel of the magnitude images:

    * ``win_rate``: fraction of pixels where ``e_T < e_S`` (ties count for neither);
    * ``win_rate_foreground``: the same over pixels where ``GT > foreground * max(GT)`` of their sample (the
      background, where both are near zero, left out);
    * ``teacher_l1``, ``student_l1``: mean errors; ``error_ratio = student_l1 / teacher_l1``;
    * ``pixels``: how many pixels were compared.

    Raises:
        ValueError: ``batches < 1``, or a batch without a target.
    """
    if batches < 1:
        raise ValueError(f"batches must be >= 1, got {batches}.")
    teacher.eval()
    student.eval()
    wins = fg_wins = fg_pixels = pixels = 0
    err_t = err_s = 0.0
    for i, batch in enumerate(data_loader):
        if i >= batches:
            break
        image, target, _, kwargs = prepare_batch(batch, device)
        if target is None:
            raise ValueError("teacher_win_rate needs batches with a target (training data, not unlabelled inputs).")
        size = target.shape[-2:]
        e_t = (match_target(teacher(image, **kwargs), size) - target).abs()
        e_s = (match_target(student(image, **kwargs), size) - target).abs()
        won = e_t < e_s
        fg = target > foreground * target.flatten(1).amax(dim=1).view(-1, *([1] * (target.ndim - 1)))
        wins += int(won.sum())
        pixels += won.numel()
        fg_wins += int((won & fg).sum())
        fg_pixels += int(fg.sum())
        err_t += float(e_t.sum())
        err_s += float(e_s.sum())
    if pixels == 0:
        raise ValueError("data_loader yielded no batch.")
    return {
        "win_rate": wins / pixels,
        "win_rate_foreground": fg_wins / fg_pixels if fg_pixels else float("nan"),
        "teacher_l1": err_t / pixels,
        "student_l1": err_s / pixels,
        "error_ratio": err_s / err_t if err_t > 0 else float("inf"),
        "pixels": float(pixels),
    }
