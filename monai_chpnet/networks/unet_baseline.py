"""The fastMRI U-Net baseline, re-implemented layer for layer.

Same architecture, parameter names and count as ``fastmri.models.unet.Unet`` (Zbontar et al., "fastMRI: An Open
Dataset and Benchmarks for Accelerated MRI", 2018; ``chans=32, num_pool_layers=4``: 7,756,097 parameters for one
input and one output channel):

* encoder: ``num_pool_layers`` × [ConvBlock → 2×2 average pooling], channels ``chans · 2^i``; bottleneck ConvBlock;
* ConvBlock: 2 × (conv3×3 without bias → InstanceNorm → LeakyReLU(0.2) → Dropout2d);
* decoder: TransposeConvBlock (ConvTranspose2d k2 s2 without bias → InstanceNorm → LeakyReLU(0.2)), reflect-pad
  by one on the right/bottom when the skip is one larger (odd sizes), concatenate the skip, ConvBlock; a final 1×1
  conv.

It is image-domain only: ``kspace``/``mask`` are accepted for the common network interface and ignored (no data
consistency). The transposed convolutions are fastMRI's, kept for a faithful baseline.

Feature taps (:meth:`FastMRIUNet.forward_features`), in this order: ``enc{i}`` (ConvBlock output at level ``i``,
``chans·2^i`` channels, stride ``2^i``) for ``i = 0 … P-1``, ``bottleneck`` (``chans·2^P``, stride ``2^P``),
``dec{i}`` for ``i = P-1 … 1`` (decoder ConvBlock output, ``chans·2^i`` channels, stride ``2^i``); spatial sizes are
the input size divided by the stride, rounded down, and each ``dec{i}`` has the size of ``enc{i}``. Parameter names
match fastMRI's, so its published ``state_dict`` files load with ``load_state_dict``.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from monai_chpnet.networks.utils import check_image_batch

__all__ = ["FastMRIUNet", "ConvBlock", "TransposeConvBlock"]


class ConvBlock(nn.Module):
    """2 × (conv3×3 without bias → InstanceNorm → LeakyReLU(0.2) → Dropout2d); keeps the spatial size."""

    def __init__(self, in_chans: int, out_chans: int, drop_prob: float) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(in_chans, out_chans, kernel_size=3, padding=1, bias=False),
            nn.InstanceNorm2d(out_chans),
            nn.LeakyReLU(negative_slope=0.2, inplace=True),
            nn.Dropout2d(drop_prob),
            nn.Conv2d(out_chans, out_chans, kernel_size=3, padding=1, bias=False),
            nn.InstanceNorm2d(out_chans),
            nn.LeakyReLU(negative_slope=0.2, inplace=True),
            nn.Dropout2d(drop_prob),
        )

    def forward(self, image: Tensor) -> Tensor:
        return self.layers(image)


class TransposeConvBlock(nn.Module):
    """ConvTranspose2d(k2, s2, no bias) → InstanceNorm → LeakyReLU(0.2); doubles the spatial size."""

    def __init__(self, in_chans: int, out_chans: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.ConvTranspose2d(in_chans, out_chans, kernel_size=2, stride=2, bias=False),
            nn.InstanceNorm2d(out_chans),
            nn.LeakyReLU(negative_slope=0.2, inplace=True),
        )

    def forward(self, image: Tensor) -> Tensor:
        return self.layers(image)


class FastMRIUNet(nn.Module):
    """fastMRI's U-Net with the common reconstruction-network interface (see the module docstring).

    Args:
        in_channels: 1 (magnitude) or 2 (real, imaginary); the output has the same number of channels.
        chans: channels of the first ConvBlock (fastMRI: 32).
        num_pool_layers: down-/up-sampling levels ``P`` (fastMRI: 4).
        drop_prob: dropout probability (fastMRI: 0).

    Shapes:
        ``forward(image)``: real ``(B, in_channels, H, W)`` with ``H, W >= 2^(P+1)`` (the bottleneck keeps at least
        2×2 pixels for its instance norms) -> ``(B, in_channels, H, W)``.
    """

    def __init__(self, in_channels: int = 1, chans: int = 32, num_pool_layers: int = 4, drop_prob: float = 0.0) -> None:
        super().__init__()
        if in_channels not in (1, 2):
            raise ValueError(f"in_channels must be 1 (magnitude) or 2 (real, imaginary), got {in_channels}.")
        self.in_channels = in_channels
        self.chans = chans
        self.num_pool_layers = num_pool_layers
        self.min_size = 2 ** (num_pool_layers + 1)
        self.down_sample_layers = nn.ModuleList([ConvBlock(in_channels, chans, drop_prob)])
        ch = chans
        for _ in range(num_pool_layers - 1):
            self.down_sample_layers.append(ConvBlock(ch, ch * 2, drop_prob))
            ch *= 2
        self.conv = ConvBlock(ch, ch * 2, drop_prob)
        self.up_conv = nn.ModuleList()
        self.up_transpose_conv = nn.ModuleList()
        for _ in range(num_pool_layers - 1):
            self.up_transpose_conv.append(TransposeConvBlock(ch * 2, ch))
            self.up_conv.append(ConvBlock(ch * 2, ch, drop_prob))
            ch //= 2
        self.up_transpose_conv.append(TransposeConvBlock(ch * 2, ch))
        self.up_conv.append(nn.Sequential(ConvBlock(ch * 2, ch, drop_prob), nn.Conv2d(ch, in_channels, kernel_size=1)))

    def feature_info(self) -> Dict[str, Tuple[int, int]]:
        """Tap name -> (channels, stride), in :meth:`forward_features` order."""
        p = self.num_pool_layers
        info = {f"enc{i}": (self.chans * 2**i, 2**i) for i in range(p)}
        info["bottleneck"] = (self.chans * 2**p, 2**p)
        info.update({f"dec{i}": (self.chans * 2**i, 2**i) for i in reversed(range(1, p))})
        return info

    def forward_features(
        self, image: Tensor, kspace: Optional[Tensor] = None, mask: Optional[Tensor] = None
    ) -> Tuple[Tensor, Dict[str, Tensor]]:
        """One forward pass returning the output and the taps (module docstring order); ``kspace``/``mask`` ignored."""
        check_image_batch(image, self.in_channels, self.min_size, "FastMRIUNet")
        taps: Dict[str, Tensor] = {}
        stack: List[Tensor] = []
        output = image
        for i, layer in enumerate(self.down_sample_layers):
            output = layer(output)
            taps[f"enc{i}"] = output
            stack.append(output)
            output = F.avg_pool2d(output, kernel_size=2, stride=2, padding=0)
        output = self.conv(output)
        taps["bottleneck"] = output
        level = self.num_pool_layers
        for transpose_conv, conv in zip(self.up_transpose_conv, self.up_conv):
            skip = stack.pop()
            output = transpose_conv(output)
            # reflect pad on the right/bottom to handle odd input dimensions (fastMRI)
            pad_right = int(output.shape[-1] != skip.shape[-1])
            pad_bottom = int(output.shape[-2] != skip.shape[-2])
            if pad_right or pad_bottom:
                output = F.pad(output, [0, pad_right, 0, pad_bottom], "reflect")
            output = conv(torch.cat([output, skip], dim=1))
            level -= 1
            if level > 0:  # the last decoder ConvBlock shares a Sequential with the final 1×1 conv (fastMRI's layout)
                taps[f"dec{level}"] = output
        return output, taps

    def forward(self, image: Tensor, kspace: Optional[Tensor] = None, mask: Optional[Tensor] = None) -> Tensor:
        """``image`` ``(B, in_channels, H, W)`` -> ``(B, in_channels, H, W)``; ``kspace``/``mask`` are ignored."""
        return self.forward_features(image, kspace, mask)[0]
