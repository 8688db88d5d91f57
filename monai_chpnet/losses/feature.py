"""Heterogeneous (CNN student -> ViT teacher) feature distillation through learned projectors."""

from __future__ import annotations

import re
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["FEATURE_PAIRINGS", "FeatureProjector", "HeterogeneousFeatureLoss", "default_feature_pairs", "matched_group"]

FeatureInfo = Mapping[str, Tuple[int, int]]  # tap name -> (channels, stride w.r.t. the input grid)


class FeatureProjector(nn.Module):
    """Learned map of a student feature map onto a teacher tap's channels and grid.

    With ``r = out_stride / in_stride``:

    * ``r == 1``: 1x1 conv ``in_channels -> out_channels``;
    * integer ``r > 1`` (teacher grid coarser): ``PixelUnshuffle(r)`` then 1x1 conv
      ``in_channels * r^2 -> out_channels`` (a learned ``r x r`` strided conv: nothing is averaged away);
    * integer ``1 / r > 1`` (teacher grid finer): sub-pixel conv, 1x1 conv ``in_channels -> out_channels * u^2``
      then ``PixelShuffle(u)``, ``u = in_stride / out_stride``;
    * otherwise: 1x1 conv, then adaptive average pooling (to a coarser grid) or nearest interpolation (to a finer
      one) to ``round(H * in_stride / out_stride)``.

    Shapes:
        ``(B, in_channels, H, W)`` -> ``(B, out_channels, H * in_stride / out_stride, W * in_stride / out_stride)``.
    """

    def __init__(self, in_channels: int, out_channels: int, in_stride: int, out_stride: int) -> None:
        super().__init__()
        if min(in_channels, out_channels, in_stride, out_stride) < 1:
            raise ValueError(
                f"channels and strides must be positive integers, got in_channels={in_channels}, "
                f"out_channels={out_channels}, in_stride={in_stride}, out_stride={out_stride}."
            )
        self.in_stride, self.out_stride = in_stride, out_stride
        self.factor: Optional[int]  # pixel-(un)shuffle factor; None for the pooling / nearest fallback
        if out_stride % in_stride == 0:
            self.factor = out_stride // in_stride
            f = self.factor
            self.proj = (
                nn.Conv2d(in_channels, out_channels, 1)
                if f == 1
                else nn.Sequential(nn.PixelUnshuffle(f), nn.Conv2d(in_channels * f * f, out_channels, 1))
            )
        elif in_stride % out_stride == 0:
            self.factor = in_stride // out_stride
            u = self.factor
            self.proj = nn.Sequential(nn.Conv2d(in_channels, out_channels * u * u, 1), nn.PixelShuffle(u))
        else:
            self.factor = None
            self.proj = nn.Conv2d(in_channels, out_channels, 1)

    def output_size(self, size: Sequence[int]) -> Tuple[int, int]:
        """Spatial size of the output for an input of spatial size ``size = (H, W)``."""
        return tuple(round(s * self.in_stride / self.out_stride) for s in size)  # type: ignore[return-value]

    def forward(self, x: Tensor) -> Tensor:
        unshuffle = self.factor is not None and self.out_stride > self.in_stride
        if unshuffle and (x.shape[-2] % self.factor or x.shape[-1] % self.factor):
            raise ValueError(
                f"a feature map of spatial size {tuple(x.shape[-2:])} cannot be pixel-unshuffled by {self.factor} "
                f"(stride {self.in_stride} -> {self.out_stride})."
            )
        y = self.proj(x)
        if self.factor is None:
            size = self.output_size(x.shape[-2:])
            y = F.adaptive_avg_pool2d(y, size) if self.out_stride > self.in_stride else F.interpolate(y, size=size)
        return y


