"""Super-resolution of a volume: low-resolution slices in, in-plane upsampled slices out, with their geometry.

The image-domain task of the method (``y = D x``, :class:`~monai_chpnet.transforms.degradation.SRDownsample`): each
slice of a ``(slices, h, w)`` magnitude volume becomes ``(scale h, scale w)``; the slice axis is untouched. The
network sees what it was trained on (:func:`~monai_chpnet.transforms.recipes.sr_train_transforms`): the slice scaled
by its own standard deviation, and its output is scaled back. The upsampled grid covers exactly the low-resolution
one: in-plane spacing divided by ``scale`` and the origin moved by ``(1 / scale - 1) / 2`` of a low-resolution pixel
along each in-plane axis, so that the ``scale x scale`` new pixels tile each old one (keeping the origin is the
classic half-pixel shift). The baselines are ``bicubic`` (torch's cubic convolution with ``align_corners=False``,
the same pixel-centre convention) and ``sinc`` (zero-padded centred k-space: the inverse of the ``kspace``
degradation on the measured band).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Optional

import numpy as np
import torch
from torch import Tensor, nn

from monai_chpnet.data.volumes import Geometry
from monai_chpnet.inference.loading import load_network
from monai_chpnet.inference.results import Progress
from monai_chpnet.inference.trust import TrustMap, normalise_trust
from monai_chpnet.resampling import upsample

__all__ = [
    "SR_BASELINES",
    "SR_SCALES",
    "check_scale",
    "load_sr_network",
    "sr_weights_name",
    "super_resolve_slices",
    "sr_trust_slices",
    "upsample_baseline",
    "upsampled_geometry",
]

SR_SCALES = (2, 4)
SR_BASELINES = ("bicubic", "sinc")


def check_scale(scale: int) -> int:
    """``scale`` as an int, or a ``ValueError`` saying which scales exist."""
    if isinstance(scale, bool) or scale not in SR_SCALES:
        raise ValueError(f"scale must be one of {SR_SCALES} (the trained super-resolution factors), got {scale!r}.")
    return int(scale)


def sr_weights_name(scale: int, degradation: str, role: str = "model") -> str:
    """The bundle's file name of the ``role`` (``"model"``: the student, or ``"teacher"``) weights for ``scale`` and
    ``degradation``: the default task (x2, ``kspace``) has model-zoo's ``model.pt`` / ``teacher.pt`` (the file MONAI
    Label's bundle task serves), the others ``<role>_x<scale>_<degradation>.pt``."""
    default = int(scale) == 2 and degradation == "kspace"
    return f"{role}.pt" if default else f"{role}_x{int(scale)}_{degradation}.pt"


def load_sr_network(
    weights: Any, scale: int, degradation: str = "kspace", preset: str = "small", map_location: Any = "cpu"
) -> nn.Module:
    """The super-resolution student (``preset``, one channel, ``upscale=scale``, trained for inputs made by
    ``degradation``) with ``weights`` loaded strictly.

    Raises:
        FileNotFoundError / ValueError: as :func:`~.loading.load_network`; k-space weights, or weights of the other
            scale, are named as such.
    """
    from monai_chpnet.networks.student import student_from_preset

    network = student_from_preset(preset, in_channels=1, upscale=check_scale(scale), degradation=degradation)
    return load_network(weights, network=network, map_location=map_location)


def upsampled_geometry(geometry: Geometry, scale: int) -> Geometry:
    """The geometry of ``geometry``'s volume upsampled ``scale`` times in-plane (see the module docstring).

    The in-plane axes are those of the ``(slices, H, W)`` array's ``H`` and ``W``; the slice axis keeps its spacing,
    size and origin component.
    """
    scale = check_scale(scale)
    index_slice_axis = 2 - geometry.slice_axis  # SimpleITK's (i, j, k) axis that holds the slices
    spacing = list(geometry.spacing)
    origin = np.asarray(geometry.origin, dtype=np.float64)
    direction = np.asarray(geometry.direction, dtype=np.float64).reshape(3, 3)
    shape = list(geometry.shape)  # (k, j, i)
    for axis in range(3):
        if axis == index_slice_axis:
            continue
        origin = origin + direction[:, axis] * spacing[axis] * (1.0 / scale - 1.0) / 2.0
        spacing[axis] = spacing[axis] / scale
        shape[2 - axis] *= scale
    return replace(geometry, spacing=tuple(spacing), origin=tuple(origin.tolist()), shape=tuple(shape))


