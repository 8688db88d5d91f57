"""Composed pipelines used by the benchmarks and the bundle configs (``_target_``), so a recipe exists once.

``train_transforms`` turns ``{"target": (1, H, W)}`` magnitude images in ``[0, 1]`` (MRI slices, natural images)
into k-space-mode training samples. The augmentation is what lets weights trained on a few shipped images
generalise to other scanners, anatomies and contrasts: random patches, flips and 90° rotations (orientation),
random gamma and intensity inversion (contrast: T1 -> T2-like), intensity scaling, mild noise, a smooth random
phase on a fraction ``phase_prob`` of the samples (:mod:`.phase`: what a scanner's image carries), then a
simulated acquisition with a random 4x/8x mask and scale normalisation from the zero-filled input. The target
stays the magnitude (fastMRI's convention).
"""

from __future__ import annotations

from functools import partial
from typing import Optional, Sequence, Tuple, Union

from monai.transforms import (
    Compose,
    EnsureTyped,
    Lambdad,
    OneOf,
    RandAdjustContrastd,
    RandFlipd,
    RandGaussianNoised,
    RandLambdad,
    RandRotate90d,
    RandScaleIntensityd,
    RandZoomd,
    ScaleIntensityd,
    SpatialPadd,
)

from monai_chpnet.keys import ReconKeys
from monai_chpnet.transforms.crop import RandSignalSpatialCropd, crop_to_multiple
from monai_chpnet.transforms.acquisition import RandSimulateAcquisitiond, ZeroFilledChannelsd
from monai_chpnet.transforms.degradation import SRDownsampled
from monai_chpnet.transforms.intensity import NormalizeInstanced
from monai_chpnet.transforms.phase import RandSmoothPhased

_SCALED = (ReconKeys.ZERO_FILLED, ReconKeys.TARGET, ReconKeys.KSPACE, ReconKeys.KSPACE_MASKED)  # = ALL_SCALED_KEYS

__all__ = [
    "train_transforms",
    "eval_transforms",
    "kspace_transforms",
    "fastmri_center_fraction",
    "simulation_transform",
    "kspace_transform",
    "DEFAULT_ACCELERATIONS",
    "DEFAULT_CENTER_FRACTIONS",
    "sr_train_transforms",
    "sr_eval_transforms",
]

DEFAULT_ACCELERATIONS: Tuple[float, ...] = (4.0, 8.0)
DEFAULT_CENTER_FRACTIONS: Tuple[float, ...] = (0.08, 0.04)


def _invert(x):
    """``max - x``; a constant patch (nothing to invert, e.g. a flat background) is kept rather than zeroed."""
    high = x.max()
    return x if bool(high == x.min()) else high - x


def _patches(patch_size: int, zoom_prob: float, min_zoom: float) -> list:
    """``target`` scaled to ``[0, 1]``, shrunk by a random zoom with probability ``zoom_prob``, a signal patch."""
    t = ReconKeys.TARGET
    steps = [EnsureTyped(t, track_meta=False), ScaleIntensityd(t, minv=0.0, maxv=1.0)]
    if zoom_prob > 0:
        steps.append(RandZoomd(t, prob=zoom_prob, min_zoom=min_zoom, max_zoom=1.0, keep_size=False, mode="area"))
    return steps + [
        SpatialPadd(t, spatial_size=(patch_size, patch_size), mode="symmetric"),  # reflect needs pad < size
        RandSignalSpatialCropd(t, roi_size=(patch_size, patch_size)),
    ]


def _augmentation(noise_prob: float, noise_std: float) -> list:
    """Orientation (flips, 90° rotations) and contrast (inversion, gamma, scale) of ``target``, mild noise."""
    t = ReconKeys.TARGET
    return [
        RandFlipd(t, prob=0.5, spatial_axis=0),
        RandFlipd(t, prob=0.5, spatial_axis=1),
        RandRotate90d(t, prob=0.5, max_k=3),
        RandLambdad(t, func=_invert, prob=0.2),
        RandAdjustContrastd(t, prob=0.5, gamma=(0.6, 1.6)),
        RandScaleIntensityd(t, factors=0.5, prob=0.5),
        RandGaussianNoised(t, prob=noise_prob, std=noise_std),
        Lambdad(t, func=lambda x: x.clamp_min(0.0)),
    ]


