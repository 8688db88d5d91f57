"""Single-coil Cartesian acquisition: column masks, undersampling of k-space, simulation from images.

Array transforms take one sample; dictionary transforms (suffix ``d``) read and write :class:`ReconKeys`::

    RandCartesianMaskd          kspace            -> mask, acceleration, center_fraction
    RandKspaceUndersampled      kspace            -> mask, kspace_masked, zero_filled, acceleration, center_fraction
    RandSimulateAcquisitiond    magnitude/complex -> target, kspace, + everything above
    ZeroFilledChannelsd         kspace_masked     -> (2, H, W) network input (real, imag of the zero-filled image)

Shapes per sample: k-space complex64 ``(1, H, W)``, mask float32 ``(1, 1, W)``, images float32 ``(1, H, W)``.
With ``seed_key`` the mask is drawn with a per-call seed derived from that entry (fastMRI: the volume's file
name), so every slice of a volume gets the same mask regardless of order, worker or random state.
"""

from __future__ import annotations

from typing import Any, Dict, Hashable, Mapping, NamedTuple, Optional, Sequence, Tuple, Type, Union

import numpy as np
import torch
from monai.config import KeysCollection, NdarrayOrTensor
from monai.transforms import MapTransform, Randomizable, Transform
from monai.utils import TransformBackends, ensure_tuple_rep
from torch import Tensor

from monai_chpnet.keys import ReconKeys
from monai_chpnet.kspace import apply_mask, center_crop_hw, complex_to_channels, fft2c, ifft2c, sampled_columns
from monai_chpnet.transforms.masks import CallSeed, MaskSample, call_seed, check_seed, create_mask_func
from monai_chpnet.transforms.crop import fastmri_crop_size
from monai_chpnet.transforms.validation import check_image_sample, check_kspace_sample

__all__ = [
    "Acquisition",
    "undersample_kspace",
    "RandCartesianMask",
    "RandKspaceUndersample",
    "RandSimulateAcquisition",
    "ZeroFilledChannels",
    "RandCartesianMaskd",
    "RandKspaceUndersampled",
    "RandSimulateAcquisitiond",
    "ZeroFilledChannelsd",
    "AcquiredKspaced",
]

Accelerations = Union[float, Sequence[float]]


class Acquisition(NamedTuple):
    """One simulated (or retrospectively undersampled) acquisition of a sample."""

    kspace: Tensor  #: complex64 ``(1, H, W)``, fully sampled
    kspace_masked: Tensor  #: complex64 ``(1, H, W)``, ``mask * kspace``
    mask: Tensor  #: float32 ``(1, 1, W)``
    zero_filled: Tensor  #: float32 ``(1, h, w)``: ``|ifft2c(kspace_masked)|``, centre-cropped to ``(h, w)`` if asked
    acceleration: float
    center_fraction: float
    target: Optional[Tensor] = None  #: float32 ``(1, H, W)`` magnitude of the simulated image; ``None`` for k-space


def undersample_kspace(
    kspace: Tensor, mask: Tensor, crop_size: Optional[Sequence[int]] = None
) -> Tuple[Tensor, Tensor]:
    """Apply a column mask and reconstruct the zero-filled magnitude.

    Args:
        kspace: complex ``(1, H, W)`` (or batched ``(B, 1, H, W)``).
        mask: float ``(1, 1, W)`` (or ``(B, 1, 1, W)``).
        crop_size: optional ``(h, w)`` centre crop of the zero-filled image (fastMRI crops to the target size).

    Returns:
        ``(kspace_masked, zero_filled)``: complex ``(..., 1, H, W)`` and real ``(..., 1, h, w)``.
    """
    kspace_masked = apply_mask(kspace, mask)
    zero_filled = ifft2c(kspace_masked).abs()
    if crop_size is not None:
        zero_filled = center_crop_hw(zero_filled, crop_size)
    return kspace_masked, zero_filled


