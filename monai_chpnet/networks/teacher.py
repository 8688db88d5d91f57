"""SwinIR-style restoration transformer: the ViT teacher.

Architecture (Liang et al., "SwinIR: Image Restoration Using Swin Transformer", ICCV-W 2021)::

    pad      reflect-pad H, W to multiples of t·w (window w, token stride t; cropped back at the end)
    shallow  [t > 1: PixelUnshuffle(t)] conv3×3 C·t² → E  (f0), LayerNorm over channels
    body     G × ResidualSwinGroup: N × SwinBlock2d (window attention with relative position bias; shifted
             windows on odd blocks) → conv3×3, + group input                     tap "group{i}" (E, stride t)
             LayerNorm → conv3×3, + f0
    output   upscale 1:   conv3×3 E → C·t² [→ PixelShuffle(t)], + x (global residual)
             upscale 2/4: conv3×3 E → 64 + LeakyReLU, log2(s·t) × sub-pixel conv (conv → PixelShuffle(2)),
                          conv3×3 64 → C (SwinIR's "pixelshuffle" up-sampler)
    phase    with ``phase_reference`` and measurements, everything above runs on ``conj(p) · x``, the image in the
             frame of the k-space centre's smooth phase ``p`` (:mod:`.phase`); each DC step returns to the measured
             frame (``· p``), enforces the measurement and comes back
    DC       hard data consistency when ``kspace``/``mask`` are given (``in_channels == 2``, ``upscale == 1``);
             with ``interleaved_dc`` also after every group but the last: conv3×3 E → C·t² [→ PixelShuffle(t)]
             + current image → DC → [PixelUnshuffle(t)] conv3×3 C·t² → E, added to the tokens (an unrolled,
             physics-aware teacher in the spirit of cascaded reconstruction networks, at the cost of G - 1
             extra 3×3 convolution pairs)

MONAI reuse: the attention is :class:`monai.networks.nets.swin_unetr.WindowAttention` (its relative position bias
table and index, qkv and projection layers); only its ``forward`` is re-stated (:class:`WindowAttention2d`) so that
the mask is ``Optional`` under TorchScript and ``scaled_dot_product_attention`` runs in training too. The MLP is
:class:`monai.networks.blocks.MLPBlock` (``dropout_mode="swin"``), stochastic depth
:class:`monai.networks.layers.DropPath`. MONAI's ``SwinTransformerBlock``/``compute_mask`` do not script (their
2-D/3-D dispatch and gradient checkpointing); :class:`SwinBlock2d` and :func:`shifted_window_mask` are their 2-D
equivalents (the mask is tested equal to ``compute_mask``).

Feature taps (:meth:`SwinRestorationTeacher.forward_features`), in this order: ``group0`` … ``group{G-1}``, the
output of each residual Swin group, ``(B, embed_dim, ceil(H / t), ceil(W / t))`` (padding cropped), i.e. stride
``t · upscale`` with respect to the output grid (``t`` in k-space/image mode), as
:meth:`~SwinRestorationTeacher.feature_info` reports.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from monai.networks.blocks import MLPBlock, SubpixelUpsample
from monai.networks.layers import DropPath, trunc_normal_
from monai.networks.nets.swin_unetr import WindowAttention
from torch import Tensor, nn

from monai_chpnet.resampling import RESAMPLING_MODES, upsample
from monai_chpnet.networks.data_consistency import HardDataConsistency, check_measurements
from monai_chpnet.networks.phase import CentrePhaseReference, rotate_channels
from monai_chpnet.networks.utils import check_dc_request, check_image_batch, pad_to_multiple

__all__ = [
    "WindowAttention2d",
    "SwinBlock2d",
    "ResidualSwinGroup",
    "SwinRestorationTeacher",
    "shifted_window_mask",
    "TEACHER_PRESETS",
    "teacher_from_preset",
]

#: Named sizes. ``paper`` is SwinIR-M (the published teacher, ≈11.5 M parameters at ``upscale=1``, 11.75 M with the
#: ×2 up-sampler); ``small`` trains on 2 CPU cores within an hour on 128×128 patches; ``tiny`` is for tests.
TEACHER_PRESETS: Dict[str, Dict[str, Any]] = {
    "tiny": dict(
        embed_dim=32,
        depths=(2, 2),
        num_heads=(2, 2),
        window_size=4,
        mlp_ratio=2.0,
        drop_path_rate=0.0,
        phase_reference=True,
    ),
    "small": dict(
        embed_dim=60,
        depths=(2, 2, 2, 2),
        num_heads=(6, 6, 6, 6),
        window_size=8,
        mlp_ratio=2.0,
        drop_path_rate=0.0,
        token_stride=2,
        interleaved_dc=True,
        phase_reference=True,
    ),
    "paper": dict(
        embed_dim=180,
        depths=(6,) * 6,
        num_heads=(6,) * 6,
        window_size=8,
        mlp_ratio=2.0,
        drop_path_rate=0.1,
        phase_reference=True,
    ),
}


def shifted_window_mask(height: int, width: int, window: int, shift: int, device: torch.device) -> Tensor:
    """Additive attention mask of shifted-window attention (2-D ``compute_mask`` of MONAI/Swin, scriptable).

    After a cyclic shift by ``-shift``, the windows on the bottom/right border mix pixels from up to 3×3 regions
    that were not adjacent; tokens of different regions must not attend to each other.

    Args:
        height, width: padded feature size, multiples of ``window``.
        window: window side ``w``; ``shift``: shift ``w // 2``.
        device: device of the mask.

    Returns:
        ``(nW, w², w²)`` float mask, 0 within a region and -100 across regions, ``nW = (height / w)·(width / w)``.
    """
    rows = torch.arange(height, device=device)
    cols = torch.arange(width, device=device)
    region_h = (rows >= height - window).long() + (rows >= height - shift).long()
    region_w = (cols >= width - window).long() + (cols >= width - shift).long()
    region = (region_h[:, None] * 3 + region_w[None, :]).float()
    windows = region.view(height // window, window, width // window, window).permute(0, 2, 1, 3)
    windows = windows.reshape(-1, window * window)
    different = windows.unsqueeze(1) != windows.unsqueeze(2)
    return torch.zeros(different.shape, device=device).masked_fill(different, -100.0)


class WindowAttention2d(WindowAttention):
    """MONAI's window attention with relative position bias, with a TorchScript-ready fused ``forward``.

    Same parameters and constructor as :class:`monai.networks.nets.swin_unetr.WindowAttention` (``window_size``
    of length 2); attention runs through :func:`torch.nn.functional.scaled_dot_product_attention` in training and
    inference alike (numerically the same as the reference path).
    """

    def forward(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """
        Args:
            x: tokens of ``B·nW`` windows, ``(B·nW, n, C)`` with ``n = w²``, windows of one image contiguous.
            mask: ``(nW, n, n)`` additive shifted-window mask, or ``None`` for regular windows.

        Returns:
            ``(B·nW, n, C)``.
        """
        bw, n, c = x.shape
        qkv = self.qkv(x).reshape(bw, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        bias = bias.view(n, n, self.num_heads).permute(2, 0, 1).to(qkv.dtype)  # (heads, n, n)
        if mask is None:
            attn_bias = bias.unsqueeze(0).expand(bw, -1, -1, -1)
        else:
            nw = mask.shape[0]
            attn_bias = bias.unsqueeze(0) + mask.to(qkv.dtype).unsqueeze(1)  # (nW, heads, n, n)
            attn_bias = attn_bias.unsqueeze(0).expand(bw // nw, -1, -1, -1, -1).reshape(bw, -1, n, n)
        out = F.scaled_dot_product_attention(
            qkv[0],
            qkv[1],
            qkv[2],
            attn_mask=attn_bias,
            dropout_p=self.attn_drop.p if self.training else 0.0,
            scale=self.scale,
        )
        return self.proj_drop(self.proj(out.transpose(1, 2).reshape(bw, n, c)))


class SwinBlock2d(nn.Module):
    """2-D Swin transformer block on channels-last tokens: (shifted) window attention and MLP, pre-norm, residual.

    Args:
        dim: channels ``C``.
        num_heads: attention heads (``dim`` must be divisible by it).
        window_size: window side ``w``.
        shift: cyclic shift of the windows (0 or ``w // 2``).
        mlp_ratio: MLP hidden size / ``dim``.
        qkv_bias: learnable bias of the query/key/value projection.
        drop_path: stochastic depth rate.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window_size: int,
        shift: int,
        mlp_ratio: float = 2.0,
        qkv_bias: bool = True,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim={dim} must be divisible by num_heads={num_heads}.")
        self.window_size = window_size
        self.shift = shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention2d(dim, num_heads, (window_size, window_size), qkv_bias=qkv_bias)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MLPBlock(hidden_size=dim, mlp_dim=int(dim * mlp_ratio), act="GELU", dropout_mode="swin")

    def forward(self, x: Tensor, mask: Optional[Tensor]) -> Tensor:
        """
        Args:
            x: ``(B, H, W, C)`` tokens, ``H`` and ``W`` multiples of the window size.
            mask: :func:`shifted_window_mask` of this size (used when ``shift > 0``).

        Returns:
            ``(B, H, W, C)``.
        """
        b, h, w, c = x.shape
        ws, s = self.window_size, self.shift
        y = self.norm1(x)
        if s > 0:
            y = torch.roll(y, shifts=(-s, -s), dims=(1, 2))
        y = y.view(b, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, ws * ws, c)
        y = self.attn(y, mask if s > 0 else None)
        y = y.view(b, h // ws, w // ws, ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)
        if s > 0:
            y = torch.roll(y, shifts=(s, s), dims=(1, 2))
        x = x + self.drop_path(y)
        return x + self.drop_path(self.mlp(self.norm2(x)))


class ResidualSwinGroup(nn.Module):
    """SwinIR's residual Swin transformer block (RSTB): ``depth`` Swin blocks, a 3×3 conv, and a residual.

    Blocks alternate regular (even index) and shifted (odd index, shift ``w // 2``) windows.

    Args:
        dim: channels ``C``.
        depth: number of Swin blocks.
        num_heads, window_size, mlp_ratio, qkv_bias: see :class:`SwinBlock2d`.
        drop_path: per-block stochastic depth rates (length ``depth``).
    """

    def __init__(
        self,
        dim: int,
        depth: int,
        num_heads: int,
        window_size: int,
        mlp_ratio: float,
        qkv_bias: bool,
        drop_path: Sequence[float],
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            [
                SwinBlock2d(
                    dim,
                    num_heads,
                    window_size,
                    0 if i % 2 == 0 else window_size // 2,
                    mlp_ratio,
                    qkv_bias,
                    drop_path[i],
                )
                for i in range(depth)
            ]
        )
        self.conv = nn.Conv2d(dim, dim, 3, padding=1)

    def forward(self, x: Tensor, mask: Optional[Tensor]) -> Tensor:
        """``x``: ``(B, C, H, W)``, window multiples; ``mask``: :func:`shifted_window_mask`. Returns the same shape."""
        tokens = x.permute(0, 2, 3, 1)
        for block in self.blocks:
            tokens = block(tokens, mask)
        return x + self.conv(tokens.permute(0, 3, 1, 2))


class SwinRestorationTeacher(nn.Module):
    """SwinIR-style restoration transformer (the distillation teacher); see the module docstring for the layout.

    Args:
        in_channels: 1 (magnitude, image/SR mode) or 2 (real, imaginary; k-space mode). Output has the same.
        embed_dim: token channels ``E``.
        depths: Swin blocks per residual group (one entry per group).
        num_heads: attention heads per group (a sequence like ``depths``, or one int for all).
        window_size: attention window side ``w``; inputs are reflect-padded to multiples of it and cropped back.
        mlp_ratio: MLP hidden size / ``E``.
        upscale: 1 (restoration) or 2/4 (super-resolution with SwinIR's pixel-shuffle up-sampler).
        upsampler_channels: channels of the up-sampler (SwinIR: 64); unused when ``upscale == 1``.
        qkv_bias: learnable bias of the query/key/value projections.
        drop_path_rate: stochastic depth, rising linearly to this rate over all blocks.
        token_stride: 1 (SwinIR: one token per pixel) or 2: tokens on a half-resolution grid (pixel-unshuffle
            embedding, pixel-shuffle reconstruction), 4x cheaper attention and MLPs -- what makes the ``small``
            preset trainable on a CPU.
        interleaved_dc: also enforce data consistency between residual groups (k-space mode with measurements):
            each group but the last decodes an intermediate image, replaces its sampled k-space columns by the
            measured ones and feeds the correction back to the tokens. Without measurements the extra heads are
            still applied (as a learned refinement), so the same weights serve both modes.
        degradation: super-resolution only: ``None`` (the up-sampler gives the image) or the ``D`` the input was
            made by (:mod:`monai_chpnet.resampling`), whose classical inverse the up-sampler's output is added to.
        phase_reference: with measurements, work in the frame of the k-space centre's smooth phase
            (:class:`~.phase.CentrePhaseReference`), so a phase-bearing image looks nearly real to the network.

    Shapes:
        ``forward(image, kspace=None, mask=None)``: ``image`` real ``(B, in_channels, H, W)`` with
        ``H, W >= window_size · token_stride``; optional measured complex ``kspace`` ``(B, 1, H, W)`` and column
        ``mask`` ``(B, 1, 1, W)`` switch on hard data consistency (``in_channels == 2``, ``upscale == 1``). Returns
        ``(B, in_channels, upscale·H, upscale·W)``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        embed_dim: int = 180,
        depths: Sequence[int] = (6, 6, 6, 6, 6, 6),
        num_heads: Union[Sequence[int], int] = 6,
        window_size: int = 8,
        mlp_ratio: float = 2.0,
        upscale: int = 1,
        upsampler_channels: int = 64,
        qkv_bias: bool = True,
        drop_path_rate: float = 0.0,
        token_stride: int = 1,
        interleaved_dc: bool = False,
        phase_reference: bool = False,
        degradation: Optional[str] = None,
    ) -> None:
        super().__init__()
        if degradation is not None and degradation not in RESAMPLING_MODES:
            raise ValueError(f"degradation must be None or one of {RESAMPLING_MODES}, got {degradation!r}.")
        self.degradation = degradation
        if in_channels not in (1, 2):
            raise ValueError(f"in_channels must be 1 (magnitude) or 2 (real, imaginary), got {in_channels}.")
        if upscale not in (1, 2, 4):
            raise ValueError(f"upscale must be 1, 2 or 4, got {upscale}.")
        heads = [num_heads] * len(depths) if isinstance(num_heads, int) else list(num_heads)
        if len(heads) != len(depths) or not depths:
            raise ValueError(f"num_heads {num_heads} must give one entry per group of depths {tuple(depths)}.")
        if window_size < 2:
            raise ValueError(f"window_size must be >= 2, got {window_size}.")
        if not isinstance(phase_reference, bool):  # a config's "false" string would silently switch it on
            raise TypeError(f"phase_reference must be True or False, got {phase_reference!r}.")
        if token_stride not in (1, 2):
            raise ValueError(f"token_stride must be 1 or 2, got {token_stride}.")
        self.token_stride = token_stride
        self.in_channels = in_channels
        self.embed_dim = embed_dim
        self.window_size = window_size
        self.upscale = upscale
        s2 = token_stride * token_stride
        self.unshuffle = nn.PixelUnshuffle(token_stride) if token_stride > 1 else nn.Identity()
        self.conv_first = nn.Conv2d(in_channels * s2, embed_dim, 3, padding=1)
        self.patch_norm = nn.LayerNorm(embed_dim)
        rates = [drop_path_rate * i / max(sum(depths) - 1, 1) for i in range(sum(depths))]
        starts = [sum(depths[:i]) for i in range(len(depths))]
        self.groups = nn.ModuleList(
            [
                ResidualSwinGroup(embed_dim, d, h, window_size, mlp_ratio, qkv_bias, rates[s : s + d])
                for d, h, s in zip(depths, heads, starts)
            ]
        )
        self.norm = nn.LayerNorm(embed_dim)
        self.conv_after_body = nn.Conv2d(embed_dim, embed_dim, 3, padding=1)
        if upscale == 1:
            conv = nn.Conv2d(embed_dim, in_channels * s2, 3, padding=1)
            self.reconstruction = conv if token_stride == 1 else nn.Sequential(conv, nn.PixelShuffle(token_stride))
        else:
            self.reconstruction = nn.Sequential(
                nn.Conv2d(embed_dim, upsampler_channels, 3, padding=1),
                nn.LeakyReLU(inplace=True),
                *[
                    SubpixelUpsample(2, upsampler_channels, upsampler_channels, scale_factor=2, apply_pad_pool=False)
                    for _ in range((upscale * token_stride).bit_length() - 1)
                ],
                nn.Conv2d(upsampler_channels, in_channels, 3, padding=1),
            )
        self.data_consistency = HardDataConsistency()
        self.phase_reference = phase_reference and upscale == 1 and in_channels == 2
        self.centre_phase = CentrePhaseReference()
        self.interleaved_dc = interleaved_dc
        n_mid = len(depths) - 1 if interleaved_dc else 0
        shuffle = nn.PixelShuffle(token_stride) if token_stride > 1 else nn.Identity()
        self.dc_decoders = nn.ModuleList(
            [nn.Sequential(nn.Conv2d(embed_dim, in_channels * s2, 3, padding=1), shuffle) for _ in range(n_mid)]
        )
        self.dc_encoders = nn.ModuleList(
            [
                nn.Sequential(
                    nn.PixelUnshuffle(token_stride) if token_stride > 1 else nn.Identity(),
                    nn.Conv2d(in_channels * s2, embed_dim, 3, padding=1),
                )
                for _ in range(n_mid)
            ]
        )
        self.apply(_init_swinir)
        for decoder in self.dc_decoders:  # zero-init: at the start the teacher is the plain SwinIR, then it learns
            nn.init.zeros_(decoder[0].weight)  # to use the intermediate DC steps (random init adds image-size noise)
            nn.init.zeros_(decoder[0].bias)

    def feature_info(self) -> Dict[str, Tuple[int, int]]:
        """Tap name -> (channels, stride w.r.t. the output grid); one ``group{i}`` per residual group."""
        return {f"group{i}": (self.embed_dim, self.token_stride * self.upscale) for i in range(len(self.groups))}

    def forward_features(
        self, image: Tensor, kspace: Optional[Tensor] = None, mask: Optional[Tensor] = None
    ) -> Tuple[Tensor, Dict[str, Tensor]]:
        """One pass returning the reconstruction and the taps ``{"group{i}": (B, E, ceil(H/t), ceil(W/t))}`` in order.

        Arguments and output as :meth:`forward`.
        """
        check_image_batch(image, self.in_channels, self.window_size * self.token_stride, "SwinRestorationTeacher")
        use_dc = check_dc_request(kspace, mask, self.in_channels, self.upscale, "SwinRestorationTeacher")
        h, w = image.shape[-2], image.shape[-1]
        phase: Optional[Tensor] = None
        if self.phase_reference and use_dc and kspace is not None and mask is not None:
            check_measurements(image, kspace, mask)  # the same errors as data consistency, before the reference
            phase = self.centre_phase(kspace, mask)
            image = rotate_channels(image, phase.conj())
        padded = pad_to_multiple(image, self.window_size * self.token_stride)
        first = self.conv_first(self.unshuffle(padded))
        th, tw = -(-h // self.token_stride), -(-w // self.token_stride)  # token grid of the unpadded image
        x = self.patch_norm(first.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        shift_mask = shifted_window_mask(x.shape[-2], x.shape[-1], self.window_size, self.window_size // 2, x.device)
        taps: Dict[str, Tensor] = {}
        current = padded  # the running image estimate (padded grid) that interleaved DC refines
        for i, group in enumerate(self.groups):
            x = group(x, shift_mask)
            taps[f"group{i}"] = x[:, :, :th, :tw]
            # TorchScript cannot index a ModuleList with a loop variable: pick group i's DC step by matching j
            for j, (decoder, encoder) in enumerate(zip(self.dc_decoders, self.dc_encoders)):
                if j == i:
                    estimate = decoder(x) + current
                    if use_dc and kspace is not None and mask is not None:
                        estimate = pad_to_multiple(
                            self._consistent(estimate[:, :, :h, :w], kspace, mask, phase),
                            self.window_size * self.token_stride,
                        )
                    x = x + encoder(estimate - current)
                    current = estimate
        x = self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        x = self.conv_after_body(x) + first
        out = self.reconstruction(x)
        if self.upscale == 1:
            out = out + current
        out = out[:, :, : h * self.upscale, : w * self.upscale]
        if self.upscale != 1 and self.degradation is not None:  # the residual over the degradation's inverse
            out = out + upsample(image, self.upscale, self.degradation)
        if phase is not None:
            out = rotate_channels(out, phase)
        if use_dc and kspace is not None and mask is not None:
            out = self.data_consistency(out, kspace, mask)
        return out, taps

    def _consistent(self, estimate: Tensor, kspace: Tensor, mask: Tensor, phase: Optional[Tensor]) -> Tensor:
        """Hard data consistency of an estimate held in the phase frame (``phase``) or the measured one (``None``)."""
        if phase is None:
            return self.data_consistency(estimate, kspace, mask)
        return rotate_channels(self.data_consistency(rotate_channels(estimate, phase), kspace, mask), phase.conj())

    def forward(self, image: Tensor, kspace: Optional[Tensor] = None, mask: Optional[Tensor] = None) -> Tensor:
        """
        Args:
            image: real ``(B, in_channels, H, W)``, ``H, W >= window_size · token_stride``.
            kspace: optional measured complex k-space ``(B, 1, H, W)`` (needs ``in_channels == 2``).
            mask: column mask ``(B, 1, 1, W)`` of ``kspace``.

        Returns:
            ``(B, in_channels, upscale·H, upscale·W)``; data-consistent when ``kspace``/``mask`` are given.
        """
        return self.forward_features(image, kspace, mask)[0]


def _init_swinir(module: nn.Module) -> None:
    """SwinIR's initialisation: truncated-normal linear weights (std 0.02), zero biases, unit LayerNorms."""
    if isinstance(module, nn.Linear):
        trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def teacher_from_preset(name: str, **overrides: Any) -> SwinRestorationTeacher:
    """Build :class:`SwinRestorationTeacher` from :data:`TEACHER_PRESETS` ``[name]``, updated by ``overrides``."""
    if name not in TEACHER_PRESETS:
        raise ValueError(f"unknown teacher preset {name!r}; choose one of {sorted(TEACHER_PRESETS)}.")
    return SwinRestorationTeacher(**{**TEACHER_PRESETS[name], **overrides})
