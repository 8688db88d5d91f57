"""k-space undersampling, simulated acquisition, super-resolution degradation, normalisation and cropping.

MONAI-style array transforms and their dictionary versions (suffix ``d``, reading/writing
:class:`monai_chpnet.keys.ReconKeys`). A k-space-mode training pipeline on magnitude slices::

    Compose([
        RandSmoothPhased(ReconKeys.TARGET, prob=0.5),  # half the samples carry a scanner-like smooth phase
        RandSimulateAcquisitiond(ReconKeys.TARGET, mask_type="random", accelerations=(4, 8)),
        NormalizeInstanced(ALL_SCALED_KEYS, mode="scale"),
        ZeroFilledChannelsd(),  # -> "image", (2, H, W)
    ])

and on fastMRI single-coil k-space (per-volume masks, zero-filled input cropped to the 320 x 320 target)::

    Compose([
        RandKspaceUndersampled(ReconKeys.KSPACE, seed_key="fname", crop_to_key=ReconKeys.TARGET),
        NormalizeInstanced((ReconKeys.ZERO_FILLED, ReconKeys.TARGET), mode="meanstd", clamp=6.0),
    ])
"""

from monai_chpnet.keys import ReconKeys
from monai_chpnet.transforms.acquisition import (
    AcquiredKspaced,
    Acquisition,
    RandCartesianMask,
    RandCartesianMaskd,
    RandKspaceUndersample,
    RandKspaceUndersampled,
    RandSimulateAcquisition,
    RandSimulateAcquisitiond,
    ZeroFilledChannels,
    ZeroFilledChannelsd,
    undersample_kspace,
)
from monai_chpnet.transforms.crop import (
    CenterCropHW,
    CenterCropHWd,
    RandSignalSpatialCrop,
    RandSignalSpatialCropd,
    fastmri_crop_size,
)
from monai_chpnet.transforms.degradation import SR_MODES, SRDownsample, SRDownsampled
from monai_chpnet.transforms.intensity import NORM_MODES, NormalizeInstance, NormalizeInstanced, denormalize
from monai_chpnet.transforms.phase import RandSmoothPhase, RandSmoothPhased
from monai_chpnet.transforms.masks import (
    MASK_FUNCS,
    CartesianMaskFunc,
    EquispacedMaskFractionFunc,
    MaskSample,
    RandomMaskFunc,
    call_seed,
    create_mask_func,
    seed_from_name,
)
from monai_chpnet.transforms.validation import check_image_sample, check_kspace_sample

#: every image and k-space entry of a sample: what ``NormalizeInstanced(mode="scale")`` divides by ``std``
ALL_SCALED_KEYS = (ReconKeys.ZERO_FILLED, ReconKeys.TARGET, ReconKeys.KSPACE, ReconKeys.KSPACE_MASKED)

__all__ = [
    "ALL_SCALED_KEYS",
    "AcquiredKspaced",
    "Acquisition",
    "CartesianMaskFunc",
    "CenterCropHW",
    "CenterCropHWd",
    "RandSignalSpatialCrop",
    "RandSignalSpatialCropd",
    "EquispacedMaskFractionFunc",
    "MASK_FUNCS",
    "MaskSample",
    "NORM_MODES",
    "NormalizeInstance",
    "NormalizeInstanced",
    "RandCartesianMask",
    "RandCartesianMaskd",
    "RandKspaceUndersample",
    "RandKspaceUndersampled",
    "RandSimulateAcquisition",
    "RandSimulateAcquisitiond",
    "RandomMaskFunc",
    "RandSmoothPhase",
    "RandSmoothPhased",
    "SR_MODES",
    "SRDownsample",
    "SRDownsampled",
    "ZeroFilledChannels",
    "ZeroFilledChannelsd",
    "check_image_sample",
    "call_seed",
    "check_kspace_sample",
    "create_mask_func",
    "denormalize",
    "fastmri_crop_size",
    "seed_from_name",
    "undersample_kspace",
]