def train_transforms(
    patch_size: int = 96,
    accelerations: Sequence[float] = DEFAULT_ACCELERATIONS,
    center_fractions: Sequence[float] = DEFAULT_CENTER_FRACTIONS,
    mask_type: str = "random",
    augment: bool = True,
    zoom_prob: float = 0.5,
    min_zoom: float = 0.25,
    noise_prob: float = 0.5,
    noise_std: float = 0.03,
    phase_prob: float = 0.25,
) -> Compose:
    """k-space-mode training pipeline on ``{"target": (1, H, W)}`` (see the module docstring).

    ``zoom_prob``: probability of shrinking the whole image by a factor in ``[min_zoom, 1]`` (area
    interpolation) before cropping, so patches also show whole anatomies at coarse resolution.
    ``noise_prob`` / ``noise_std``: Gaussian noise (std drawn from ``[0, noise_std]``) added to the reference.
    ``phase_prob``: fraction of samples given a smooth random phase (:class:`~.phase.RandSmoothPhased`, default
    parameters) before the acquisition is simulated; the others keep zero phase.

    Returns samples with ``image`` (2, p, p), ``target`` (1, p, p), ``kspace_masked``, ``mask``, ``zero_filled``,
    ``mean``, ``std``, ``acceleration``, ``center_fraction``.
    """
    t = ReconKeys.TARGET
    steps = _patches(patch_size, zoom_prob if augment else 0.0, min_zoom)
    if augment:
        steps += _augmentation(noise_prob, noise_std)
    if phase_prob > 0:
        steps.append(RandSmoothPhased(t, prob=phase_prob))
    steps += [
        RandSimulateAcquisitiond(
            t, mask_type=mask_type, accelerations=tuple(accelerations), center_fractions=tuple(center_fractions)
        ),
        NormalizeInstanced(_SCALED, mode="scale"),
        ZeroFilledChannelsd(),
    ]
    return Compose(steps)


def eval_transforms(
    acceleration: float = 4.0,
    center_fraction: float = 0.08,
    mask_type: str = "random",
    seed_key: str = "mask_seed",
    phase_seed_key: Optional[str] = None,
) -> Compose:
    """Deterministic evaluation pipeline: one acceleration, one mask per volume (``seed_key`` entry); with
    ``phase_seed_key``, a phase-bearing acquisition: one smooth phase per volume, drawn from that entry (a file
    name or an integer; :class:`~.phase.RandSmoothPhased` with its default parameters)."""
    t = ReconKeys.TARGET
    phased = [RandSmoothPhased(t, seed_key=phase_seed_key)] if phase_seed_key is not None else []
    return Compose(
        [
            EnsureTyped(t, track_meta=False),
            *phased,
            RandSimulateAcquisitiond(
                t,
                mask_type=mask_type,
                accelerations=(acceleration,),
                center_fractions=(center_fraction,),
                seed_key=seed_key,
            ),
            NormalizeInstanced(_SCALED, mode="scale"),
            ZeroFilledChannelsd(),
        ]
    )


def kspace_transforms(
    accelerations: Sequence[float] = DEFAULT_ACCELERATIONS,
    center_fractions: Sequence[float] = DEFAULT_CENTER_FRACTIONS,
    mask_type: str = "random",
    seed_key: Optional[str] = None,
    acquired: bool = False,
) -> Compose:
    """fastMRI single-coil pipeline on ``{"kspace", "target"?, "fname"}``: retrospective undersampling (a fresh
    random mask per slice, fastMRI's training convention, or one mask per volume with ``seed_key="fname"``; with
    ``acquired=True`` the k-space is taken as acquired and its mask recovered), zero-filled image cropped to the
    target, scale normalisation, 2-channel input. Networks run on the full k-space grid; the engines crop their
    output to the target."""
    from monai_chpnet.transforms.acquisition import AcquiredKspaced, RandKspaceUndersampled

    if acquired:
        sample = AcquiredKspaced(ReconKeys.KSPACE, crop_to_key=ReconKeys.TARGET)
    else:
        sample = RandKspaceUndersampled(
            ReconKeys.KSPACE,
            mask_type=mask_type,
            accelerations=tuple(accelerations),
            center_fractions=tuple(center_fractions),
            seed_key=seed_key,
            crop_to_key=ReconKeys.TARGET,
        )
    return Compose([sample, NormalizeInstanced(_SCALED, mode="scale", allow_missing_keys=True), ZeroFilledChannelsd()])


