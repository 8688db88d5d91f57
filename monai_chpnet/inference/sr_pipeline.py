"""Super-resolution as MONAI components, for the ``chpnet_mri_sr`` bundle's ``inference.json`` and MONAI Label's
stock ``BundleInferTask`` (as :mod:`.pipeline` is for the k-space task): pre-processing -> inferer ->
post-processing, thin wrappers of :mod:`.superres` and :mod:`.sr_files`.

* :class:`LoadSRInputd`: a file path -> ``"image"``, the low-resolution ``MetaTensor`` ``(1, slices, h, w)`` (in
  evaluation mode the file degraded, with ``"label"`` the file itself), whose ``meta`` carries the output's geometry
  (upsampled, or the file's in evaluation mode) as MONAI Label's ``Restored`` reads it;
* :class:`SRInferer`: ``(1, slices, h, w)`` and the network -> ``(1, 1, slices, scale h, scale w)``;
* :class:`SROutputsd`: ``"pred"`` -> ``(1, slices, H, W)``, the baselines and metrics (``"result"``);
* :class:`SaveSROutputsd`: ``<stem>_sr.nii.gz`` (+ baseline, metrics) with :func:`~.sr_files.write_sr_outputs`;
* :class:`~.pipeline.ToImageLayoutd` (shared): ``"pred"`` in MONAI's ``(1, i, j, k)`` layout with its affine.
"""

from __future__ import annotations

import time
from typing import Any, Dict, Hashable, Mapping, Optional

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.inferers import Inferer
from monai.transforms import MapTransform
from torch import nn

from monai_chpnet.config_utils import flag, whole
from monai_chpnet.data.volumes import read_volume
from monai_chpnet.inference.inputs import check_magnitude_volume
from monai_chpnet.inference.pipeline import INPUT_META, SaveReconOutputsd, _geometry, _get, _put, _ras_affine
from monai_chpnet.inference.sr_files import SuperResolutionResult, degrade_volume, score_sr, write_sr_outputs
from monai_chpnet.inference.superres import check_scale, super_resolve_slices, upsampled_geometry
from monai_chpnet.transforms.degradation import SR_MODES

__all__ = ["LoadSRInputd", "SRInferer", "SROutputsd", "SaveSROutputsd"]

SR_RESULT_KEY = "sr_result"  #: where :class:`SROutputsd` leaves the :class:`~.sr_files.SuperResolutionResult`


class LoadSRInputd(MapTransform):
    """Read the volume at ``keys`` (one key, default ``"image"``) for super-resolution ``scale`` times.

    Args:
        scale: 2 or 4.
        evaluate: the file is a high-resolution reference: degraded by ``degradation`` first, kept as ``"label"``.
        degradation: ``"kspace"`` or ``"bicubic"`` (evaluation mode).
        slice_axis: the array axis to slice along (:func:`~monai_chpnet.data.volumes.read_volume`).
    """

    def __init__(
        self,
        keys: KeysCollection = "image",
        scale: int = 2,
        evaluate: bool = False,
        degradation: str = "kspace",
        slice_axis: int = 0,
    ) -> None:
        super().__init__(keys)
        if degradation not in SR_MODES:
            raise ValueError(f"degradation must be one of {SR_MODES}, got {degradation!r}.")
        self.scale, self.degradation = check_scale(whole(scale, "scale")), degradation
        self.evaluate = flag(evaluate, "evaluate")  # the command line's 'false' is a string
        self.slice_axis = whole(slice_axis, "slice_axis")

    def __call__(self, data: Mapping[Hashable, Any]) -> Dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            path = str(d[key])
            volume, geometry = read_volume(path, slice_axis=self.slice_axis)
            volume = check_magnitude_volume(volume, path)
            low = degrade_volume(volume, self.scale, self.degradation, path) if self.evaluate else volume
            out_geometry = geometry if self.evaluate else upsampled_geometry(geometry, self.scale)
            meta = {
                "filename_or_obj": path,
                "original_affine": _ras_affine(out_geometry),
                "spatial_shape": np.array(tuple(reversed(out_geometry.shape))),
            }
            info = {
                "scale": self.scale,
                "degradation": self.degradation if self.evaluate else None,
                "geometry": {
                    k: getattr(out_geometry, k) for k in ("spacing", "origin", "direction", "shape", "slice_axis")
                },
            }
            _put(meta, INPUT_META, info)
            d[key] = MetaTensor(torch.from_numpy(low)[None], meta=meta)
            if self.evaluate:
                d["label"] = torch.from_numpy(volume)[None]
        return d