class HeterogeneousFeatureLoss(nn.Module):
    """Feature distillation between differently built networks, one learned :class:`FeatureProjector` per pair.

    For each ``(student_tap, teacher_tap)`` pair the student's feature map is projected onto the teacher tap's
    channels and grid, then compared with the teacher's (detached) feature map by

    (a) ``feature`` term: mean over locations of ``||s_hat - t_hat||^2``, where ``s_hat``, ``t_hat`` are the
        features L2-normalised over channels at each location (``= 2 - 2 cos``, in [0, 4]);
    (b) ``affinity`` term: both maps adaptively average-pooled to at most ``affinity_size x affinity_size``
        locations, L2-normalised per location, and their ``N x N`` cosine-affinity (Gram) matrices compared by
        MSE: the relations between distant locations that the ViT's attention encodes. Pooling bounds the cost at
        ``N^2 = affinity_size^4`` per sample.

    The loss is the mean over pairs of ``feature_weight * (a) + affinity_weight * (b)``. Gradients reach the
    student features and the projectors (which belong in the student's optimizer), never the teacher.

    Args:
        student_info: ``student.feature_info()``: ``{tap: (channels, stride)}``.
        teacher_info: ``teacher.feature_info()``.
        pairs: ``(student_tap, teacher_tap)`` pairs to match, or the name of a :func:`default_feature_pairs` rule
            (``"depth"``, ``"legacy"``) to pair the two networks' taps by.
        affinity_size: side of the pooled grid of the affinity term.
        feature_weight, affinity_weight: weights of terms (a) and (b).

    Shapes:
        ``forward(student_features, teacher_features)``: dicts ``{tap: (B, C_tap, H / stride, W / stride)}``
        (the second output of ``forward_features``) -> scalar.
    """

    def __init__(
        self,
        student_info: FeatureInfo,
        teacher_info: FeatureInfo,
        pairs: Union[str, Sequence[Tuple[str, str]]],
        affinity_size: int = 16,
        feature_weight: float = 1.0,
        affinity_weight: float = 1.0,
    ) -> None:
        super().__init__()
        if isinstance(pairs, str):
            pairs = default_feature_pairs(student_info, teacher_info, rule=pairs)
        if not pairs:
            raise ValueError("pairs must name at least one (student_tap, teacher_tap) pair.")
        if len(set(map(tuple, pairs))) != len(pairs):
            raise ValueError(f"pairs must not repeat a (student_tap, teacher_tap) pair, got {list(pairs)}.")
        for s_tap, t_tap in pairs:
            for who, tap, info in (("student", s_tap, student_info), ("teacher", t_tap, teacher_info)):
                if tap not in info:
                    raise KeyError(f"{who} tap {tap!r} is not in the {who}'s feature_info (taps: {sorted(info)}).")
        self.pairs = [(str(s), str(t)) for s, t in pairs]
        self.student_info = {s: tuple(student_info[s]) for s, _ in self.pairs}
        self.teacher_info = {t: tuple(teacher_info[t]) for _, t in self.pairs}
        self.affinity_size = affinity_size
        self.feature_weight = feature_weight
        self.affinity_weight = affinity_weight
        self.projectors = nn.ModuleList(
            FeatureProjector(
                in_channels=self.student_info[s][0],
                out_channels=self.teacher_info[t][0],
                in_stride=self.student_info[s][1],
                out_stride=self.teacher_info[t][1],
            )
            for s, t in self.pairs
        )

    @staticmethod
    def _checked(features: Mapping[str, Tensor], tap: str, who: str, channels: int) -> Tensor:
        if tap not in features:
            raise KeyError(f"{who} features have no tap {tap!r} (got {sorted(features)}).")
        x = features[tap]
        if x.ndim != 4 or x.shape[1] != channels:
            raise ValueError(
                f"{who} tap {tap!r}: expected (B, {channels}, h, w) as declared by feature_info, got {tuple(x.shape)}."
            )
        return x

    def _affinity(self, x: Tensor) -> Tensor:
        """``(B, C, h, w)`` -> cosine affinities ``(B, N, N)`` of the pooled locations."""
        grid = (min(self.affinity_size, x.shape[-2]), min(self.affinity_size, x.shape[-1]))
        flat = F.normalize(F.adaptive_avg_pool2d(x, grid).flatten(2), dim=1)  # (B, C, N)
        return flat.transpose(1, 2) @ flat

    def pair_losses(
        self, student_features: Mapping[str, Tensor], teacher_features: Mapping[str, Tensor]
    ) -> Dict[str, Tensor]:
        """Per-pair losses ``{"<student_tap>-><teacher_tap>": scalar}`` (weighted sum of terms (a) and (b))."""
        losses: Dict[str, Tensor] = {}
        for (s_tap, t_tap), projector in zip(self.pairs, self.projectors):
            (s_ch, s_stride), (t_ch, t_stride) = self.student_info[s_tap], self.teacher_info[t_tap]
            s = self._checked(student_features, s_tap, "student", s_ch)
            t = self._checked(teacher_features, t_tap, "teacher", t_ch).detach()
            expected = projector.output_size(s.shape[-2:])
            if tuple(t.shape[-2:]) != expected or s.shape[0] != t.shape[0]:
                raise ValueError(
                    f"student tap {s_tap!r} (stride {s_stride}, shape {tuple(s.shape)}) maps to a {expected} grid, "
                    f"but teacher tap {t_tap!r} (stride {t_stride}) has shape {tuple(t.shape)}: the declared strides "
                    "do not match the feature maps, or the networks saw different inputs."
                )
            p = projector(s)
            feature = (F.normalize(p, dim=1) - F.normalize(t, dim=1)).pow(2).sum(dim=1).mean()
            affinity = F.mse_loss(self._affinity(p), self._affinity(t))
            losses[f"{s_tap}->{t_tap}"] = self.feature_weight * feature + self.affinity_weight * affinity
        return losses

    def forward(self, student_features: Mapping[str, Tensor], teacher_features: Mapping[str, Tensor]) -> Tensor:
        return torch.stack(list(self.pair_losses(student_features, teacher_features).values())).mean()


