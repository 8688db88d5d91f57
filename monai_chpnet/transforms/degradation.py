"""Super-resolution degradation ``y = D x``: x2 / x4 downsampling, bicubic or by k-space centre crop (MRI)."""

from __future__ import annotations

from typing import Any, Dict, Hashable, Mapping

from monai.config import KeysCollection, NdarrayOrTensor
from monai.transforms import MapTransform, Transform
from monai.utils import TransformBackends, ensure_tuple_rep
from torch import Tensor

from monai_chpnet.keys import ReconKeys
from monai_chpnet.resampling import downsample
from monai_chpnet.transforms.validation import check_image_sample

__all__ = ["SR_MODES", "SRDownsample", "SRDownsampled"]

SR_MODES = ("bicubic", "kspace")


class SRDownsample(Transform):
    """Downsample an image ``(C, H, W)`` by an integer ``scale`` to ``(C, H / scale, W / scale)``.

    Modes:
        ``"bicubic"``: antialiased bicubic resampling (``torch.nn.functional.interpolate(..., antialias=True)``,
            cubic coefficient -0.5 with the kernel widened by ``scale``, as MATLAB's ``imresize``); real images only.
        ``"kspace"``: the MRI acquisition at a lower matrix size: keep the central ``(H / scale, W / scale)``
            block of the centred orthonormal k-space (DC stays at the centre) and divide by ``scale`` so that
            intensities are preserved (a constant image stays the same constant). A linear operator: a real image
            gives the real part, a complex one stays complex.

    Args:
        scale: integer factor >= 2 (2 and 4 in the paper) that divides H and W.
        mode: ``"bicubic"`` or ``"kspace"``.
    """

    backend = [TransformBackends.TORCH]

    def __init__(self, scale: int = 2, mode: str = "bicubic") -> None:
        if isinstance(scale, bool) or int(scale) != scale or scale < 2:
            raise ValueError(f"scale must be an integer >= 2, got {scale}.")
        if mode not in SR_MODES:
            raise ValueError(f"mode must be one of {SR_MODES}, got {mode!r}.")
        self.scale = int(scale)
        self.mode = mode

    def __call__(self, image: NdarrayOrTensor, name: Hashable = "image") -> Tensor:
        """
        Args:
            image: ``(C, H, W)``, H and W divisible by ``scale``.
            name: how errors call the input (the dictionary version passes its key).

        Returns:
            ``(C, H / scale, W / scale)``, float32 (complex64 for complex input in ``"kspace"`` mode).
        """
        x = check_image_sample(image, name, channels=None)
        H, W = x.shape[-2:]
        if H % self.scale or W % self.scale:
            raise ValueError(f"image {name!r} of shape {tuple(x.shape)}: H and W must be divisible by {self.scale}.")
        return downsample(x, self.scale, self.mode)


class SRDownsampled(MapTransform):
    """Dictionary version of :class:`SRDownsample`: ``keys`` (default ``ReconKeys.TARGET``) -> ``output_keys``
    (default ``ReconKeys.LOW_RES``, one per key).

    Args:
        keys: high-resolution image keys ``(C, H, W)``.
        output_keys: where the low-resolution images go.
        scale, mode: as :class:`SRDownsample`.
        allow_missing_keys: skip absent keys.
    """

    backend = SRDownsample.backend

    def __init__(
        self,
        keys: KeysCollection = ReconKeys.TARGET,
        output_keys: KeysCollection = ReconKeys.LOW_RES,
        scale: int = 2,
        mode: str = "bicubic",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.output_keys = ensure_tuple_rep(output_keys, len(self.keys))
        self.downsample = SRDownsample(scale, mode)

    def __call__(self, data: Mapping[Hashable, Any]) -> Dict[Hashable, Any]:
        d = dict(data)
        for key, out_key in self.key_iterator(d, self.output_keys):
            d[out_key] = self.downsample(d[key], name=key)
        return d
