"""The reconstruction as MONAI components, for ``inference.json`` (model-zoo style) and MONAI Label's stock
``BundleInferTask``: pre-processing -> inferer -> post-processing, each a thin wrapper of this package's
functions, so the bundle, MONAI Label, the CLI and the Python API run the same code.

* :class:`LoadReconInputd` (pre-processing): a file path -> ``"image"``, a ``MetaTensor`` ``(1, slices, H, W)``
  (magnitude, or a fastMRI file's k-space) whose ``meta`` says how to read it and where it sits; ``"label"``,
  a fastMRI file's reference;
* :class:`KspaceInferer` (inferer): ``(1, 1, slices, H, W)`` (or ``(1, slices, H, W)``) and the network ->
  ``(1, 2, slices, h, w)``: reconstruction and zero-filled image, streamed slice batch by slice batch;
* :class:`ReconOutputsd` (post-processing): ``"pred"`` -> the reconstruction ``(1, slices, h, w)``,
  ``"zero_filled"``, the metrics against the reference as ``"result"`` (what MONAI Label answers with);
* :class:`SaveReconOutputsd` (post-processing, writer): NIfTI + figure + metrics JSON (a ``SaveImaged``, so that
  MONAI Label, which writes its own answer, leaves it out);
* :class:`ToImageLayoutd` (post-processing): ``"pred"`` in MONAI's ``(1, i, j, k)`` layout with its affine, which
  MONAI Label's ``Restored`` and writer expect.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Dict, Hashable, Mapping, Optional, Sequence, Union

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.inferers import Inferer
from monai.transforms import MapTransform, SaveImaged
from torch import nn

from monai_chpnet.data.volumes import Geometry
from monai_chpnet.inference.inputs import ReconInput, read_input
from monai_chpnet.inference.outputs import result_report, volume_geometry, write_outputs
from monai_chpnet.inference.settings import ReconSettings
from monai_chpnet.inference.results import ReconstructionResult, score
from monai_chpnet.inference.streaming import stream_slices

__all__ = ["KspaceInferer", "LoadReconInputd", "ReconOutputsd", "SaveReconOutputsd", "ToImageLayoutd", "batch_of_one"]

RESULT_KEY = "recon_result"  #: where :class:`ReconOutputsd` leaves the :class:`ReconstructionResult`
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def _ras_affine(geometry: Geometry) -> np.ndarray:
    """MONAI's affine (RAS, voxel ``(i, j, k)`` -> mm) of a SimpleITK geometry (LPS)."""
    affine = np.eye(4)
    affine[:3, :3] = np.asarray(geometry.direction, dtype=float).reshape(3, 3) @ np.diag(geometry.spacing)
    affine[:3, 3] = geometry.origin
    return _LPS_TO_RAS @ affine


INPUT_META = "chpnet_input"  #: ``meta`` entry of the loaded image: how to read it (JSON text, see below)
OUTPUT_META = "chpnet_output"  #: ``meta`` entry of the inferer's output: mask, acceleration, timings, warnings


def _put(meta: Dict[str, Any], key: str, values: Mapping[str, Any]) -> None:
    """Store ``values`` in ``meta`` as JSON text: MONAI's ``decollate_batch`` (which the bundle's evaluator runs
    before post-processing) splits list and array ``meta`` values along their first axis, but keeps text."""
    meta[key] = json.dumps(values)


def _get(meta: Mapping[str, Any], key: str) -> Dict[str, Any]:
    return json.loads(meta[key])


def _geometry(info: Mapping[str, Any]) -> Geometry:
    return Geometry(**{k: tuple(v) if isinstance(v, list) else v for k, v in info["geometry"].items()})