FEATURE_PAIRINGS = ("depth", "legacy")
_CASCADE_TAP = re.compile(r"^cascade(\d+)_(\w+)$")
_GROUP_TAP = re.compile(r"^group(\d+)$")


def matched_group(cascade: int, num_cascades: int, num_groups: int) -> int:
    """The teacher group at the relative depth of student cascade ``cascade`` (0-based):
    ``g = ceil((k + 1) G / K) - 1``, the shallowest of the ``G`` groups whose relative depth ``(g + 1) / G`` is at least
    the cascade's ``(k + 1) / K`` (so ``(k + 1) / K <= (g + 1) / G < (k + 1) / K + 1 / G``); the last cascade meets
    the last group. Exact integer arithmetic."""
    if not 0 <= cascade < num_cascades or num_groups < 1:
        raise ValueError(
            f"need 0 <= cascade < num_cascades and num_groups >= 1, got {cascade}, {num_cascades}, {num_groups}."
        )
    return -(-(cascade + 1) * num_groups // num_cascades) - 1


def default_feature_pairs(
    student_info: FeatureInfo, teacher_info: FeatureInfo, rule: str = "depth", student_tap: str = "dec"
) -> List[Tuple[str, str]]:
    """The taps distillation matches by default.

    ``rule="depth"``: every student cascade ``k`` of ``K`` (its ``cascade{k}_<student_tap>`` tap, by default the
    cascade's decoder output, the features its image is made from) with the teacher group at the same relative
    depth, ``group{ceil((k + 1) G / K) - 1}`` of ``G`` (:func:`matched_group`): the first cascade learns from the
    first group, the last from the last -- the cascade-aligned hint transfer of KD-MRI. Needs the student's
    ``cascade{k}_*`` and the teacher's ``group{i}`` taps (``docs/CONTRACTS.md``).

    ``rule="legacy"``: the first design's two pairs, the student's deepest (largest-stride) tap with the teacher's
    middle group and the student's last tap with the teacher's last group. The deepest tap is the *first*
    cascade's bottleneck, so a shallow student stage imitates a late teacher stage: its gradient measured orthogonal
    to the reconstruction's (cosine about 0). Kept for the ablation.

    Raises:
        ValueError: empty feature_info, an unknown ``rule``, or (``"depth"``) taps that are not named by cascade /
        group, or no ``cascade{k}_<student_tap>`` tap for some cascade.
    """
    if not student_info or not teacher_info:
        raise ValueError("default_feature_pairs needs non-empty feature_info() of both networks.")
    if rule not in FEATURE_PAIRINGS:
        raise ValueError(f"rule must be one of {FEATURE_PAIRINGS}, got {rule!r}.")
    s_taps, t_taps = list(student_info), list(teacher_info)
    if rule == "legacy":
        deepest = max(s_taps, key=lambda k: (student_info[k][1], -s_taps.index(k)))
        return list(dict.fromkeys([(deepest, t_taps[len(t_taps) // 2]), (s_taps[-1], t_taps[-1])]))
    cascades = sorted({int(m.group(1)) for m in map(_CASCADE_TAP.match, s_taps) if m})
    groups = sorted(int(m.group(1)) for m in map(_GROUP_TAP.match, t_taps) if m)
    if not cascades or cascades != list(range(len(cascades))) or groups != list(range(len(groups))) or not groups:
        raise ValueError(
            "depth-matched pairs need student taps 'cascade{k}_*' for k = 0..K-1 and teacher taps 'group{i}' for "
            f"i = 0..G-1, got student {s_taps} and teacher {t_taps}; pass the pairs explicitly."
        )
    pairs = []
    for k in cascades:
        tap = f"cascade{k}_{student_tap}"
        if tap not in student_info:
            raise ValueError(f"student has no tap {tap!r} (taps: {s_taps}).")
        pairs.append((tap, f"group{matched_group(k, len(cascades), len(groups))}"))
    return pairs
