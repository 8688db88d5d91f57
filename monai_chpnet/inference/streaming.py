"""Streaming a volume through the network: a :class:`~.inputs.ReconInput` in, a :class:`ReconstructionResult` out.

The volume streams through the network slice batch by slice batch: a :class:`~monai_chpnet.transforms.volume.
VolumeAcquisition` (the evaluation recipe, vectorised) makes a batch's inputs, the network runs, its output is
brought to the reference's grid (:func:`~monai_chpnet.engines.match_target`) and back to input units, and the
batch is written into the result. Memory holds the input, the two outputs and one batch, whatever the length of
the volume. Blank slices of an image volume (outside the body, padding) have no k-space: they stay zero.
"""

from __future__ import annotations

import logging
import time
from typing import List, NamedTuple, Optional

import numpy as np
import torch
from torch import nn

from monai_chpnet.engines.prepare import match_target
from monai_chpnet.inference.inputs import ReconInput
from monai_chpnet.inference.settings import ReconSettings
from monai_chpnet.inference.trust import TrustMap, normalise_trust
from monai_chpnet.inference.results import Progress, ReconstructionResult, score
from monai_chpnet.transforms.masks import seed_from_name
from monai_chpnet.transforms.volume import VolumeAcquisition

__all__ = ["ACCELERATION_TOLERANCE", "SliceOutputs", "reconstruct_input", "stream_slices"]

logger = logging.getLogger(__name__)
ACCELERATION_TOLERANCE = 0.10  # a realised acceleration further than this from the requested one is warned about


def _acquisition(source: ReconInput, settings: ReconSettings) -> VolumeAcquisition:
    """The volume's one acquisition: its mask seeded by ``settings.seed`` (image volumes) or, as fastMRI does, by
    the file name (k-space); a simulated phase seeded by the name and the seed."""
    image = source.kind == "image"
    mode = {(True, False): "simulate", (True, True): "undersampled", (False, False): "kspace"}
    try:
        return VolumeAcquisition(
            mode.get((image, settings.undersampled), "acquired"),
            source.data.shape[-1],
            settings.acceleration,
            settings.effective_center_fraction,
            settings.mask_type,
            mask_seed=settings.seed if image else seed_from_name(source.name),
            phase_seed=seed_from_name(source.name) + (settings.seed,) if settings.simulate_phase else None,
            crop_size=source.crop_size,
        )
    except ValueError as err:  # a k-space too narrow for the mask, named with the file
        raise ValueError(f"{_describe(source)}: {err}") from None


def _describe(source: ReconInput) -> str:
    return f"volume {source.source}" if source.kind == "image" else f"fastMRI file {source.source}"


def _slices_to_run(source: ReconInput) -> np.ndarray:
    """Indices of the slices to reconstruct: the non-blank ones of an image volume, every slice of k-space (where a
    blank slice is an error: nothing was measured)."""
    nonzero = np.flatnonzero(np.any(source.data != 0, axis=(1, 2)))
    if source.kind == "kspace" and nonzero.size != source.data.shape[0]:
        blank = sorted(set(range(source.data.shape[0])) - set(nonzero.tolist()))
        raise ValueError(f"{_describe(source)}: the k-space of slice(s) {blank[:5]} is all zero.")
    return nonzero


def _check_acceleration(source: ReconInput, settings: ReconSettings, realised: float, notes: List[str]) -> None:
    """Warn when the mask's acceleration is more than 10 % from the one asked for (a narrow k-space)."""
    if source.kind == "kspace" and settings.undersampled:
        return  # taken as acquired: nothing was asked for
    if abs(realised / settings.acceleration - 1) > ACCELERATION_TOLERANCE:
        width = source.data.shape[-1]
        note = (
            f"{source.source}: the {settings.mask_type} mask samples {width / realised:.0f} of {width} columns, an "
            f"effective acceleration of {realised:.2f}x, not the {settings.acceleration:g}x asked for (more than "
            f"{ACCELERATION_TOLERANCE:.0%} off: a k-space this narrow, or this random draw, cannot give it)."
        )
        logger.warning(note)
        notes.append(note)


class SliceOutputs(NamedTuple):
    """What :func:`stream_slices` returns: float32 ``(slices, h, w)`` reconstruction and zero-filled image, the
    first slice's mask ``(W,)``, its realised acceleration, the seconds spent in the network, the warnings, and
    the trust map ``(slices, h, w)`` with its seconds when one was asked for."""

    reconstruction: np.ndarray
    zero_filled: np.ndarray
    mask: np.ndarray
    acceleration: float
    network_seconds: float
    warnings: List[str]
    trust: Optional[np.ndarray] = None
    trust_seconds: float = 0.0