def upsample_baseline(x: Tensor, scale: int, method: str = "bicubic") -> Tensor:
    """Classical upsampling of ``(B, 1, h, w)`` to ``(B, 1, scale h, scale w)``: ``bicubic`` (real images) or ``sinc``
    (zero-padded centred k-space, times ``scale`` to keep intensities: the right inverse of the ``kspace``
    degradation, exactly for complex images, up to the Nyquist line for real ones). Not clipped: :func:`super_resolve_slices` sets the undershoot of both to 0."""
    if method not in SR_BASELINES:
        raise ValueError(f"method must be one of {SR_BASELINES}, got {method!r}.")
    return upsample(x, scale, "kspace" if method == "sinc" else "bicubic")


@torch.inference_mode()
def super_resolve_slices(
    volume: np.ndarray,
    network: Optional[nn.Module],
    scale: int,
    batch_size: int = 4,
    device: str = "cpu",
    baseline: str = "bicubic",
    progress: Optional[Progress] = None,
) -> np.ndarray:
    """Upsample each slice of a float32 magnitude volume ``(slices, h, w)`` to ``(slices, scale h, scale w)``.

    ``network`` (an SR student or teacher built with ``upscale=scale``, ``in_channels=1``) runs on slice batches
    normalised by each slice's standard deviation; ``None`` gives the ``baseline``. Blank slices stay zero.
    """
    scale = check_scale(scale)
    net_scale = getattr(network, "upscale", scale) if network is not None else scale
    if net_scale != scale:
        raise ValueError(f"the network upsamples x{net_scale}, not the x{scale} asked for.")
    s, h, w = volume.shape
    out = np.zeros((s, scale * h, scale * w), dtype=np.float32)
    todo = np.flatnonzero(np.any(volume != 0, axis=(1, 2)))
    net = network.to(device).eval() if network is not None else None
    for done in range(0, todo.size, batch_size):
        index = todo[done : done + batch_size]
        x = torch.from_numpy(np.ascontiguousarray(volume[index]))[:, None].to(device)
        if net is None:
            pred = upsample_baseline(x, scale, baseline)
        else:
            std = x.std(dim=(-2, -1), keepdim=True) + 1e-11  # NormalizeInstance(mode="scale") per slice
            pred = net(x / std).float() * std
        out[index] = pred[:, 0].clamp_min(0.0).cpu().numpy()  # a magnitude: ringing below zero is cut
        if progress is not None:
            progress(min(done + batch_size, todo.size), todo.size)
    return out


@torch.inference_mode()
def sr_trust_slices(
    volume: np.ndarray,
    network: nn.Module,
    scale: int,
    trust: TrustMap,
    super_resolved: Optional[np.ndarray] = None,
    batch_size: int = 4,
    device: str = "cpu",
) -> np.ndarray:
    """The ``trust`` map ``(slices, scale h, scale w)`` of ``network``'s super-resolution of ``volume``, normalised
    per volume (:mod:`.trust`); blank slices stay zero. ``super_resolved``: the result of
    :func:`super_resolve_slices` with this network, reused instead of running the student again."""
    scale = check_scale(scale)
    s, h, w = volume.shape
    out = np.zeros((s, scale * h, scale * w), dtype=np.float32)
    todo = np.flatnonzero(np.any(volume != 0, axis=(1, 2)))
    net = network.to(device).eval()
    if trust.teacher is not None:
        trust.teacher.to(device).eval()
    degradation = getattr(net, "degradation", "bicubic")
    for done in range(0, todo.size, batch_size):
        index = todo[done : done + batch_size]
        x = torch.from_numpy(np.ascontiguousarray(volume[index]))[:, None].to(device)
        std = x.std(dim=(-2, -1), keepdim=True) + 1e-11
        x = x / std
        if super_resolved is None:
            pred = net(x).float().clamp_min(0.0)
        else:
            pred = torch.from_numpy(np.ascontiguousarray(super_resolved[index]))[:, None].to(device) / std
        start = upsample(x, scale, degradation)
        out[index] = (trust.sr(net, x, pred, start, degradation) * std)[:, 0].cpu().numpy()
    return normalise_trust(out, todo)
