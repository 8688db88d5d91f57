"""Lightweight sub-pixel CNN student: unrolled cascades of a small U-shaped CNN with data consistency.

One cascade's CNN (:class:`SubpixelDenoiser`), ``features = (c0, c1, …, cL)`` at strides ``1, 2, …, 2^L``::

    pad     reflect-pad H, W to multiples of 2^L (cropped back at the end)
    head    conv3×3 C → c0                                   full resolution, few channels
    down    L × conv3×3 stride 2: c0 → c1 → … → cL            tap "enc": the c1 map (stride 2)
    body    R × residual block (conv-act-conv + skip) at cL   tap "bottleneck" (stride 2^L)
    up      L × sub-pixel conv c(l) → c(l-1) (conv → PixelShuffle(2)), + skip of level l-1,
            then conv3×3 (except at full resolution)           tap "dec": the c1 map (stride 2)
    tail    conv3×3 c0 → C, added to the input (residual)

Down-sampling is by strided convolution, up-sampling only by **sub-pixel convolution**
(:class:`monai.networks.blocks.SubpixelUpsample`, ICNR-initialised), never transposed convolution or
interpolation. Skips are added, not concatenated: most of the compute sits at 1/2 and 1/4 resolution, the
full-resolution path carries ``c0`` channels only.

Modes (:class:`SubpixelCNNStudent`):

* k-space / image (``upscale == 1``): ``x ← DC_k(CNN_k(x))`` for each cascade ``k``; ``DC_k`` is hard or soft
  data consistency (:mod:`.data_consistency`) when ``kspace``/``mask`` are given, the identity otherwise. With
  ``phase_reference`` and measurements, each CNN sees the image in the frame of the smooth phase ``p`` estimated
  from the k-space centre (:mod:`.phase`): ``x ← DC_k(p · CNN_k(conj(p) · x))``.
* super-resolution (``upscale`` 2/4, low-res input ``y``): a learned sub-pixel up-sampler gives ``x0``, then each
  cascade applies ``x ← x - δ_k [U_k(D x - y) + η_k (x - v)]`` with ``v = CNN_k(x)``
  (:class:`~.data_consistency.LearnedAdjointUpdate`).

Feature taps (:meth:`SubpixelCNNStudent.forward_features`), in this order, for each cascade ``k = 0 … K-1``:
``cascade{k}_enc`` ``(B, c1, H/2, W/2)``, ``cascade{k}_bottleneck`` ``(B, cL, H/2^L, W/2^L)``,
``cascade{k}_dec`` ``(B, c1, H/2, W/2)``, where ``H × W`` is the output grid and sizes are rounded up (padding
cropped, ``ceil(H / stride)``); :meth:`~SubpixelCNNStudent.feature_info` gives ``(channels, stride)``, strides
w.r.t. the output grid. A distillation projector maps e.g. ``cascade{K-1}_dec`` (stride 2) onto a teacher tap
``group{i}`` of stride 2 (``small`` teacher, half-resolution tokens) by a 1×1 conv, or of stride 1 (``paper``
teacher) by a 1×1 conv to ``4·E`` channels and PixelShuffle(2).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from monai.networks.blocks import Convolution, ResidualUnit, SubpixelUpsample
from monai.networks.layers.utils import get_act_layer
from monai.networks.utils import icnr_init
from torch import Tensor, nn

from monai_chpnet.resampling import RESAMPLING_MODES, upsample
from monai_chpnet.networks.data_consistency import (
    HardDataConsistency,
    LearnedAdjointUpdate,
    SoftDataConsistency,
    check_measurements,
    replication_upsampler,
)
from monai_chpnet.networks.phase import CentrePhaseReference, rotate_channels
from monai_chpnet.networks.utils import check_dc_request, check_image_batch, pad_to_multiple

__all__ = ["SubpixelDenoiser", "SubpixelCNNStudent", "STUDENT_PRESETS", "DEFAULT_STUDENT_PRESET", "student_from_preset"]

#: Named sizes, each matching the teacher preset of the same name (≤ 1/8 of its parameters, ≤ 1/10 of its MACs).
#: ``small`` (the class defaults) was chosen by short training runs (4x random masks, 800 iterations) among the
#: configurations within its 1/8 parameter budget: 4-5 cascades beat 3 deeper ones by 1.2-1.5 dB; a 1×1 sub-pixel
#: conv matched a 3×3 one at a ninth of the parameters; dropping the full-resolution path (all compute at 1/2
#: resolution) cost 1.1 dB; ``c0 = 4`` instead of 8 at full resolution cost 0.06 dB for 25 % less latency.
STUDENT_PRESETS: Dict[str, Dict[str, Any]] = {
    "tiny": dict(num_cascades=2, features=(4, 8, 8), num_res_blocks=1, phase_reference=True),
    "small": dict(num_cascades=5, features=(4, 12, 16), num_res_blocks=1, phase_reference=True),
    "paper": dict(num_cascades=6, features=(16, 32, 64), num_res_blocks=2, phase_reference=True),
}
#: The preset the bundle ships (CPU latency target: < 50 ms per 320×320 slice on 2 threads).
DEFAULT_STUDENT_PRESET = "small"

_DEFAULT_ACT = ("leakyrelu", {"negative_slope": 0.1, "inplace": True})


class _DecoderStage(nn.Module):
    """One decoder step: sub-pixel up-sampling (×2), add the skip, optionally refine by a 3×3 conv."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, refine: bool, act: Union[str, tuple]
    ) -> None:
        super().__init__()
        conv = nn.Conv2d(in_channels, 4 * out_channels, kernel_size, padding=kernel_size // 2)
        icnr_init(conv, 2)
        self.up = nn.Sequential(
            SubpixelUpsample(2, in_channels, out_channels, scale_factor=2, conv_block=conv, apply_pad_pool=False),
            get_act_layer(act),
        )
        self.refine = (
            Convolution(2, out_channels, out_channels, kernel_size=3, act=act, norm=None) if refine else nn.Identity()
        )

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        """``x``: ``(B, C_in, h, w)``, ``skip``: ``(B, C_out, 2h, 2w)``; returns ``(B, C_out, 2h, 2w)``."""
        return self.refine(self.up(x) + skip)


class SubpixelDenoiser(nn.Module):
    """Residual U-shaped CNN: strided-conv encoder, sub-pixel-convolution decoder, additive skips.

    Args:
        channels: image channels ``C`` (input and output).
        features: channels per level, ``(c0, c1, …, cL)`` at strides ``1, 2, …, 2^L`` (``L >= 1``).
        num_res_blocks: residual blocks (conv-act-conv + skip) at the coarsest level.
        upsample_kernel_size: kernel of the sub-pixel convolutions (ICNR-initialised). 1 (default) makes each one a
            learned 2×2 "unpooling" (the sub-pixel form of a stride-2, 2×2 transposed conv) whose neighbourhood
            context comes from the 3×3 conv that follows; 3 is ESPCN's choice, at 9× the parameters.
        act: activation (MONAI ``Act`` spec).
        degradation: super-resolution only, the ``D`` the low-resolution input was made by
            (:mod:`monai_chpnet.resampling`): ``"average"`` (learned first estimate, average-pooling consistency),
            ``"kspace"`` or ``"bicubic"`` (first estimate its classical inverse, consistency with that ``D``).

    Shapes:
        ``forward_features(x)``: ``x`` ``(B, C, H, W)``, any ``H, W >= 2^L`` (reflect-padded internally, cropped
        back). Returns ``(x + residual, enc, bottleneck, dec)`` with ``enc``/``dec`` ``(B, c1, ceil(H/2), ceil(W/2))``
        and ``bottleneck`` ``(B, cL, ceil(H/2^L), ceil(W/2^L))``.
    """

    def __init__(
        self,
        channels: int,
        features: Sequence[int] = (4, 12, 16),
        num_res_blocks: int = 1,
        upsample_kernel_size: int = 1,
        act: Union[str, tuple] = _DEFAULT_ACT,
    ) -> None:
        super().__init__()
        if len(features) < 2:
            raise ValueError(f"features needs at least two levels (full and half resolution), got {tuple(features)}.")
        levels = len(features) - 1
        self.multiple = 2**levels
        self.head = Convolution(2, channels, features[0], kernel_size=3, act=act, norm=None)
        self.down = nn.ModuleList(
            [
                Convolution(2, features[i], features[i + 1], strides=2, kernel_size=3, act=act, norm=None)
                for i in range(levels)
            ]
        )
        self.body = nn.Sequential(
            *[
                ResidualUnit(
                    2, features[-1], features[-1], kernel_size=3, subunits=2, act=act, norm=None, last_conv_only=True
                )
                for _ in range(num_res_blocks)
            ]
        )
        # coarse to fine, level i+1 -> i; all but the full-resolution stage refine their sum by a conv
        self.decoder = nn.ModuleList(
            [
                _DecoderStage(features[i + 1], features[i], upsample_kernel_size, i > 0, act)
                for i in reversed(range(levels))
            ]
        )
        self.tail = nn.Conv2d(features[0], channels, 3, padding=1)

    def forward_features(self, x: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """Residual estimate and the ``enc``, ``bottleneck``, ``dec`` feature maps (see class docstring)."""
        h, w = x.shape[-2], x.shape[-1]
        padded = pad_to_multiple(x, self.multiple)
        skips: List[Tensor] = [self.head(padded)]
        for down in self.down:
            skips.append(down(skips[-1]))
        enc = skips[1]
        y = self.body(skips.pop())
        bottleneck = y
        dec = y
        for i, stage in enumerate(self.decoder):
            y = stage(y, skips.pop())
            if i == len(self.decoder) - 2:
                dec = y
        out = (padded + self.tail(y))[:, :, :h, :w]
        hc, wc = (h + 1) // 2, (w + 1) // 2
        return out, enc[:, :, :hc, :wc], bottleneck, dec[:, :, :hc, :wc]

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C, H, W)`` -> denoised ``(B, C, H, W)``."""
        return self.forward_features(x)[0]


class SubpixelCNNStudent(nn.Module):
    """Unrolled sub-pixel CNN student (see the module docstring for the cascade and the modes).

    Args:
        in_channels: 1 (magnitude, image/SR mode) or 2 (real, imaginary; k-space mode). Output has the same.
        num_cascades: unrolled iterations ``K``, each with its own :class:`SubpixelDenoiser`.
        features: channels per level of each denoiser, ``(c0, …, cL)`` at strides ``1 … 2^L``.
        num_res_blocks: residual blocks at the coarsest level of each denoiser.
        upsample_kernel_size: kernel of the denoisers' sub-pixel convolutions (see :class:`SubpixelDenoiser`).
        upscale: 1 (k-space/image mode) or 2/4 (super-resolution of a low-res input).
        data_consistency: ``"hard"`` or ``"soft"`` (one learned weight per cascade), used when ``kspace``/``mask``
            are passed (k-space mode, ``in_channels == 2``).
        phase_reference: with measurements, denoise in the frame of the k-space centre's smooth phase
            (:class:`~.phase.CentrePhaseReference`), so a phase-bearing image looks nearly real to the CNNs.
        act: activation (MONAI ``Act`` spec).

    Shapes:
        ``forward(image, kspace=None, mask=None)``: ``image`` real ``(B, in_channels, H, W)``; returns
        ``(B, in_channels, upscale·H, upscale·W)``. ``kspace`` complex ``(B, 1, H, W)`` and ``mask``
        ``(B, 1, 1, W)`` switch on data consistency. Needs ``upscale·H, upscale·W >= 2^L``.
    """

    def __init__(
        self,
        in_channels: int = 2,
        num_cascades: int = 5,
        features: Sequence[int] = (4, 12, 16),
        num_res_blocks: int = 1,
        upsample_kernel_size: int = 1,
        upscale: int = 1,
        data_consistency: str = "hard",
        phase_reference: bool = False,
        act: Union[str, tuple] = _DEFAULT_ACT,
        degradation: str = "average",
    ) -> None:
        super().__init__()
        if degradation not in RESAMPLING_MODES:
            raise ValueError(f"degradation must be one of {RESAMPLING_MODES}, got {degradation!r}.")
        self.degradation = degradation
        if in_channels not in (1, 2):
            raise ValueError(f"in_channels must be 1 (magnitude) or 2 (real, imaginary), got {in_channels}.")
        if upscale not in (1, 2, 4):
            raise ValueError(f"upscale must be 1, 2 or 4, got {upscale}.")
        if num_cascades < 1:
            raise ValueError(f"num_cascades must be >= 1, got {num_cascades}.")
        if not isinstance(phase_reference, bool):  # a config's "false" string would silently switch it on
            raise TypeError(f"phase_reference must be True or False, got {phase_reference!r}.")
        if data_consistency not in ("hard", "soft"):
            raise ValueError(f"data_consistency must be 'hard' or 'soft', got {data_consistency!r}.")
        self.in_channels = in_channels
        self.upscale = upscale
        self.features = tuple(features)
        self.min_size = -(-(2 ** (len(features) - 1)) // upscale)  # ceil: the denoisers see the up-scaled grid
        self.denoisers = nn.ModuleList(
            [
                SubpixelDenoiser(in_channels, features, num_res_blocks, upsample_kernel_size, act)
                for _ in range(num_cascades)
            ]
        )
        if upscale == 1:
            self.consistency = nn.ModuleList(
                [
                    HardDataConsistency() if data_consistency == "hard" else SoftDataConsistency()
                    for _ in range(num_cascades)
                ]
            )
            self.upsampler = nn.Identity()
        else:
            self.consistency = nn.ModuleList(
                [LearnedAdjointUpdate(in_channels, upscale, degradation) for _ in range(num_cascades)]
            )
            # x0: learned U0(y) starting as nearest for average pooling; the degradation's own right inverse otherwise
            self.upsampler = replication_upsampler(in_channels, upscale) if degradation == "average" else None
        self.phase_reference = phase_reference and upscale == 1 and in_channels == 2
        self.centre_phase = CentrePhaseReference()

    def feature_info(self) -> Dict[str, Tuple[int, int]]:
        """Tap name -> (channels, stride w.r.t. the output grid), in :meth:`forward_features` order."""
        info: Dict[str, Tuple[int, int]] = {}
        for k in range(len(self.denoisers)):
            info[f"cascade{k}_enc"] = (self.features[1], 2)
            info[f"cascade{k}_bottleneck"] = (self.features[-1], 2 ** (len(self.features) - 1))
            info[f"cascade{k}_dec"] = (self.features[1], 2)
        return info

    def forward_features(
        self, image: Tensor, kspace: Optional[Tensor] = None, mask: Optional[Tensor] = None
    ) -> Tuple[Tensor, Dict[str, Tensor]]:
        """One forward pass returning the reconstruction and the taps of every cascade (module docstring order).

        Arguments and output as :meth:`forward`.
        """
        check_image_batch(image, self.in_channels, self.min_size, "SubpixelCNNStudent")
        use_dc = check_dc_request(kspace, mask, self.in_channels, self.upscale, "SubpixelCNNStudent")
        taps: Dict[str, Tensor] = {}
        x = self.upsampler(image) if self.upsampler is not None else upsample(image, self.upscale, self.degradation)
        phase: Optional[Tensor] = None
        if self.phase_reference and use_dc and kspace is not None and mask is not None:
            check_measurements(image, kspace, mask)  # the same errors as data consistency, before the reference
            phase = self.centre_phase(kspace, mask)
        for k, (denoiser, consistency) in enumerate(zip(self.denoisers, self.consistency)):
            if phase is None:
                denoised, enc, bottleneck, dec = denoiser.forward_features(x)
            else:
                denoised, enc, bottleneck, dec = denoiser.forward_features(rotate_channels(x, phase.conj()))
                denoised = rotate_channels(denoised, phase)
            taps[f"cascade{k}_enc"] = enc
            taps[f"cascade{k}_bottleneck"] = bottleneck
            taps[f"cascade{k}_dec"] = dec
            if self.upscale != 1:
                x = consistency(x, denoised, image)
            elif use_dc and kspace is not None and mask is not None:
                x = consistency(denoised, kspace, mask)
            else:
                x = denoised
        return x, taps

    def forward(self, image: Tensor, kspace: Optional[Tensor] = None, mask: Optional[Tensor] = None) -> Tensor:
        """
        Args:
            image: real ``(B, in_channels, H, W)`` (zero-filled image in k-space mode, low-res image in SR mode).
            kspace: optional measured complex k-space ``(B, 1, H, W)`` (needs ``in_channels == 2``).
            mask: column mask ``(B, 1, 1, W)`` of ``kspace``.

        Returns:
            ``(B, in_channels, upscale·H, upscale·W)``.
        """
        return self.forward_features(image, kspace, mask)[0]


def student_from_preset(name: str, **overrides: Any) -> SubpixelCNNStudent:
    """Build :class:`SubpixelCNNStudent` from :data:`STUDENT_PRESETS` ``[name]``, updated by ``overrides``."""
    if name not in STUDENT_PRESETS:
        raise ValueError(f"unknown student preset {name!r}; choose one of {sorted(STUDENT_PRESETS)}.")
    return SubpixelCNNStudent(**{**STUDENT_PRESETS[name], **overrides})
