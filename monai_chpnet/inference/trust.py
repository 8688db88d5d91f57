"""Trust maps: where the student's reconstruction should not be believed, computed beside it on request.

A map is a float32 volume on the reconstruction's grid, 0 (trusted) to 1 (least trusted), one of
:data:`TRUST_METHODS`:

* ``"teacher"``: the teacher-student disagreement ``|T(x) - S(x)|`` of the magnitudes -- the slower, stronger
  network the student was distilled from; about 10x the student's time (12x measured with the map's own overhead);
* ``"tta"``: the spread (standard deviation) of the student over test-time views that keep the acquisition
  valid: the k-space task flips the image along H (the column mask is unchanged) and along W (the mask is
  mirrored with it) and turns its global phase by 90 degrees; super-resolution mirrors along H and W (about the
  k-space centre for the ``kspace`` degradation) and transposes;
* ``"correction"``: what the student changed, ``|S(x) - x0|`` against the classical image it starts from
  (zero-filled, or the degradation's classical inverse): no extra network pass.

Each raw map is smoothed by a Gaussian of :data:`TRUST_SIGMA` output pixels (errors come in structures, not
single pixels) and divided per volume by its 99.5th percentile, clipped to 1: a map compares regions of one
volume, not volumes. It is a ranking of where errors are likely, not an error estimate in intensity units.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from monai_chpnet.kspace import channels_to_complex, complex_abs, complex_to_channels, fft2c
from monai_chpnet.transforms.volume import SliceBatch

__all__ = [
    "DEFAULT_SR_TRUST",
    "DEFAULT_TRUST",
    "TRUST_METHODS",
    "TRUST_SIGMA",
    "TrustMap",
    "gaussian_smooth",
    "mirrored_mask",
]

TRUST_METHODS = ("teacher", "tta", "correction")
#: the best-calibrated map of each task on the held-out sources (``benchmarks/results/trust.md``): the k-space
#: task's teacher, and super-resolution's test-time spread (ranked as well as its teacher's map, more overlap, cheaper)
DEFAULT_TRUST = "teacher"
DEFAULT_SR_TRUST = "tta"
TRUST_SIGMA = 2.0  #: the smoothing Gaussian's standard deviation, in output pixels
PERCENTILE = 99.5  #: the per-volume normaliser's percentile


def gaussian_smooth(x: Tensor, sigma: float = TRUST_SIGMA) -> Tensor:
    """``(B, 1, H, W)`` smoothed by a separable Gaussian of ``sigma`` pixels (borders replicated); ``sigma <= 0``
    returns ``x``."""
    if sigma <= 0:
        return x
    radius = max(1, int(round(3 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    g = torch.exp(-0.5 * (t / sigma) ** 2)
    g = g / g.sum()
    y = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), g.view(1, 1, 1, -1))
    return F.conv2d(F.pad(y, (0, 0, radius, radius), mode="replicate"), g.view(1, 1, -1, 1))


def centred_mirror(x: Tensor, dim: int = -1) -> Tensor:
    """``x`` mirrored about its centred-FFT origin along ``dim``: index ``j`` becomes ``2 (n // 2) - j`` (mod
    ``n``), a plain flip for odd ``n`` and a flip rolled by one for even ``n``. Mirroring an image so negates its
    centred k-space frequencies, which commutes with the ``kspace`` degradation's central crop."""
    n = x.shape[dim]
    index = (2 * (n // 2) - torch.arange(n, device=x.device)) % n
    return x.index_select(dim, index)


def mirrored_mask(mask: Tensor) -> Tensor:
    """The column mask ``(..., W)`` of the image flipped along W: the flipped image's k-space is measured exactly
    on the mask mirrored about the centre (:func:`centred_mirror`)."""
    return centred_mirror(mask, -1)


def _flip_batch(batch: SliceBatch, dim: int) -> SliceBatch:
    """The acquisition of the image flipped along ``dim`` (-2: H, -1: W): its k-space from the flipped zero-filled
    image, on the (mirrored, for W) mask."""
    image = batch.image.flip(dim)
    mask = batch.mask if dim == -2 else mirrored_mask(batch.mask)
    kspace = fft2c(channels_to_complex(image)) * mask
    return batch._replace(image=image, kspace=kspace, mask=mask)


def _phase_batch(batch: SliceBatch) -> SliceBatch:
    """The acquisition with its global phase turned by 90 degrees (``x -> i x``); magnitudes are unchanged."""
    rotated = channels_to_complex(batch.image) * 1j
    return batch._replace(image=complex_to_channels(rotated), kspace=batch.kspace * 1j)


def _magnitude(x: Tensor) -> Tensor:
    return complex_abs(x) if x.shape[-3] == 2 else x


@dataclass(frozen=True)
class TrustMap:
    """Which trust map to compute, with what.

    Args:
        method: one of :data:`TRUST_METHODS`.
        teacher: the teacher network of the same task (``"teacher"`` only): same inputs as the student.
        sigma: the smoothing Gaussian's standard deviation, in output pixels.

    Raises:
        ValueError: an unknown method, or ``"teacher"`` without a teacher.
    """

    method: str = DEFAULT_TRUST
    teacher: Optional[nn.Module] = None
    sigma: float = TRUST_SIGMA

    def __post_init__(self) -> None:
        if self.method not in TRUST_METHODS:
            raise ValueError(f"trust map must be one of {TRUST_METHODS}, got {self.method!r}.")
        if self.method == "teacher" and self.teacher is None:
            raise ValueError("the 'teacher' trust map needs the teacher's weights (none were given).")

    def _raw(self, views: List[Callable[[], Tensor]], student_out: Tensor, start: Optional[Tensor]) -> Tensor:
        """The unsmoothed map ``(B, 1, H, W)`` from the student's magnitude ``student_out``."""
        if self.method == "correction":
            return (student_out - start).abs()
        if self.method == "teacher":
            return (_magnitude(views[0]().float()) - student_out).abs()
        outputs = [student_out] + [_magnitude(view().float()) for view in views]
        return torch.stack(outputs).std(dim=0, unbiased=False)

    def kspace(self, student: nn.Module, batch: SliceBatch, pred: Tensor) -> Tensor:
        """The smoothed map ``(B, 1, H, W)`` of a k-space batch, in the batch's normalised units; ``pred`` is the
        student's raw output ``(B, 2, H, W)`` on ``batch``."""

        def run(net: nn.Module, b: SliceBatch, undo: Callable[[Tensor], Tensor] = lambda t: t) -> Callable[[], Tensor]:
            return lambda: undo(_magnitude(net(b.image, kspace=b.kspace, mask=b.mask).float()))

        if self.method == "teacher":
            views = [run(self.teacher, batch)]
        else:
            views = [
                run(student, _flip_batch(batch, -2), lambda t: t.flip(-2)),
                run(student, _flip_batch(batch, -1), lambda t: t.flip(-1)),
                run(student, _phase_batch(batch)),
            ]
        start = _magnitude(batch.image) if self.method == "correction" else None
        return gaussian_smooth(self._raw(views, _magnitude(pred.float()), start), self.sigma)

    def sr(self, student: nn.Module, x: Tensor, pred: Tensor, start: Tensor, degradation: str = "bicubic") -> Tensor:
        """The smoothed map ``(B, 1, sH, sW)`` of a super-resolution batch: ``x`` the normalised low-resolution
        slices ``(B, 1, H, W)``, ``pred`` the student's output on them, ``start`` the classical upsampling. The
        flips of the ``kspace`` degradation mirror about the centred-FFT origin (a plain flip does not commute with
        its central k-space crop); bicubic and average pooling commute with plain flips."""

        def run(net: nn.Module, f: Callable[[Tensor], Tensor] = lambda t: t) -> Callable[[], Tensor]:
            return lambda: f(net(f(x)).float().clamp_min(0.0))  # each view is its own inverse

        if self.method == "teacher":
            views = [run(self.teacher)]
        else:
            mirror = centred_mirror if degradation == "kspace" else (lambda t, d: t.flip(d))
            views = [run(student, lambda t: mirror(t, -2)), run(student, lambda t: mirror(t, -1))]
            views.append(run(student, lambda t: t.transpose(-2, -1)))
        return gaussian_smooth(self._raw(views, pred.float(), start), self.sigma)


def normalise_trust(raw: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``raw`` ``(slices, h, w)`` divided by the :data:`PERCENTILE`-th percentile of its slices ``rows``, clipped to
    ``[0, 1]`` (all zero stays zero)."""
    values = raw[rows]
    scale = float(np.percentile(values, PERCENTILE)) if values.size else 0.0
    if scale <= 0:
        scale = float(values.max()) if values.size else 0.0
    if scale <= 0:
        return np.zeros_like(raw)
    return np.clip(raw / scale, 0.0, 1.0).astype(np.float32)