class LoadReconInputd(MapTransform):
    """Read the file at ``keys`` (one key, default ``"image"``) with :func:`~.inputs.read_input`.

    Writes ``image``: ``MetaTensor`` ``(1, slices, H, W)``, float32 magnitude or complex64 k-space, whose ``meta``
    holds ``filename_or_obj``, :data:`INPUT_META` (the input's kind and crop, whether it is the reference of a
    simulated acquisition, the output's geometry), and the output's ``original_affine`` and ``spatial_shape`` in
    MONAI's ``(i, j, k)`` order (what MONAI Label's ``Restored`` reads); and ``label``: a fastMRI file's reference
    ``(1, slices, h, w)``.
    """

    def __init__(self, keys: KeysCollection = "image", settings: ReconSettings = ReconSettings()) -> None:
        super().__init__(keys)
        self.settings = settings

    def __call__(self, data: Mapping[Hashable, Any]) -> Dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            source = read_input(d[key], self.settings)
            geometry = volume_geometry(source.geometry, source.output_shape)
            meta = {
                "filename_or_obj": source.source,
                "original_affine": _ras_affine(geometry),
                "spatial_shape": np.array(tuple(reversed(geometry.shape))),
            }
            info = {
                "kind": source.kind,
                "crop": list(source.crop_size) if source.crop_size else None,
                "is_reference": source.kind == "image" and not self.settings.undersampled,
                "has_geometry": source.geometry is not None,
                "geometry": {
                    k: getattr(geometry, k) for k in ("spacing", "origin", "direction", "shape", "slice_axis")
                },
            }
            _put(meta, INPUT_META, info)
            d[key] = MetaTensor(torch.from_numpy(source.data)[None], meta=meta)
            if source.reference is not None:
                d["label"] = torch.from_numpy(source.reference)[None]
        return d


class KspaceInferer(Inferer):
    """Reconstruct a whole input with :func:`~.streaming.stream_slices`, ``settings.batch_size`` slices at a time.

    Called as ``inferer(inputs, network)`` by MONAI's ``SupervisedEvaluator`` and MONAI Label's tasks, with
    ``inputs`` the ``image`` of :class:`LoadReconInputd` (with a batch axis of one); returns a ``MetaTensor``
    ``(1, 2, slices, h, w)`` (channel 0 the reconstruction, 1 the zero-filled image, in the input's units) whose
    ``meta`` holds :data:`OUTPUT_META`: the first slice's ``mask``, the realised ``acceleration``, ``warnings``,
    ``seconds`` and ``network_seconds``.
    """

    def __init__(self, settings: ReconSettings = ReconSettings()) -> None:
        super().__init__()
        self.settings = settings

    def __call__(self, inputs: torch.Tensor, network: Optional[nn.Module], *args: Any, **kwargs: Any) -> MetaTensor:
        start = time.perf_counter()
        meta = getattr(inputs, "meta", {})
        info = _get(meta, INPUT_META) if INPUT_META in meta else {"kind": "image", "crop": None}
        data = inputs.as_tensor() if isinstance(inputs, MetaTensor) else inputs
        data = data.detach().reshape(data.shape[-3:]).cpu().numpy()
        crop = tuple(info["crop"]) if info.get("crop") else None
        source = ReconInput(data, info["kind"], str(meta.get("filename_or_obj", "volume")), None, crop)
        out = stream_slices(source, network, self.settings.replace(device=str(inputs.device)))
        pred = MetaTensor(torch.from_numpy(np.stack([out.reconstruction, out.zero_filled]))[None])
        outputs = {
            "mask": out.mask.tolist(),
            "acceleration": out.acceleration,
            "warnings": out.warnings,
            "network_seconds": out.network_seconds,
            "seconds": time.perf_counter() - start,
        }
        _put(pred.meta, OUTPUT_META, outputs)
        return pred