@torch.inference_mode()
def stream_slices(
    source: ReconInput,
    network: Optional[nn.Module],
    settings: ReconSettings = ReconSettings(),
    progress: Optional[Progress] = None,
    trust: Optional[TrustMap] = None,
) -> SliceOutputs:
    """Run ``network`` (``None``: the zero-filled baseline) over ``source``'s slices, ``settings.batch_size`` at a
    time, on ``settings.device`` (see the module docstring); with ``trust``, compute that map of each batch too.

    Raises:
        ValueError: a k-space too narrow for the mask, a blank k-space slice, an all-zero volume (naming the source);
            a trust map asked for without a network.
    """
    if trust is not None and network is None:
        raise ValueError("a trust map needs the student: the zero-filled baseline has none.")
    device = torch.device(settings.device)
    net = network.to(device).eval() if network is not None else None
    acquisition = _acquisition(source, settings)
    out_shape = source.output_shape
    recon = np.zeros(out_shape, dtype=np.float32)
    zero_filled = np.zeros(out_shape, dtype=np.float32)
    todo = _slices_to_run(source)
    if todo.size == 0:
        raise ValueError(f"{_describe(source)} of shape {source.data.shape} is all zero.")
    trust_map = np.zeros(out_shape, dtype=np.float32) if trust is not None else None
    if trust is not None and trust.teacher is not None:
        trust.teacher.to(device).eval()  # in place: the map's views run on the student's device
    first_mask, network_seconds, trust_seconds = None, 0.0, 0.0
    for done in range(0, todo.size, settings.batch_size):
        index = todo[done : done + settings.batch_size]
        batch = acquisition(torch.from_numpy(source.data[index])[:, None].to(device))
        first_mask = batch.mask[0] if first_mask is None else first_mask
        pred = batch.zero_filled
        if net is not None:
            tick = time.perf_counter()
            raw = net(batch.image, kspace=batch.kspace, mask=batch.mask)
            pred = match_target(raw.float(), out_shape[1:]) * batch.scale
            network_seconds += time.perf_counter() - tick
            if trust is not None:
                tick = time.perf_counter()
                batch_map = trust.kspace(net, batch, raw)
                trust_map[index] = (match_target(batch_map, out_shape[1:]) * batch.scale)[:, 0].cpu().numpy()
                trust_seconds += time.perf_counter() - tick
        recon[index] = pred[:, 0].cpu().numpy()
        zero_filled[index] = batch.zero_filled[:, 0].cpu().numpy()
        if progress is not None:
            progress(min(done + settings.batch_size, todo.size), todo.size)
    mask = first_mask.reshape(-1).cpu().numpy()
    realised = VolumeAcquisition.realised_acceleration(mask)
    notes: List[str] = []
    _check_acceleration(source, settings, realised, notes)
    if trust_map is not None:
        trust_map = normalise_trust(trust_map, todo)
    return SliceOutputs(recon, zero_filled, mask, realised, network_seconds, notes, trust_map, trust_seconds)


def reconstruct_input(
    source: ReconInput,
    network: Optional[nn.Module],
    settings: ReconSettings = ReconSettings(),
    progress: Optional[Progress] = None,
    trust: Optional[TrustMap] = None,
) -> ReconstructionResult:
    """Reconstruct ``source`` with ``network`` (``None``: the zero-filled baseline) as ``settings`` say, and score
    it against its reference; with ``trust``, compute that trust map too (:mod:`.trust`).

    An image volume is the fully-sampled reference of a simulated acquisition (metrics against it), or with
    ``settings.undersampled`` the zero-filled magnitude of one (no reference); fastMRI k-space is undersampled with
    fastMRI's per-volume mask, or taken as acquired.

    Raises:
        ValueError: as :func:`stream_slices`.
    """
    start = time.perf_counter()
    out = stream_slices(source, network, settings, progress, trust)
    reference = source.data if source.kind == "image" and not settings.undersampled else source.reference
    return ReconstructionResult(
        reconstruction=out.reconstruction,
        zero_filled=out.zero_filled,
        reference=reference,
        mask=out.mask,
        acceleration=out.acceleration,
        geometry=source.geometry,
        metrics=score(reference, out.reconstruction, out.zero_filled),
        source=source.source,
        seconds=time.perf_counter() - start,
        network_seconds=out.network_seconds,
        warnings=out.warnings,
        trust=out.trust,
        trust_method=trust.method if trust is not None else None,
        trust_seconds=out.trust_seconds,
    )
