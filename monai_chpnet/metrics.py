"""Image-quality metrics with fastMRI's definitions (``fastmri/evaluate.py``), as plain functions and Ignite metrics.

Definitions, for a ground-truth volume ``gt`` and a reconstruction ``pred`` of shape ``(slices, H, W)``:

* ``NMSE = ||gt - pred||^2 / ||gt||^2`` over the whole volume;
* ``PSNR = 10 log10(data_range^2 / MSE)`` with the MSE over the whole volume and ``data_range = gt.max()``;
* ``SSIM`` = mean over slices of the scikit-image SSIM of each slice (7x7 uniform window, sample covariance,
  ``K1 = 0.01``, ``K2 = 0.03``, the border of 3 pixels excluded) with ``data_range = gt.max()`` *of the volume*.

Results over a data set are the mean over volumes. All metrics are computed in float64 and in torch; scikit-image
is only the reference the tests compare against. The inputs are magnitude images in one intensity scale per
volume (scanner units, or one normalisation shared by all slices of a volume): per-slice normalised images must be
mapped back (``x * std + mean``) first, or the volume maximum is meaningless.

The Ignite metrics (:class:`VolumePSNR`, :class:`VolumeSSIM`, :class:`VolumeNMSE`) accumulate per-slice sufficient
statistics grouped by volume and give results identical to the functions applied to whole volumes.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import ignite.distributed as idist
import numpy as np
import torch
import torch.nn.functional as F
from ignite.exceptions import NotComputableError
from ignite.metrics import Metric
from monai.utils import convert_to_tensor
from torch import Tensor

__all__ = [
    "block_means",
    "spearman",
    "top_overlap",
    "nmse",
    "psnr",
    "psnr_y",
    "ssim",
    "ssim_y",
    "volume_metrics",
    "VolumePSNR",
    "VolumeSSIM",
    "VolumeNMSE",
    "validation_metrics",
]

ArrayLike = Union[np.ndarray, Tensor]

SSIM_WIN_SIZE = 7
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def _as_volume(x: ArrayLike, name: str) -> Tensor:
    """``(H, W)``, ``(S, H, W)`` or ``(S, 1, H, W)`` numpy/torch -> float64 tensor ``(S, H, W)``."""
    t = convert_to_tensor(x, dtype=torch.float64, track_meta=False)
    if t.ndim == 4 and t.shape[1] == 1:
        t = t[:, 0]
    elif t.ndim == 2:
        t = t[None]
    if t.ndim != 3:
        raise ValueError(
            f"{name} must be a slice (H, W), a volume (slices, H, W) or (slices, 1, H, W) of magnitude images, "
            f"got shape {tuple(t.shape)}."
        )
    return t


def _as_volume_pair(gt: ArrayLike, pred: ArrayLike) -> Tuple[Tensor, Tensor]:
    g, p = _as_volume(gt, "gt"), _as_volume(pred, "pred")
    if g.shape != p.shape:
        raise ValueError(f"gt and pred must have the same shape, got {tuple(g.shape)} and {tuple(p.shape)}.")
    return g, p.to(g.device)


def _box_filter(x: Tensor, size: int = SSIM_WIN_SIZE) -> Tensor:
    """Mean over each valid ``size x size`` window of float64 ``(..., H, W)``: ``(..., H - size + 1, W - size + 1)``.

    From the summed-area table, four reads per pixel instead of ``size**2`` (``avg_pool2d``): 2.3x faster on
    320 x 320 slices, equal to float64 rounding (1e-12).
    """
    table = F.pad(x, (1, 0, 1, 0)).cumsum(-1).cumsum(-2)
    s = size
    return (table[..., s:, s:] - table[..., :-s, s:] - table[..., s:, :-s] + table[..., :-s, :-s]) / (s * s)


def _ssim_slices(gt: Tensor, preds: Sequence[Tensor], data_range: Tensor) -> List[Tensor]:
    """scikit-image SSIM of each slice of each prediction against ``gt`` (the moments of ``gt`` are filtered once).

    Args:
        gt: float64 ``(S, H, W)`` with ``H, W >= 7``; preds: float64 ``(S, H, W)`` each.
        data_range: float64 ``(S,)``, the data range used for slice ``s``.

    Returns:
        one float64 ``(S,)`` per prediction: the mean of the SSIM map over the valid (uncropped) region of each slice.
    """
    if min(gt.shape[-2:]) < SSIM_WIN_SIZE:
        raise ValueError(
            f"SSIM needs slices of at least {SSIM_WIN_SIZE}x{SSIM_WIN_SIZE} pixels, got shape {tuple(gt.shape)}."
        )
    n = SSIM_WIN_SIZE**2
    cov_norm = n / (n - 1)  # sample covariance, as scikit-image's default use_sample_covariance=True
    c1 = ((SSIM_K1 * data_range) ** 2)[:, None, None]
    c2 = ((SSIM_K2 * data_range) ** 2)[:, None, None]
    # a valid 7x7 box filter is scikit-image's uniform filter followed by its crop of (7 - 1) // 2 pixels per side
    ux, uxx = _box_filter(torch.stack([gt, gt * gt], dim=1)).unbind(dim=1)
    vx = cov_norm * (uxx - ux * ux)
    out = []
    for pred in preds:
        uy, uyy, uxy = _box_filter(torch.stack([pred, pred * pred, gt * pred], dim=1)).unbind(dim=1)
        vy = cov_norm * (uyy - uy * uy)
        vxy = cov_norm * (uxy - ux * uy)
        s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
        out.append(s.mean(dim=(-2, -1)))
    return out


def _ssim_per_slice(gt: Tensor, pred: Tensor, data_range: Tensor) -> Tensor:
    """scikit-image SSIM of each slice, float64 ``(S,)`` (see :func:`_ssim_slices`)."""
    return _ssim_slices(gt, [pred], data_range)[0]


def _ssim_sum(gt: Tensor, pred: Tensor, data_range: Tensor, chunk: int = 2) -> float:
    """Sum over slices of :func:`_ssim_per_slice`, ``chunk`` slices at a time to bound memory."""
    parts = zip(gt.split(chunk), pred.split(chunk), data_range.split(chunk))
    return float(sum(_ssim_per_slice(g, p, r).sum() for g, p, r in parts))


def _nmse_value(sq_err: float, sq_gt: float) -> float:
    """``sq_err / sq_gt``; an all-zero target gives ``inf`` (``nan`` if the prediction is zero too), as numpy does."""
    if sq_gt > 0:
        return sq_err / sq_gt
    return math.inf if sq_err > 0 else math.nan


def _psnr_value(mse: float, data_range: float) -> float:
    """``10 log10(data_range^2 / mse)``: ``inf`` for a perfect prediction, ``-inf`` for a zero data range."""
    if mse == 0:
        return math.inf
    if data_range == 0:
        return -math.inf
    return 10.0 * math.log10(data_range**2 / mse)


@torch.no_grad()
def nmse(gt: ArrayLike, pred: ArrayLike) -> float:
    """Normalised MSE ``||gt - pred||^2 / ||gt||^2`` of a volume ``(slices, H, W)`` or a slice ``(H, W)``."""
    g, p = _as_volume_pair(gt, pred)
    return _nmse_value(float((g - p).pow(2).sum()), float(g.pow(2).sum()))


@torch.no_grad()
def psnr(gt: ArrayLike, pred: ArrayLike, data_range: Optional[float] = None) -> float:
    """PSNR in dB of a volume ``(slices, H, W)`` or a slice ``(H, W)``: ``10 log10(data_range^2 / MSE)``.

    Args:
        gt, pred: numpy arrays or tensors of the same shape.
        data_range: defaults to ``gt.max()`` over the whole volume (fastMRI).
    """
    g, p = _as_volume_pair(gt, pred)
    dr = float(g.max()) if data_range is None else float(data_range)
    return _psnr_value(float((g - p).pow(2).mean()), dr)


@torch.no_grad()
def ssim(gt: ArrayLike, pred: ArrayLike, data_range: Optional[float] = None) -> float:
    """Mean over slices of the scikit-image SSIM (7x7 uniform window, K1 = 0.01, K2 = 0.03).

    Args:
        gt, pred: numpy arrays or tensors ``(slices, H, W)`` or ``(H, W)``, ``H, W >= 7``.
        data_range: defaults to ``gt.max()`` over the whole volume (fastMRI), used for every slice.
    """
    g, p = _as_volume_pair(gt, pred)
    dr = g.max() if data_range is None else torch.tensor(float(data_range), dtype=g.dtype, device=g.device)
    return _ssim_sum(g, p, dr.expand(g.shape[0])) / g.shape[0]


def psnr_y(gt_y: np.ndarray, pred_y: np.ndarray, border: int) -> float:
    """The super-resolution literature's PSNR (SwinIR's protocol): luma in ``[0, 255]`` (pred rounded and clipped as an
    8-bit image would be), ``border`` pixels cropped on each side, data range 255."""
    g, p = _crop_border(gt_y, border), np.clip(np.round(_crop_border(pred_y, border)), 0, 255)
    return _psnr_value(float(np.mean((g - p) ** 2)), 255.0)


def ssim_y(gt_y: np.ndarray, pred_y: np.ndarray, border: int) -> float:
    """The literature's SSIM on the same crop: Wang et al.'s 11 x 11 Gaussian window (sigma 1.5), data range 255."""
    from skimage.metrics import structural_similarity

    g, p = _crop_border(gt_y, border), np.clip(np.round(_crop_border(pred_y, border)), 0, 255)
    return float(
        structural_similarity(g, p, data_range=255.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    )


def block_means(x: np.ndarray, block: int = 8) -> np.ndarray:
    """Means of the non-overlapping ``block x block`` tiles of a 2-D array, flattened (partial tiles are dropped)."""
    h, w = (x.shape[0] // block) * block, (x.shape[1] // block) * block
    return np.asarray(x[:h, :w], np.float64).reshape(h // block, block, w // block, block).mean(axis=(1, 3)).ravel()


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks of a 1-D array, ties given their average rank (as ``scipy.stats.rankdata``)."""
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    starts = np.flatnonzero(np.r_[True, sorted_x[1:] != sorted_x[:-1]])
    ends = np.r_[starts[1:], x.size]
    ranks = np.empty(x.size)
    ranks[order] = np.repeat((starts + ends - 1) / 2.0, ends - starts)
    return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two 1-D arrays (``nan`` when either is constant)."""
    ra, rb = _ranks(np.asarray(a, np.float64).ravel()), _ranks(np.asarray(b, np.float64).ravel())
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = math.sqrt(float((ra**2).sum() * (rb**2).sum()))
    return float((ra * rb).sum() / denom) if denom > 0 else float("nan")


def top_overlap(a: np.ndarray, b: np.ndarray, fraction: float = 0.1) -> float:
    """The share of ``b``'s top ``fraction`` entries that are also among ``a``'s (chance: ``fraction``)."""
    n = max(1, int(round(fraction * a.size)))
    return len(set(np.argsort(-a, kind="stable")[:n]) & set(np.argsort(-b, kind="stable")[:n])) / n


def _crop_border(x: np.ndarray, border: int) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x[border : x.shape[0] - border, border : x.shape[1] - border] if border else x


@torch.no_grad()
def volume_metrics(
    gt: ArrayLike, preds: Mapping[str, ArrayLike], chunk: int = 2
) -> Dict[str, Dict[str, Optional[float]]]:
    """fastMRI PSNR / SSIM / NMSE of several predictions of one volume, in one pass over ``chunk`` slices at a time.

    The same values as :func:`psnr`, :func:`ssim` and :func:`nmse` (float64, ``data_range = gt.max()``), without
    float64 copies of whole volumes: memory stays at a few chunks however long the volume (two 320 x 320 slices
    a chunk: faster than larger ones, their float64 moments stay in cache).

    Args:
        gt: the reference ``(slices, H, W)``; preds: ``{name: (slices, H, W)}``.

    Returns:
        ``{name: {"psnr", "ssim", "nmse"}}``; SSIM is ``None`` for slices smaller than its 7 x 7 window.
    """
    g_all = convert_to_tensor(gt, track_meta=False)
    g_all = g_all[None] if g_all.ndim == 2 else g_all
    p_all = {}
    for name, x in preds.items():
        p = convert_to_tensor(x, track_meta=False)
        p_all[name] = p[None] if p.ndim == 2 else p
        if p_all[name].shape != g_all.shape:
            raise ValueError(f"gt and {name} must have the same shape, got {tuple(g_all.shape)} and {tuple(p.shape)}.")
    data_range = float(g_all.max())
    small = min(g_all.shape[-2:]) < SSIM_WIN_SIZE
    sums = {name: [0.0, 0.0] for name in p_all}  # squared error, SSIM
    sq_gt = 0.0
    for start in range(0, g_all.shape[0], chunk):
        g = g_all[start : start + chunk].double()
        sq_gt += float(g.pow(2).sum())
        ps = [p_all[name][start : start + chunk].to(g.device).double() for name in p_all]
        ssims = [None] * len(ps) if small else _ssim_slices(g, ps, g.new_full((g.shape[0],), data_range))
        for name, p, s in zip(p_all, ps, ssims):
            sums[name][0] += float((g - p).pow(2).sum())
            sums[name][1] += 0.0 if s is None else float(s.sum())
    n_pixels, n_slices = g_all.numel(), g_all.shape[0]
    return {
        name: {
            "psnr": _psnr_value(err / n_pixels, data_range),
            "ssim": None if small else ssim_sum / n_slices,
            "nmse": _nmse_value(err, sq_gt),
        }
        for name, (err, ssim_sum) in sums.items()
    }


@dataclass
class _VolumeStatistics:
    """Sufficient statistics of the slices of one volume seen so far (float64 Python numbers)."""

    sq_err: float = 0.0  # sum of (gt - pred)^2
    sq_gt: float = 0.0  # sum of gt^2
    max_gt: float = -math.inf
    n_pixels: int = 0
    n_slices: int = 0
    ssim_sum: float = 0.0  # SSIM of the slices whose data range was known when they arrived
    data_range: Optional[float] = None  # given by the batch (e.g. fastMRI's ``max`` attribute), else ``max_gt``
    pending: List[Tuple[Tensor, Tensor]] = field(default_factory=list)  # (gt, pred) CPU slices awaiting max_gt

    def merge(self, other: "_VolumeStatistics", volume: Hashable) -> None:
        if None not in (self.data_range, other.data_range) and self.data_range != other.data_range:
            raise ValueError(f"volume {volume!r} reported two data ranges: {self.data_range} and {other.data_range}.")
        self.sq_err += other.sq_err
        self.sq_gt += other.sq_gt
        self.max_gt = max(self.max_gt, other.max_gt)
        self.n_pixels += other.n_pixels
        self.n_slices += other.n_slices
        self.ssim_sum += other.ssim_sum
        self.data_range = self.data_range if other.data_range is None else other.data_range
        self.pending.extend(other.pending)

    @property
    def volume_data_range(self) -> float:
        return self.max_gt if self.data_range is None else self.data_range

    def nmse(self) -> float:
        return _nmse_value(self.sq_err, self.sq_gt)

    def psnr(self) -> float:
        return _psnr_value(self.sq_err / self.n_pixels, self.volume_data_range)

    def ssim(self) -> float:
        total = self.ssim_sum
        if self.pending:
            gt = torch.stack([g for g, _ in self.pending]).double()
            pred = torch.stack([p for _, p in self.pending]).double()
            total += _ssim_sum(gt, pred, torch.full((gt.shape[0],), self.volume_data_range, dtype=torch.float64))
        return total / self.n_slices


def _batch_field(batch: Any, key: Optional[str], n: int) -> Optional[List[Any]]:
    """Per-sample values of ``key`` in a collated batch dict or a decollated list of dicts; ``None`` if absent."""
    if key is None:
        return None
    if isinstance(batch, Mapping):
        if key not in batch:
            return None
        values = batch[key]
    elif isinstance(batch, Sequence) and all(isinstance(b, Mapping) for b in batch):
        values = [b.get(key) for b in batch]
    else:
        return None
    values = [values] if isinstance(values, (str, bytes)) else list(values)
    if len(values) != n:
        raise ValueError(f"batch entry {key!r} holds {len(values)} values for a batch of {n} predictions.")
    return values


class _VolumeMetric(Metric):
    """Base of the per-volume fastMRI metrics: accumulates :class:`_VolumeStatistics` per volume id.

    Args:
        output_transform: maps ``engine.state.output`` to ``(y_pred, y)``: tensors ``(B, 1, H, W)`` or sequences
            of ``(1, H, W)`` tensors (a decollated MONAI output, e.g. ``from_engine(["pred", "label"])``), magnitude
            images in one intensity scale per volume (see the module docstring).
        volume_key: the entry of ``engine.state.batch`` (a collated dict or MONAI's decollated list of dicts) that
            names each sample's volume, e.g. ``"fname"``; slices with the same value form one volume. A sample
            without it (key absent, or ``None``) is a volume of its own; pass ``volume_key=None`` for 2-D image
            data sets (one image per file), so that no slice waits for its volume.
        data_range_key: optional batch entry holding each sample's *volume* data range in the images' units
            (fastMRI's ``max`` attribute, which is ``reconstruction_esc.max()`` of the volume), used by PSNR and SSIM
            as fastMRI's training module does. Without it the data range is the maximum of the target over the whole
            volume, known only once every slice has been seen: :class:`VolumeSSIM` then keeps the slices of
            multi-slice volumes on the CPU until :meth:`compute` (PSNR and NMSE never need to). Pass it to keep SSIM
            memory at a few numbers per volume: for ``monai_chpnet.data`` fastMRI items that is
            ``data_range_key="max"``, with images in scanner units.

    :meth:`update` also takes ``(y_pred, y, volume_ids)`` or ``(y_pred, y, volume_ids, data_ranges)`` directly
    (sequences of length ``B``, entries may be ``None``).

    Distributed runs: :meth:`compute` gathers the per-volume statistics of all ranks (``idist.all_gather``) and
    merges the slices of one volume that different ranks saw, so every rank returns the same value. Samples that a
    ``DistributedSampler`` repeats to even out the ranks are counted twice, as in any Ignite/MONAI metric.
    """

    def __init__(
        self,
        output_transform: Callable[[Any], Any] = lambda x: x,
        volume_key: Optional[str] = "fname",
        data_range_key: Optional[str] = None,
    ) -> None:
        self.volume_key = volume_key
        self.data_range_key = data_range_key
        super().__init__(output_transform=output_transform)

    def reset(self) -> None:
        self._volumes: Dict[Hashable, _VolumeStatistics] = {}
        self._n_samples = 0

    @torch.no_grad()
    def iteration_completed(self, engine: Any) -> None:
        """Take ``(y_pred, y)`` from ``output_transform``, volume ids and data ranges from ``engine.state.batch``."""
        output = self._output_transform(engine.state.output)
        if isinstance(output, Mapping):
            output = (output["y_pred"], output["y"])
        y_pred, y = output[0], output[1]
        n = len(y_pred)
        batch = engine.state.batch
        self.update((y_pred, y, _batch_field(batch, self.volume_key, n), _batch_field(batch, self.data_range_key, n)))

    @staticmethod
    def _as_batch(x: Union[Tensor, Sequence[Tensor]], name: str) -> Tensor:
        t = torch.stack([convert_to_tensor(i, track_meta=False) for i in x]) if isinstance(x, Sequence) else x
        t = convert_to_tensor(t, dtype=torch.float64, track_meta=False)
        if t.ndim != 4 or t.shape[1] != 1:
            raise ValueError(
                f"{name} must be a batch of magnitude images (B, 1, H, W) (take complex_abs of 2-channel outputs "
                f"first), got shape {tuple(t.shape)}."
            )
        return t[:, 0]

    @torch.no_grad()
    def update(self, output: Sequence[Any]) -> None:
        """Add a batch: ``(y_pred, y[, volume_ids[, data_ranges]])``, images ``(B, 1, H, W)``."""
        y_pred, y = self._as_batch(output[0], "y_pred"), self._as_batch(output[1], "y")
        if y_pred.shape != y.shape:
            raise ValueError(f"y_pred and y must have the same shape, got {tuple(y_pred.shape)} and {tuple(y.shape)}.")
        y_pred = y_pred.to(y.device)
        n = y.shape[0]
        ids = list(output[2]) if len(output) > 2 and output[2] is not None else [None] * n
        ranges = list(output[3]) if len(output) > 3 and output[3] is not None else [None] * n
        if len(ids) != n or len(ranges) != n:
            raise ValueError(f"got {len(ids)} volume ids and {len(ranges)} data ranges for a batch of {n} images.")
        ids = [v.item() if isinstance(v, (Tensor, np.ndarray)) else v for v in ids]  # tensors hash by identity
        stats = torch.stack(
            [(y - y_pred).pow(2).sum(dim=(-2, -1)), y.pow(2).sum(dim=(-2, -1)), y.amax(dim=(-2, -1))], dim=1
        ).tolist()
        rank = idist.get_rank()
        keys: List[Hashable] = []
        for i, vid in enumerate(ids):
            if vid is None:  # a volume of its own: unique key, and its data range is known now
                keys.append(("sample", rank, self._n_samples + i))
                ranges[i] = stats[i][2] if ranges[i] is None else ranges[i]
            else:
                keys.append(vid)
        self._n_samples += n
        ranges = [None if r is None else float(r) for r in ranges]
        ready = [i for i, r in enumerate(ranges) if r is not None] if self._needs_ssim else []
        ssims: Dict[int, float] = {}
        if ready:
            dr = torch.tensor([ranges[i] for i in ready], dtype=torch.float64, device=y.device)
            ssims = dict(zip(ready, _ssim_per_slice(y[ready], y_pred[ready], dr).tolist()))
        for i, key in enumerate(keys):
            sq_err, sq_gt, max_gt = stats[i]
            slice_stats = _VolumeStatistics(
                sq_err=sq_err, sq_gt=sq_gt, max_gt=max_gt, n_pixels=y[i].numel(), n_slices=1, data_range=ranges[i]
            )
            if i in ssims:
                slice_stats.ssim_sum = ssims[i]
            elif self._needs_ssim:
                slice_stats.pending.append((y[i].float().cpu(), y_pred[i].float().cpu()))
            self._volumes.setdefault(key, _VolumeStatistics()).merge(slice_stats, key)

    def _all_volumes(self) -> Dict[Hashable, _VolumeStatistics]:
        if idist.get_world_size() == 1:
            return self._volumes
        merged: Dict[Hashable, _VolumeStatistics] = {}
        for part in idist.all_gather(self._volumes):
            for key, vol in part.items():
                merged.setdefault(key, _VolumeStatistics()).merge(vol, key)
        return merged

    @abstractmethod
    def _volume_value(self, volume: _VolumeStatistics) -> float:
        """The metric of one complete volume."""

    def compute(self) -> float:
        """Mean over volumes of the per-volume value."""
        volumes = self._all_volumes()
        if not volumes:
            raise NotComputableError(f"{type(self).__name__} must have at least one example before it can be computed.")
        return float(np.mean([self._volume_value(v) for v in volumes.values()]))


class VolumePSNR(_VolumeMetric):
    """Mean over volumes of the fastMRI PSNR (dB); see :class:`_VolumeMetric` for arguments."""

    def _volume_value(self, volume: _VolumeStatistics) -> float:
        return volume.psnr()


class VolumeNMSE(_VolumeMetric):
    """Mean over volumes of the fastMRI NMSE; see :class:`_VolumeMetric` for arguments."""

    def _volume_value(self, volume: _VolumeStatistics) -> float:
        return volume.nmse()


class VolumeSSIM(_VolumeMetric):
    """Mean over volumes of the fastMRI SSIM (mean over slices, volume data range); see :class:`_VolumeMetric`."""

    _needs_ssim = True

    def _volume_value(self, volume: _VolumeStatistics) -> float:
        return volume.ssim()


def validation_metrics(
    teacher: bool = False,
    zero_filled: bool = True,
    volume_key: Optional[str] = None,
    data_range_key: Optional[str] = None,
) -> Dict[str, _VolumeMetric]:
    """The metrics a :class:`~monai_chpnet.engines.ReconEvaluator` computes in training runs, key metric first:
    ``val_psnr`` (selects the best checkpoint), ``val_ssim``, ``val_nmse``, then ``teacher_nmse`` /
    ``teacher_psnr`` (``teacher=True``; the dynamic KD weight reads ``teacher_nmse``) and ``zf_psnr`` / ``zf_ssim``.

    ``volume_key``: batch key grouping slices into volumes (``"fname"`` for fastMRI); ``None`` treats every
    sample as its own volume (2-D image sets). ``data_range_key``: batch key of each volume's data range
    (``"max"`` for fastMRI, see :class:`_VolumeMetric`): without it, SSIM keeps every slice of a multi-slice volume
    in memory until the end of the validation (about 12 GB for fastMRI's single-coil validation split).
    """
    from monai.handlers import from_engine

    def pair(key: str) -> Callable:
        return from_engine([key, "label"])

    per_volume = dict(volume_key=volume_key, data_range_key=data_range_key)
    metrics: Dict[str, _VolumeMetric] = {
        "val_psnr": VolumePSNR(output_transform=pair("pred"), **per_volume),
        "val_ssim": VolumeSSIM(output_transform=pair("pred"), **per_volume),
        "val_nmse": VolumeNMSE(output_transform=pair("pred"), **per_volume),
    }
    if teacher:
        metrics["teacher_nmse"] = VolumeNMSE(output_transform=pair("teacher_pred"), **per_volume)
        metrics["teacher_psnr"] = VolumePSNR(output_transform=pair("teacher_pred"), **per_volume)
    if zero_filled:
        metrics["zf_psnr"] = VolumePSNR(output_transform=pair("zero_filled"), **per_volume)
        metrics["zf_ssim"] = VolumeSSIM(output_transform=pair("zero_filled"), **per_volume)
    return metrics