class _CartesianSampling(Randomizable, Transform):
    """Holds a mask function (:mod:`monai_chpnet.transforms.masks`) and shares its random state."""

    backend = [TransformBackends.TORCH]

    def __init__(
        self,
        mask_type: str = "random",
        accelerations: Accelerations = (4, 8),
        center_fractions: Accelerations = (0.08, 0.04),
        seed: Optional[int] = None,
    ) -> None:
        self.mask_func = create_mask_func(mask_type, accelerations, center_fractions, seed=seed)
        self.R = self.mask_func.R
        self.sample: Optional[MaskSample] = None  #: the last draw

    def set_random_state(
        self, seed: Optional[int] = None, state: Optional[np.random.RandomState] = None
    ) -> "_CartesianSampling":
        super().set_random_state(None if seed is None else check_seed(seed), state)
        self.mask_func.set_random_state(state=self.R)
        return self

    def randomize(self, data: int, seed: Optional[CallSeed] = None) -> None:
        """Draw a mask for ``data`` (= ``W``) columns, with an optional per-call seed."""
        self.sample = self.mask_func(data, seed=seed)

    def _mask_for(self, num_cols: int, seed: Optional[CallSeed], randomize: bool) -> MaskSample:
        if randomize or self.sample is None:
            self.randomize(num_cols, seed)
        assert self.sample is not None
        if self.sample.mask.numel() != num_cols:
            raise ValueError(f"the last mask has {self.sample.mask.numel()} columns, the k-space has {num_cols}.")
        return self.sample


class RandCartesianMask(_CartesianSampling):
    """Draw a Cartesian column mask for single-coil k-space.

    Args:
        mask_type: ``"random"`` (fastMRI ``RandomMaskFunc``) or ``"equispaced"`` (``EquispacedMaskFractionFunc``).
        accelerations: undersampling factors, one drawn per call with its paired centre fraction.
        center_fractions: fractions of fully sampled centre columns, in (0, 1).
        seed: seed of the random state.

    The parameters of the last draw are in :attr:`sample` (``acceleration``, ``center_fraction``).
    """

    def __call__(
        self,
        kspace: NdarrayOrTensor,
        seed: Optional[CallSeed] = None,
        randomize: bool = True,
        name: Hashable = ReconKeys.KSPACE,
    ) -> Tensor:
        """
        Args:
            kspace: complex ``(1, H, W)``; only its width is used, but it is validated.
            seed: per-call seed (e.g. :func:`seed_from_name` of the volume): equal seeds give equal masks.
            randomize: ``False`` re-uses the last mask.
            name: how errors call the input (the dictionary versions pass their key).

        Returns:
            float32 mask ``(1, 1, W)``.
        """
        k = check_kspace_sample(kspace, name)
        return self._mask_for(k.shape[-1], seed, randomize).mask.view(1, 1, -1)


class RandKspaceUndersample(_CartesianSampling):
    """Retrospectively undersample fully sampled k-space (e.g. a fastMRI single-coil slice).

    Args:
        mask_type, accelerations, center_fractions, seed: as :class:`RandCartesianMask`.
        crop_size: optional ``(h, w)`` centre crop of the zero-filled image (fastMRI: the 320 x 320 target size).
    """

    input_name: Hashable = ReconKeys.KSPACE  #: how errors call the input when no ``name`` is given

    def __init__(
        self,
        mask_type: str = "random",
        accelerations: Accelerations = (4, 8),
        center_fractions: Accelerations = (0.08, 0.04),
        crop_size: Optional[Sequence[int]] = None,
        seed: Optional[int] = None,
    ) -> None:
        super().__init__(mask_type, accelerations, center_fractions, seed=seed)
        self.crop_size = crop_size

    def prepare(self, data: NdarrayOrTensor, name: Hashable) -> Tuple[Tensor, Optional[Tensor]]:
        """Validated k-space complex64 ``(1, H, W)`` and the target (``None``: k-space carries no target)."""
        return check_kspace_sample(data, name), None

    def __call__(
        self,
        data: NdarrayOrTensor,
        seed: Optional[CallSeed] = None,
        crop_size: Optional[Sequence[int]] = None,
        randomize: bool = True,
        name: Optional[Hashable] = None,
    ) -> Acquisition:
        """
        Args:
            data: complex k-space ``(1, H, W)``, centred (DC at ``(H // 2, W // 2)``).
            seed: per-call mask seed, see :class:`RandCartesianMask`.
            crop_size: overrides the ``crop_size`` given at construction.
            randomize: ``False`` re-uses the last mask.
            name: how errors call the input (default :attr:`input_name`; the dictionary versions pass their key).

        Returns:
            :class:`Acquisition`.
        """
        kspace, target = self.prepare(data, self.input_name if name is None else name)
        sample = self._mask_for(kspace.shape[-1], seed, randomize)
        mask = sample.mask.view(1, 1, -1)
        crop_size = crop_size if crop_size is not None else self.crop_size
        kspace_masked, zero_filled = undersample_kspace(kspace, mask, crop_size)
        return Acquisition(
            kspace, kspace_masked, mask, zero_filled, sample.acceleration, sample.center_fraction, target
        )