class SRInferer(Inferer):
    """Super-resolve a whole low-resolution input with :func:`~.superres.super_resolve_slices`, ``batch_size``
    slices at a time: ``(1, slices, h, w)`` (or with a batch axis) -> ``(1, 1, slices, scale h, scale w)``."""

    def __init__(self, scale: int = 2, batch_size: int = 4) -> None:
        super().__init__()
        self.scale, self.batch_size = check_scale(scale), batch_size

    def __call__(self, inputs: torch.Tensor, network: Optional[nn.Module], *args: Any, **kwargs: Any) -> MetaTensor:
        data = inputs.as_tensor() if isinstance(inputs, MetaTensor) else inputs
        volume = data.detach().reshape(data.shape[-3:]).cpu().numpy()
        start = time.perf_counter()
        out = super_resolve_slices(volume, network, self.scale, self.batch_size, str(inputs.device))
        pred = MetaTensor(torch.from_numpy(out)[None, None])
        _put(pred.meta, "chpnet_output", {"network_seconds": time.perf_counter() - start})
        return pred


class SROutputsd(MapTransform):
    """``"pred"`` ``(1, 1, slices, H, W)`` -> ``(1, slices, H, W)``; the classical baselines of the input; the metrics
    of all against ``"label"`` when there is one; the :class:`~.sr_files.SuperResolutionResult` under
    ``"sr_result"`` and its report under ``"result"`` (what MONAI Label answers with)."""

    def __init__(self, keys: KeysCollection = "pred", image_key: str = "image", label_key: str = "label") -> None:
        super().__init__(keys)
        self.image_key, self.label_key = image_key, label_key

    def __call__(self, data: Mapping[Hashable, Any]) -> Dict[Hashable, Any]:
        d = dict(data)
        image = d[self.image_key]
        info = _get(image.meta, INPUT_META)
        low = torch.as_tensor(image).detach().cpu().numpy().reshape(image.shape[-3:])
        for key in self.key_iterator(d):
            pred = torch.as_tensor(d[key]).detach().cpu().numpy()
            sr = pred.reshape(pred.shape[-3:])
            reference = None
            if d.get(self.label_key) is not None:
                reference = torch.as_tensor(d[self.label_key]).detach().cpu().numpy().reshape(sr.shape)
            seconds = _get(d[key].meta, "chpnet_output")["network_seconds"] if hasattr(d[key], "meta") else 0.0
            result = score_sr(sr, low, reference, _geometry(info), info["scale"], info["degradation"],
                              str(image.meta["filename_or_obj"]), seconds, seconds)  # fmt: skip
            metrics = result.metrics
            d[key] = MetaTensor(torch.from_numpy(sr)[None], meta=dict(image.meta))
            d[SR_RESULT_KEY] = result
            d["result"] = {"scale": result.scale, "degradation": result.degradation, "metrics": metrics}
        return d


class SaveSROutputsd(SaveReconOutputsd):
    """Write :class:`SROutputsd`'s result with :func:`~.sr_files.write_sr_outputs` (all or none) and print what
    was written; a ``SaveImaged`` (MONAI Label's bundle task leaves it out) like :class:`~.pipeline.SaveReconOutputsd`,
    whose arguments it takes."""

    def __call__(self, data: Mapping[Hashable, Any], *args: Any, **kwargs: Any) -> Dict[Hashable, Any]:
        d = dict(data)
        result: SuperResolutionResult = d[SR_RESULT_KEY]
        paths = write_sr_outputs(result, self.output_dir)
        if self.verbose:
            for name, m in result.metrics.items():
                print(f"  {name:<15} PSNR {m['psnr']:6.2f} dB   SSIM {m['ssim'] or float('nan'):.4f}")
            print("  written:", ", ".join(str(p) for p in paths))
        return d