def fastmri_center_fraction(acceleration: float) -> float:
    """fastMRI's centre fraction for an acceleration: 4x -> 0.08, 8x -> 0.04, i.e. ``min(0.32 / acceleration, 0.5)``."""
    return min(0.32 / float(acceleration), 0.5)


def simulation_transform(
    acceleration: float = 4.0,
    center_fraction: Optional[float] = None,
    mask_type: str = "random",
    simulate_phase: bool = False,
) -> Compose:
    """Pre-processing of magnitude slices ``{"target": (1, H, W)}`` for evaluation: :func:`eval_transforms` with one
    mask for every slice sharing a ``"mask_seed"`` entry and, with ``simulate_phase``, one smooth phase for every
    slice sharing a ``"phase_seed"`` entry (a phase-bearing acquisition, as a scanner's raw data would be). The
    centre fraction defaults to :func:`fastmri_center_fraction`. (Inference runs the same recipe on slice batches:
    :class:`~monai_chpnet.transforms.volume.VolumeAcquisition`.)"""
    cf = center_fraction if center_fraction is not None else fastmri_center_fraction(acceleration)
    return eval_transforms(
        acceleration, cf, mask_type, seed_key="mask_seed", phase_seed_key="phase_seed" if simulate_phase else None
    )


def kspace_transform(
    acceleration: Optional[float] = 4.0,
    center_fraction: Optional[float] = None,
    mask_type: str = "random",
) -> Compose:
    """Pre-processing of fastMRI slices for evaluation: :func:`kspace_transforms` with one mask per volume (seeded
    by the file name), or the k-space as acquired when ``acceleration`` is ``None``."""
    if acceleration is None:
        return kspace_transforms(acquired=True)
    cf = center_fraction if center_fraction is not None else fastmri_center_fraction(acceleration)
    return kspace_transforms((acceleration,), (cf,), mask_type, seed_key="fname")


def sr_train_transforms(
    scale: int = 2,
    degradation: Union[str, Sequence[str]] = ("kspace", "bicubic"),
    patch_size: int = 96,
    augment: bool = True,
    zoom_prob: float = 0.5,
    min_zoom: float = 0.25,
    noise_prob: float = 0.25,
    noise_std: float = 0.01,
) -> Compose:
    """Super-resolution training pipeline on ``{"target": (1, H, W)}``: the k-space recipe's patches and
    augmentation, then ``low_res = D(target)`` (:class:`~.degradation.SRDownsampled`; with several ``degradation``
    modes, one drawn per sample) and scale normalisation of both from the low-resolution input (what inference
    sees).

    ``patch_size`` is the high-resolution patch, a multiple of ``scale``. Returns samples with ``low_res``
    ``(1, p / scale, p / scale)``, ``target`` ``(1, p, p)``, ``mean``, ``std``.
    """
    if patch_size % scale:
        raise ValueError(f"patch_size {patch_size} must be a multiple of scale {scale}.")
    steps = _patches(patch_size, zoom_prob if augment else 0.0, min_zoom)
    if augment:
        steps += _augmentation(noise_prob, noise_std)
    modes = (degradation,) if isinstance(degradation, str) else tuple(degradation)
    degrade = [Compose(_sr_degrade(scale, m)) for m in modes]
    return Compose(steps + (degrade if len(degrade) == 1 else [OneOf(degrade)]))


def sr_eval_transforms(scale: int = 2, degradation: str = "kspace") -> Compose:
    """Deterministic super-resolution evaluation on ``{"target": (1, H, W)}``: the target cropped (top-left kept) to
    multiples of ``scale``, then degradation and normalisation as :func:`sr_train_transforms`."""
    t = ReconKeys.TARGET
    crop = Lambdad(t, func=partial(crop_to_multiple, multiple=scale))
    return Compose([EnsureTyped(t, track_meta=False), crop, *_sr_degrade(scale, degradation)])


def _sr_degrade(scale: int, mode: str) -> list:
    keys = (ReconKeys.LOW_RES, ReconKeys.TARGET)
    return [
        SRDownsampled(ReconKeys.TARGET, ReconKeys.LOW_RES, scale=scale, mode=mode),
        Lambdad(ReconKeys.LOW_RES, func=lambda x: x.clamp_min(0.0)),  # k-space cropping rings below zero
        NormalizeInstanced(keys, ref_key=ReconKeys.LOW_RES, mode="scale"),
    ]
