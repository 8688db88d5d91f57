"""Instance normalisation from the zero-filled input, with the statistics kept so outputs map back.

Two modes (see ``docs/CONTRACTS.md``):

* ``"meanstd"``: fastMRI's ``normalize_instance``, ``(x - mean) / (std + eps)`` with ``mean``/``std`` of the
  reference (zero-filled) image, optionally clamped (fastMRI's U-Net clamps to +-6). For image-only networks;
  complex (k-space) keys are refused, since subtracting an image-domain mean breaks k-space consistency.
* ``"scale"``: ``x / (std + eps)`` for every image *and* k-space key, ``mean`` stored as 0: what networks with
  data consistency need, since one scalar commutes with the Fourier transform.

``std`` is torch's unbiased standard deviation (as fastMRI). The stored ``std`` is the divisor actually used,
``std + eps``, so that :func:`denormalize` (``x * std + mean``) inverts exactly (up to clamping).
"""

from __future__ import annotations

from typing import Any, Dict, Hashable, Mapping, Optional, Tuple, Union

import torch
from monai.config import KeysCollection, NdarrayOrTensor
from monai.transforms import MapTransform, Transform
from monai.utils import TransformBackends, convert_to_tensor
from torch import Tensor

from monai_chpnet.keys import ReconKeys
from monai_chpnet.transforms.validation import check_image_sample

__all__ = ["NORM_MODES", "NormalizeInstance", "NormalizeInstanced", "denormalize"]

NORM_MODES = ("meanstd", "scale")

Stat = Union[float, Tensor]


def denormalize(x: Tensor, mean: Stat, std: Stat) -> Tensor:
    """Map normalised data back: ``x * std + mean``.

    Args:
        x: one sample ``(C, H, W)`` or a batch ``(B, C, H, W)``, real or complex.
        mean, std: scalars, or per-sample ``(B,)`` tensors as collated from ``ReconKeys.MEAN`` / ``STD``.
    """

    def per_sample(s: Stat) -> Tensor:
        s = torch.as_tensor(s, dtype=torch.float32, device=x.device)
        return s.reshape(-1, *([1] * (x.ndim - 1))) if s.ndim == 1 else s

    return x * per_sample(std) + per_sample(mean)


class NormalizeInstance(Transform):
    """Normalise an image (or k-space, in ``"scale"`` mode) with the statistics of a reference image.

    Args:
        mode: ``"meanstd"`` or ``"scale"`` (see the module docstring).
        eps: added to ``std`` (fastMRI uses 1e-11).
        clamp: ``"meanstd"`` only: clamp the result to ``[-clamp, clamp]`` (fastMRI's U-Net: 6).
    """

    backend = [TransformBackends.TORCH]

    def __init__(self, mode: str = "meanstd", eps: float = 1e-11, clamp: Optional[float] = None) -> None:
        if mode not in NORM_MODES:
            raise ValueError(f"mode must be one of {NORM_MODES}, got {mode!r}.")
        if clamp is not None and (mode != "meanstd" or clamp <= 0):
            raise ValueError(f"clamp (got {clamp}) must be positive and needs mode='meanstd': clamping breaks k-space.")
        self.mode, self.eps, self.clamp = mode, eps, clamp

    def stats(self, reference: NdarrayOrTensor, name: Hashable = "reference") -> Tuple[Tensor, Tensor]:
        """``(mean, std + eps)`` of a real reference image ``(C, H, W)``, float32 scalars; ``mean = 0`` in
        ``"scale"`` mode."""
        ref = check_image_sample(reference, name, channels=None)
        if torch.is_complex(ref):
            raise TypeError(f"the normalisation reference {name!r} must be a real (magnitude) image, got {ref.dtype}.")
        mean = ref.mean() if self.mode == "meanstd" else torch.zeros((), dtype=torch.float32)
        return mean, ref.std() + self.eps

    def __call__(
        self, img: NdarrayOrTensor, mean: Optional[Stat] = None, std: Optional[Stat] = None, name: Hashable = "image"
    ) -> Tensor:
        """
        Args:
            img: ``(C, H, W)``; complex only in ``"scale"`` mode.
            mean, std: statistics to use (``std`` already including ``eps``); both ``None``: those of ``img``.
            name: how errors call the input (the dictionary version passes its key).

        Returns:
            the normalised tensor, same shape and dtype family.
        """
        x = convert_to_tensor(img, track_meta=False)
        if torch.is_complex(x) and self.mode == "meanstd":
            raise ValueError(f"mode='meanstd' cannot normalise the complex entry {name!r}; use mode='scale'.")
        if (mean is None) != (std is None):
            raise ValueError("give both mean and std, or neither.")
        if mean is None:
            mean, std = self.stats(x, name)
        if self.mode == "meanstd":
            out = (x - mean) / std
        elif torch.is_complex(x):  # divide the real/imag parts: a complex division by a scalar is ~8x slower
            out = torch.view_as_complex(torch.view_as_real(x) / std)
        else:
            out = x / std
        return out.clamp(-self.clamp, self.clamp) if self.clamp is not None else out


class NormalizeInstanced(MapTransform):
    """Dictionary version of :class:`NormalizeInstance`: statistics of ``ref_key`` (default the zero-filled
    input) applied to every key, and stored under ``ReconKeys.MEAN`` / ``STD`` (float32 scalars).

    Args:
        keys: entries to normalise, e.g. ``(ZERO_FILLED, TARGET)`` for ``"meanstd"``, or
            ``(ZERO_FILLED, TARGET, KSPACE, KSPACE_MASKED)`` for ``"scale"``.
        ref_key: the real image the statistics come from; it must be present.
        mode, eps, clamp: as :class:`NormalizeInstance`.
        allow_missing_keys: skip absent ``keys`` (e.g. no target for prospective data).
    """

    backend = NormalizeInstance.backend

    def __init__(
        self,
        keys: KeysCollection,
        ref_key: Hashable = ReconKeys.ZERO_FILLED,
        mode: str = "meanstd",
        eps: float = 1e-11,
        clamp: Optional[float] = None,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.ref_key = ref_key
        self.normalize = NormalizeInstance(mode, eps, clamp)

    def __call__(self, data: Mapping[Hashable, Any]) -> Dict[Hashable, Any]:
        d = dict(data)
        if self.ref_key not in d:
            raise KeyError(f"the normalisation reference {self.ref_key!r} is not in the sample.")
        mean, std = self.normalize.stats(d[self.ref_key], self.ref_key)
        for key in self.key_iterator(d):
            d[key] = self.normalize(d[key], mean, std, name=key)
        d[ReconKeys.MEAN], d[ReconKeys.STD] = mean, std
        return d