class ReconOutputsd(MapTransform):
    """Split the inferer's ``"pred"`` ``(2, slices, h, w)`` into the reconstruction (``"pred"``, ``(1, slices, h,
    w)``) and ``"zero_filled"``, score both against the reference (``"label"``, or the image when it is one), and
    put the :class:`ReconstructionResult` under ``"recon_result"`` and its report under ``"result"``."""

    def __init__(self, keys: KeysCollection = "pred", image_key: str = "image", label_key: str = "label") -> None:
        super().__init__(keys)
        self.image_key, self.label_key = image_key, label_key

    def __call__(self, data: Mapping[Hashable, Any]) -> Dict[Hashable, Any]:
        d = dict(data)
        image = d[self.image_key]
        info = _get(image.meta, INPUT_META)
        for key in self.key_iterator(d):
            pred = d[key]
            outputs = _get(pred.meta, OUTPUT_META)
            recon, zero_filled = (x.detach().cpu().numpy() for x in torch.as_tensor(pred)[:2])
            reference = None
            if d.get(self.label_key) is not None:
                reference = torch.as_tensor(d[self.label_key]).detach().cpu().numpy().reshape(recon.shape)
            elif info["is_reference"]:
                reference = torch.as_tensor(image).detach().cpu().numpy().reshape(recon.shape)
            result = ReconstructionResult(
                recon,
                zero_filled,
                reference,
                np.asarray(outputs["mask"], dtype=np.float32),
                float(outputs["acceleration"]),
                _geometry(info) if info["has_geometry"] else None,
                score(reference, recon, zero_filled),
                str(image.meta["filename_or_obj"]),
                float(outputs["seconds"]),
                float(outputs["network_seconds"]),
                list(outputs["warnings"]),
            )
            d[key] = MetaTensor(torch.from_numpy(recon)[None], meta=dict(image.meta))
            d["zero_filled"] = MetaTensor(torch.from_numpy(zero_filled)[None], meta=dict(image.meta))
            d[RESULT_KEY], d["result"] = result, {**result_report(result), "shape": list(recon.shape)}
        return d


class SaveReconOutputsd(SaveImaged):
    """Write the :class:`ReconstructionResult` of :class:`ReconOutputsd` with :func:`~.outputs.write_outputs`
    (reconstruction and zero-filled NIfTI with the input's geometry, titled figure, metrics JSON; all or none) to
    ``output_dir`` and print its summary. A ``SaveImaged`` only so that MONAI Label's bundle task, which filters
    ``SaveImaged`` out of a bundle's post-processing and writes its own answer, does not write it."""

    def __init__(self, output_dir: Union[str, os.PathLike], keys: KeysCollection = "pred", verbose: bool = True):
        MapTransform.__init__(self, keys)
        self.output_dir, self.verbose = output_dir, verbose

    def __call__(self, data: Mapping[Hashable, Any], *args: Any, **kwargs: Any) -> Dict[Hashable, Any]:
        d = dict(data)
        result: ReconstructionResult = d[RESULT_KEY]
        paths = write_outputs(result, self.output_dir)
        if self.verbose:
            print(result.summary())
            print("  written:", ", ".join(str(p) for p in paths.values()))
        return d


class ToImageLayoutd(MapTransform):
    """``keys`` ``(1, slices, h, w)`` (slice axis first, as reconstructed) -> MONAI's ``(1, i, j, k)`` layout with the
    output's affine, the layout MONAI Label's ``Restored`` and writer take (they transpose it back for ITK)."""

    def __init__(self, keys: KeysCollection = "pred", image_key: str = "image") -> None:
        super().__init__(keys)
        self.image_key = image_key

    def __call__(self, data: Mapping[Hashable, Any]) -> Dict[Hashable, Any]:
        d = dict(data)
        meta = d[self.image_key].meta
        geometry = _geometry(_get(meta, INPUT_META))
        affine = torch.as_tensor(_ras_affine(geometry))
        for key in self.key_iterator(d):
            x = torch.as_tensor(d[key])[0]
            array = torch.movedim(x, 0, geometry.slice_axis).permute(2, 1, 0)  # (k, j, i) -> (i, j, k)
            d[key] = MetaTensor(array[None], affine=affine, meta={k: v for k, v in meta.items() if k != "affine"})
        return d


def batch_of_one(items: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    """``collate_fn`` of the bundle's loader: one input per batch, its tensors given a batch axis, its ``meta`` kept
    as it is (MONAI's default collation cannot stack ``None`` or nested settings)."""
    if len(items) != 1:
        raise ValueError(f"the reconstruction loader takes one input per batch, got {len(items)}.")
    return {k: v[None] if isinstance(v, torch.Tensor) else v for k, v in items[0].items()}