class RandSimulateAcquisition(RandKspaceUndersample):
    """Simulate a single-coil acquisition from an image ``(1, H, W)``: ``kspace = fft2c(image)`` (centred,
    orthonormal), then as :class:`RandKspaceUndersample`. A real image is a magnitude image; a complex one keeps its
    phase. The returned :class:`Acquisition` has ``target = |image|``, float32 ``(1, H, W)``."""

    input_name = "image"

    def prepare(self, data: NdarrayOrTensor, name: Hashable) -> Tuple[Tensor, Optional[Tensor]]:
        """``(fft2c(image), |image|)`` of a validated real or complex image ``(1, H, W)`` that is not all zero."""
        image = check_image_sample(data, name, nonzero=True)
        target = image.abs() if torch.is_complex(image) else image
        return fft2c(image.to(torch.complex64)), target


class ZeroFilledChannels(Transform):
    """Measured k-space -> the 2-channel network input of k-space mode, ``complex_to_channels(ifft2c(k))``:
    complex ``(1, H, W)`` -> float32 ``(2, H, W)`` (real, imaginary)."""

    backend = [TransformBackends.TORCH]

    def __call__(self, kspace_masked: NdarrayOrTensor, name: Hashable = ReconKeys.KSPACE_MASKED) -> Tensor:
        return complex_to_channels(ifft2c(check_kspace_sample(kspace_masked, name)))


