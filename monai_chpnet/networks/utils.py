"""Input validation and padding shared by the reconstruction networks (all TorchScript-compatible)."""

from __future__ import annotations

from typing import List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["check_image_batch", "check_dc_request", "pad_to_multiple"]


def check_image_batch(image: Tensor, in_channels: int, min_size: int, network: str) -> None:
    """Check that ``image`` is a real ``(B, in_channels, H, W)`` batch with ``H, W >= min_size``.

    Args:
        image: the network input.
        in_channels: channels the network was built for (1: magnitude, 2: real/imaginary).
        min_size: smallest spatial size the network accepts (e.g. its total down-sampling, or one window).
        network: class name used in the messages.

    Raises:
        TypeError: complex input.
        ValueError: not 4-D (e.g. a 3-D volume batch), wrong channel count, or a spatial size below ``min_size``.
    """
    if image.dim() != 4:
        hint = " (3-D volumes: reconstruct slice by slice)" if image.dim() == 5 else ""
        raise ValueError(
            f"{network} is a 2-D network and expects a (B, C, H, W) batch, got a {image.dim()}-D tensor of shape "
            f"{list(image.shape)}{hint}."
        )
    if torch.is_complex(image):
        raise TypeError(
            f"{network} expects a real image; convert complex images with kspace.complex_to_channels (2 channels)."
        )
    if image.shape[1] != in_channels:
        raise ValueError(
            f"{network} was built for in_channels={in_channels} (1: magnitude, 2: real/imaginary), got an input "
            f"of shape {list(image.shape)} with {image.shape[1]} channels."
        )
    if image.shape[2] < min_size or image.shape[3] < min_size:
        raise ValueError(
            f"{network} needs H, W >= {min_size} for this configuration, got an input of shape {list(image.shape)}."
        )


def check_dc_request(
    kspace: Optional[Tensor], mask: Optional[Tensor], in_channels: int, upscale: int, network: str
) -> bool:
    """Return whether data consistency is requested (``kspace`` given); raise if it cannot be applied.

    Raises:
        ValueError: only one of ``kspace``/``mask`` given, ``in_channels != 2`` (data consistency acts on the complex
            image) or ``upscale != 1`` (super-resolution has no k-space measurement on the output grid).
    """
    if kspace is None and mask is None:
        return False
    if kspace is None or mask is None:
        raise ValueError(f"{network}: data consistency needs both kspace and mask (got only one of them).")
    if in_channels != 2:
        raise ValueError(
            f"{network}: data consistency needs in_channels=2 (real, imaginary), the network has in_channels="
            f"{in_channels}; call it without kspace/mask for magnitude input."
        )
    if upscale != 1:
        raise ValueError(
            f"{network}: data consistency is defined for upscale=1 only, the network has upscale={upscale}."
        )
    return True


def pad_to_multiple(image: Tensor, multiple: int) -> Tensor:
    """Reflect-pad the bottom/right of ``(B, C, H, W)`` so that ``H`` and ``W`` become multiples of ``multiple``.

    Crop back with ``out[..., :H, :W]`` (times the up-scaling factor); requires ``H, W`` larger than the padding.
    """
    pad: List[int] = [0, (-image.shape[-1]) % multiple, 0, (-image.shape[-2]) % multiple]
    if pad[1] == 0 and pad[3] == 0:
        return image
    return F.pad(image, pad, mode="reflect")
