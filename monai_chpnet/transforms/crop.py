"""Crops: centre crop of the last two axes to a fixed size or to the size of another entry (fastMRI: the target),
and random patches that are not empty (a patch of background has no k-space to reconstruct)."""

from __future__ import annotations

from typing import Any, Dict, Hashable, Mapping, Optional, Sequence, Tuple

from monai.config import KeysCollection, NdarrayOrTensor
from monai.transforms import MapTransform, RandSpatialCrop, RandSpatialCropd, Transform
from monai.utils import TransformBackends, convert_to_tensor
from torch import Tensor

from monai_chpnet.kspace import center_crop_hw

__all__ = [
    "CenterCropHW",
    "CenterCropHWd",
    "RandSignalSpatialCrop",
    "RandSignalSpatialCropd",
    "crop_to_multiple",
    "fastmri_crop_size",
]


def crop_to_multiple(x: Any, multiple: int) -> Any:
    """``x`` ``(..., H, W)`` (array or tensor) cropped, top-left kept, to multiples of ``multiple`` (e.g. an SR scale)."""
    h, w = x.shape[-2:]
    return x[..., : h - h % multiple, : w - w % multiple]


def fastmri_crop_size(kspace_width: int, size: Sequence[int]) -> Tuple[int, int]:
    """The grid fastMRI crops a slice's image and target to: ``size`` (the target's, or the header's reconstruction
    size), unless the k-space is narrower than that -- fastMRI's "FLAIR 203" rule (``UnetDataTransform``): then
    both are cropped to ``(W, W)``."""
    h, w = int(size[0]), int(size[1])
    return (kspace_width, kspace_width) if kspace_width < w else (h, w)


class CenterCropHW(Transform):
    """Crop ``(..., H, W)`` symmetrically to ``(..., h, w)`` (fastMRI's ``center_crop``; real or complex images).

    Args:
        roi_size: default ``(h, w)``; may be given per call instead.
    """

    backend = [TransformBackends.TORCH]

    def __init__(self, roi_size: Optional[Sequence[int]] = None) -> None:
        self.roi_size = roi_size

    def __call__(
        self, img: NdarrayOrTensor, roi_size: Optional[Sequence[int]] = None, name: Hashable = "image"
    ) -> Tensor:
        """Returns a view of ``img`` (as a tensor) cropped to ``roi_size`` (or the one given at construction).

        Raises:
            ValueError: no size given, or a size larger than the image (the message names ``name``).
        """
        size = roi_size if roi_size is not None else self.roi_size
        if size is None:
            raise ValueError("CenterCropHW needs roi_size, at construction or per call.")
        x = convert_to_tensor(img, track_meta=False)
        h, w = int(size[0]), int(size[1])
        if x.ndim < 2 or not (1 <= h <= x.shape[-2] and 1 <= w <= x.shape[-1]):
            raise ValueError(f"cannot centre-crop {name!r} of shape {tuple(x.shape)} to ({h}, {w}).")
        return center_crop_hw(x, (h, w))


class CenterCropHWd(MapTransform):
    """Dictionary version of :class:`CenterCropHW`.

    Args:
        keys: entries to crop (e.g. ``ReconKeys.ZERO_FILLED``).
        roi_size: fixed ``(h, w)``; or
        size_key: take ``(h, w)`` from the last two axes of this entry (e.g. ``ReconKeys.TARGET``), per sample.
        allow_missing_keys: skip absent keys.
    """

    backend = CenterCropHW.backend

    def __init__(
        self,
        keys: KeysCollection,
        roi_size: Optional[Sequence[int]] = None,
        size_key: Optional[Hashable] = None,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        if (roi_size is None) == (size_key is None):
            raise ValueError("give exactly one of roi_size and size_key.")
        self.size_key = size_key
        self.cropper = CenterCropHW(roi_size)

    def __call__(self, data: Mapping[Hashable, Any]) -> Dict[Hashable, Any]:
        d = dict(data)
        size = None
        if self.size_key is not None:
            if self.size_key not in d:
                raise KeyError(f"size_key {self.size_key!r} is not in the sample.")
            size = tuple(d[self.size_key].shape[-2:])
        for key in self.key_iterator(d):
            d[key] = self.cropper(d[key], size, name=key)
        return d


def _flat(patch: Any) -> bool:
    """Whether every value of ``patch`` is the same (all zero included)."""
    flat = patch.reshape(-1)
    return bool((flat == flat[0]).all())


class RandSignalSpatialCrop(RandSpatialCrop):
    """:class:`monai.transforms.RandSpatialCrop` that draws again (up to ``max_tries`` times) while the patch is flat
    -- all zero, e.g. background around an anatomy, or one constant value, e.g. a picture's uniform border, which
    has nothing to reconstruct and whose normalisation would divide by a zero spread. Patches with any structure
    are drawn exactly as by the parent class.

    Args:
        roi_size: patch size, as :class:`~monai.transforms.RandSpatialCrop` (``random_size=False``).
        max_tries: draws before giving up and returning the last (empty) patch.
    """

    def __init__(self, roi_size: Sequence[int], max_tries: int = 10) -> None:
        super().__init__(roi_size=roi_size, random_size=False)
        if max_tries < 1:
            raise ValueError(f"max_tries must be >= 1, got {max_tries}.")
        self.max_tries = max_tries

    def __call__(self, img: Any, randomize: bool = True, lazy: Optional[bool] = None) -> Any:  # type: ignore[override]
        out = super().__call__(img, randomize=randomize, lazy=lazy)
        for _ in range(self.max_tries - 1):
            if not randomize or not _flat(out):
                break
            out = super().__call__(img, randomize=True, lazy=lazy)
        return out


class RandSignalSpatialCropd(RandSpatialCropd):
    """Dictionary version of :class:`RandSignalSpatialCrop`: one patch location for all ``keys``, drawn again while
    the first key's patch is flat (see :class:`RandSignalSpatialCrop`)."""

    def __init__(
        self, keys: KeysCollection, roi_size: Sequence[int], max_tries: int = 10, allow_missing_keys: bool = False
    ) -> None:
        super().__init__(keys, roi_size=roi_size, random_size=False, allow_missing_keys=allow_missing_keys)
        if max_tries < 1:
            raise ValueError(f"max_tries must be >= 1, got {max_tries}.")
        self.max_tries = max_tries

    def __call__(self, data: Mapping[Hashable, Any], lazy: Optional[bool] = None) -> Dict[Hashable, Any]:  # type: ignore[override]
        first = self.first_key(data)
        out = super().__call__(data, lazy=lazy)
        for _ in range(self.max_tries - 1):
            if first == () or not _flat(out[first]):
                break
            out = super().__call__(data, lazy=lazy)
        return out