class _CartesianSamplingd(Randomizable, MapTransform):
    """Dictionary wrapper of one ``_CartesianSampling`` transform over a single key, with ``seed_key``."""

    backend = [TransformBackends.TORCH]

    def __init__(
        self,
        keys: KeysCollection,
        transform: _CartesianSampling,
        seed_key: Optional[Hashable],
        allow_missing_keys: bool,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        if len(self.keys) != 1:
            raise ValueError(f"{type(self).__name__} draws one mask per sample: give one key, got {self.keys}.")
        self.transform = transform
        self.R = transform.R
        self.seed_key = seed_key

    def set_random_state(
        self, seed: Optional[int] = None, state: Optional[np.random.RandomState] = None
    ) -> "_CartesianSamplingd":
        super().set_random_state(None if seed is None else check_seed(seed), state)
        self.transform.set_random_state(state=self.R)
        return self

    def randomize(self, data: int, seed: Optional[CallSeed] = None) -> None:
        """Draw a mask for ``data`` (= ``W``) columns, see :meth:`RandCartesianMask.randomize`."""
        self.transform.randomize(data, seed)

    def _call_seed(self, d: Mapping) -> Optional[CallSeed]:
        if self.seed_key is None:
            return None
        if self.seed_key not in d:
            raise KeyError(f"seed_key {self.seed_key!r} is not in the sample (keys: {sorted(map(str, d))}).")
        return call_seed(d[self.seed_key], self.seed_key)

    @staticmethod
    def _write_parameters(d: Dict, sample: MaskSample) -> None:
        d[ReconKeys.ACCELERATION] = torch.tensor(sample.acceleration, dtype=torch.float32)
        d[ReconKeys.CENTER_FRACTION] = torch.tensor(sample.center_fraction, dtype=torch.float32)


class RandCartesianMaskd(_CartesianSamplingd):
    """Dictionary version of :class:`RandCartesianMask`: writes ``mask_key`` (float32 ``(1, 1, W)``) and
    ``ReconKeys.ACCELERATION`` / ``CENTER_FRACTION`` (float32 scalars).

    Args:
        keys: the one k-space key whose width sets the mask (default ``ReconKeys.KSPACE``).
        mask_type, accelerations, center_fractions, seed: as :class:`RandCartesianMask`.
        mask_key: where the mask goes.
        seed_key: optional key of a per-volume seed (a file name, as fastMRI's ``tuple(map(ord, fname))`` of its
            base name, or an integer): all slices with the same value get the same mask.
        allow_missing_keys: leave the sample unchanged when the k-space key is absent.
    """

    def __init__(
        self,
        keys: KeysCollection = ReconKeys.KSPACE,
        mask_type: str = "random",
        accelerations: Accelerations = (4, 8),
        center_fractions: Accelerations = (0.08, 0.04),
        mask_key: Hashable = ReconKeys.MASK,
        seed_key: Optional[Hashable] = None,
        allow_missing_keys: bool = False,
        seed: Optional[int] = None,
    ) -> None:
        super().__init__(
            keys, RandCartesianMask(mask_type, accelerations, center_fractions, seed=seed), seed_key, allow_missing_keys
        )
        self.mask_key = mask_key

    def __call__(self, data: Mapping[Hashable, Any]) -> Dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[self.mask_key] = self.transform(d[key], seed=self._call_seed(d), name=key)
            self._write_parameters(d, self.transform.sample)
        return d


class RandKspaceUndersampled(_CartesianSamplingd):
    """Dictionary version of :class:`RandKspaceUndersample`: from the k-space key writes ``ReconKeys.KSPACE``
    (validated complex64), ``MASK``, ``KSPACE_MASKED``, ``ZERO_FILLED`` (magnitude, cropped if asked),
    ``ACCELERATION`` and ``CENTER_FRACTION``.

    Args:
        keys: the one k-space key (default ``ReconKeys.KSPACE``).
        mask_type, accelerations, center_fractions, seed: as :class:`RandCartesianMask`.
        seed_key: per-volume mask seed, as :class:`RandCartesianMaskd`.
        crop_size: fixed ``(h, w)`` centre crop of the zero-filled image.
        crop_to_key: crop the zero-filled image to the spatial size of this entry instead (fastMRI:
            ``ReconKeys.TARGET``, the 320 x 320 reference); it must be present. A k-space narrower than it is
            cropped as fastMRI does (:func:`~monai_chpnet.transforms.crop.fastmri_crop_size`): both the
            zero-filled image and this entry to ``(W, W)``.
        allow_missing_keys: leave the sample unchanged when the input key is absent.
    """

    array_class: Type[RandKspaceUndersample] = RandKspaceUndersample

    def __init__(
        self,
        keys: KeysCollection = ReconKeys.KSPACE,
        mask_type: str = "random",
        accelerations: Accelerations = (4, 8),
        center_fractions: Accelerations = (0.08, 0.04),
        seed_key: Optional[Hashable] = None,
        crop_size: Optional[Sequence[int]] = None,
        crop_to_key: Optional[Hashable] = None,
        allow_missing_keys: bool = False,
        seed: Optional[int] = None,
    ) -> None:
        if crop_size is not None and crop_to_key is not None:
            raise ValueError("give crop_size or crop_to_key, not both.")
        transform = self.array_class(mask_type, accelerations, center_fractions, crop_size=crop_size, seed=seed)
        super().__init__(keys, transform, seed_key, allow_missing_keys)
        self.crop_to_key = crop_to_key

    def __call__(self, data: Mapping[Hashable, Any]) -> Dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            crop_size = None
            if self.crop_to_key is not None:
                if self.crop_to_key not in d:
                    name = f" ({d['fname']})" if "fname" in d else ""
                    raise KeyError(
                        f"crop_to_key {self.crop_to_key!r} is not in the sample{name}. A file without a reference, "
                        "such as fastMRI's test split, is already undersampled: take its k-space as acquired "
                        "(AcquiredKspaced, kspace_transforms(acquired=True), --unlabelled_dataset fastmri_acquired) "
                        "instead of masking it again."
                    )
                crop_size = fastmri_crop_size(d[key].shape[-1], d[self.crop_to_key].shape[-2:])
                if crop_size != tuple(d[self.crop_to_key].shape[-2:]):  # FLAIR 203: the target is cropped too
                    d[self.crop_to_key] = center_crop_hw(d[self.crop_to_key], crop_size)
            acq = self.transform(d[key], seed=self._call_seed(d), crop_size=crop_size, name=key)
            if acq.target is not None:
                d[ReconKeys.TARGET] = acq.target
            d[ReconKeys.KSPACE] = acq.kspace
            d[ReconKeys.KSPACE_MASKED] = acq.kspace_masked
            d[ReconKeys.MASK] = acq.mask
            d[ReconKeys.ZERO_FILLED] = acq.zero_filled
            self._write_parameters(d, self.transform.sample)
        return d


class RandSimulateAcquisitiond(RandKspaceUndersampled):
    """Dictionary version of :class:`RandSimulateAcquisition`: from an image key (real magnitude or complex,
    ``(1, H, W)``; default ``ReconKeys.TARGET``) writes ``TARGET`` (its magnitude, float32), ``KSPACE`` and
    everything :class:`RandKspaceUndersampled` writes. Arguments as :class:`RandKspaceUndersampled`."""

    array_class = RandSimulateAcquisition

    def __init__(
        self,
        keys: KeysCollection = ReconKeys.TARGET,
        mask_type: str = "random",
        accelerations: Accelerations = (4, 8),
        center_fractions: Accelerations = (0.08, 0.04),
        seed_key: Optional[Hashable] = None,
        crop_size: Optional[Sequence[int]] = None,
        crop_to_key: Optional[Hashable] = None,
        allow_missing_keys: bool = False,
        seed: Optional[int] = None,
    ) -> None:
        super().__init__(
            keys, mask_type, accelerations, center_fractions, seed_key, crop_size, crop_to_key, allow_missing_keys, seed
        )


class ZeroFilledChannelsd(MapTransform):
    """Dictionary version of :class:`ZeroFilledChannels`: ``keys`` (default ``ReconKeys.KSPACE_MASKED``) ->
    ``output_keys`` (one per key; default ``"image"``, the network input key of ``engines.ReconPrepareBatch``),
    float32 ``(2, H, W)``.

    Apply it after normalisation so that the channels carry the same scale as the k-space.
    """

    backend = ZeroFilledChannels.backend

    def __init__(
        self,
        keys: KeysCollection = ReconKeys.KSPACE_MASKED,
        output_keys: KeysCollection = "image",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.output_keys = ensure_tuple_rep(output_keys, len(self.keys))
        self.converter = ZeroFilledChannels()

    def __call__(self, data: Mapping[Hashable, Any]) -> Dict[Hashable, Any]:
        d = dict(data)
        for key, out_key in self.key_iterator(d, self.output_keys):
            d[out_key] = self.converter(d[key], name=key)
        return d


class AcquiredKspaced(MapTransform):
    """Take k-space that was *acquired* undersampled (e.g. fastMRI's test split) as the measurement.

    The mask is recovered from the acquired columns (:func:`monai_chpnet.kspace.sampled_columns`) and the
    zero-filled magnitude is computed, writing the same keys as :class:`RandKspaceUndersampled` so the rest of a
    pipeline is unchanged: ``kspace_masked`` (= the input), ``mask`` ``(1, 1, W)``, ``zero_filled`` ``(1, h, w)``
    and ``acceleration`` (``W / sampled columns``; ``center_fraction`` is unknown and stored as ``nan``).

    Args:
        keys: the k-space key (default ``ReconKeys.KSPACE``).
        crop_size: optional ``(h, w)`` centre crop of the zero-filled image.
        crop_to_key: crop to the size of this key's image instead, when present.
        recon_size_key: without that image (fastMRI's test split has no reference), crop to the first two entries
            of this key's value instead, when present: ``recon_size`` is the ISMRMRD header's reconstruction
            matrix (320 x 320 for knee) that :class:`~monai_chpnet.data.FastMRISliceDataset` puts in every item,
            the grid fastMRI's references are on. ``None``: do not look for one.
    """

    def __init__(
        self,
        keys: KeysCollection = ReconKeys.KSPACE,
        crop_size: Optional[Sequence[int]] = None,
        crop_to_key: Optional[Hashable] = None,
        allow_missing_keys: bool = False,
        recon_size_key: Optional[Hashable] = "recon_size",
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.crop_size, self.crop_to_key, self.recon_size_key = crop_size, crop_to_key, recon_size_key

    def __call__(self, data: Mapping[Hashable, Any]) -> Dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            kspace = check_kspace_sample(d[key], key)
            mask = sampled_columns(kspace)  # (1, 1, W); check_kspace_sample already refused all-zero data
            crop = self.crop_size
            if self.crop_to_key is not None and self.crop_to_key in d:
                crop = fastmri_crop_size(kspace.shape[-1], d[self.crop_to_key].shape[-2:])
                if crop != tuple(d[self.crop_to_key].shape[-2:]):  # FLAIR 203: the target is cropped too
                    d[self.crop_to_key] = center_crop_hw(d[self.crop_to_key], crop)
            elif self.recon_size_key is not None and d.get(self.recon_size_key) is not None:
                crop = fastmri_crop_size(kspace.shape[-1], [int(c) for c in d[self.recon_size_key][:2]])
            d[ReconKeys.KSPACE_MASKED], d[ReconKeys.ZERO_FILLED] = undersample_kspace(kspace, mask, crop)
            d[ReconKeys.MASK] = mask
            d[ReconKeys.ACCELERATION] = float(mask.shape[-1] / mask.sum())
            d[ReconKeys.CENTER_FRACTION] = float("nan")
        return d
