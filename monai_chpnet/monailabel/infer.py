"""CHPNet reconstruction as a MONAI Label infer task: an image in, its reconstruction (an image, not a label) out.

:class:`ReconstructionInferTask` is a :class:`~monailabel.tasks.infer.basic_infer.BasicInferTask` of type
``InferType.OTHERS``. Its stages keep MONAI Label's shape (pre-transforms -> inferer -> post-transforms -> writer,
with MONAI Label's latencies and callbacks) but do no image processing of their own: everything between the file
and the reconstructed volume is :func:`monai_chpnet.inference.reconstruct_file`, the one path the bundle, the CLI
and the 3D Slicer module share (read with geometry, simulate the undersampled acquisition or take the image as
undersampled, normalise, run the student, de-normalise, score against the reference).

* pre-transform :class:`ParseReconRequestd`: checks the image exists and parses ``params``
  (:func:`~monai_chpnet.monailabel.params.parse_recon_params`; an unknown key is refused);
* inferer (:meth:`ReconstructionInferTask.run_inferer`): ``reconstruct_file`` with the student built by the
  bundle's own ``configs/inference.json`` (:func:`~monai_chpnet.inference.load_bundle_network`);
* post-transforms: none (the result is already in the input's units, on its grid);
* writer (:meth:`ReconstructionInferTask.writer`): the reconstruction with the input's spacing, origin and
  direction (:func:`~monai_chpnet.data.volumes.write_volume`), and a result JSON with the metrics (strict JSON:
  an undefined metric is ``null``) and, when the request asked for one (``"trust"``), the trust map beside the
  reconstruction: ``result["trust"]["image"]`` is the map as a gzipped NIfTI file on the same grid, base64-encoded
  (MONAI Label answers with one image, so the second one travels in the JSON; ``output=all`` returns both).

Client mistakes (unknown image, bad or unknown parameter, unreadable file) become ``fastapi.HTTPException`` 404 /
422 with a one-line message naming the file as the client named it; MONAI Label would otherwise answer any
exception with a bare 500. A file MONAI Label saved from an upload is deleted when it cannot be reconstructed
(MONAI Label deletes it only after a successful answer).
"""

from __future__ import annotations

import base64
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Union

from fastapi import HTTPException
from monailabel.interfaces.tasks.infer_v2 import InferType
from monailabel.tasks.infer.basic_infer import BasicInferTask, CallBackTypes
from torch import nn

from monai_chpnet.data.volumes import write_volume
from monai_chpnet.inference import (
    ReconstructionResult,
    TrustMap,
    default_bundle_dir,
    load_bundle_network,
    output_geometry,
    reconstruct_file,
    result_report,
)
from monai_chpnet.inference.loading import trust_map_for
from monai_chpnet.monailabel.params import RECON_DEFAULTS, InvalidRequest, ReconParams, parse_recon_params

__all__ = ["PARAMS_KEY", "ParseReconRequestd", "ReconstructionInferTask", "is_monailabel_upload"]

logger = logging.getLogger(__name__)

#: where :class:`ParseReconRequestd` leaves the parsed :class:`ReconParams` in the task's data dictionary
PARAMS_KEY = "recon_params"


def is_monailabel_upload(path: Union[str, os.PathLike]) -> bool:
    """Whether ``path`` is where MONAI Label's infer endpoint saved an uploaded file
    (``tempfile.NamedTemporaryFile(suffix=...).name``: ``tmp*`` in the temporary folder)."""
    p = Path(path)
    return p.parent == Path(tempfile.gettempdir()) and p.name.startswith("tmp")


def client_name(path: Union[str, os.PathLike]) -> str:
    """How the client knows ``path``: its file name (server folders are none of its business), or "the uploaded
    file" for MONAI Label's temporary copy of an upload."""
    p = Path(path)
    suffix = "".join(p.suffixes)
    return f"the uploaded file ({suffix or 'no suffix'})" if is_monailabel_upload(p) else p.name


def write_result(array: Any, geometry: Any, source: str, kind: str, suffix: str) -> Path:
    """``array`` with ``geometry`` in a temporary ``<stem>_<kind>_*<suffix>`` file (MONAI Label sends it to the
    client, then deletes it).

    Raises:
        HTTPException: 500 naming what could not be written (a full disk); nothing is left behind.
    """
    stem = Path(source).name.split(".")[0] or "volume"
    fd, name = tempfile.mkstemp(prefix=f"{stem}_{kind}_", suffix=suffix)
    os.close(fd)
    try:
        return write_volume(array, geometry, name)
    except OSError as err:  # MONAI Label deletes the file only after a successful response
        os.unlink(name)
        raise HTTPException(status_code=500, detail=f"cannot write the {kind} result: {err}") from None
    except BaseException:
        os.unlink(name)
        raise


def add_trust(report: Dict[str, Any], result: Any, geometry: Any, method: Optional[str], error: Optional[str]) -> None:
    """The trust map beside the result: ``report["trust"]`` with its method, seconds and the map as a base64
    gzipped NIfTI on ``geometry``; or the reason the map asked for is missing."""
    if result.trust is not None:
        image = _encoded_volume(result.trust, geometry)
        report["trust"] = {"method": result.trust_method, "seconds": round(result.trust_seconds, 3), "image": image}
    elif error:
        report["trust"] = {"method": method, "error": error}


def _encoded_volume(array: Any, geometry: Any) -> str:
    """``array`` with ``geometry`` as a gzipped NIfTI file, base64-encoded (a second image inside the JSON)."""
    fd, name = tempfile.mkstemp(prefix="trust_", suffix=".nii.gz")
    os.close(fd)
    try:
        write_volume(array, geometry, name)
        return base64.b64encode(Path(name).read_bytes()).decode("ascii")
    finally:
        os.unlink(name)


class ParseReconRequestd:
    """Pre-transform: check that the request's image exists and put its parsed parameters under ``PARAMS_KEY``.

    MONAI Label replaces an image id by the file's path, and by ``""`` when the datastore does not know the id.

    Args:
        known: keys of the task's own config, accepted besides the reconstruction's and MONAI Label's.
        parse: reads the parameters (:func:`~monai_chpnet.monailabel.params.parse_recon_params`, or the
            super-resolution task's :func:`~monai_chpnet.monailabel.params.parse_sr_params`).

    Raises:
        InvalidRequest: 404 for a missing image, 422 for a bad or unknown parameter.
    """

    def __init__(self, known: Sequence[str] = (), parse: Callable[..., Any] = parse_recon_params) -> None:
        self.known, self.parse = tuple(known), parse

    def __call__(self, data: Dict[str, Any]) -> Dict[str, Any]:
        image = data.get("image_path") or data.get("image")
        if not isinstance(image, str) or not image:
            raise InvalidRequest(
                "image not found: the image id is not in this app's datastore (GET /datastore/?output=all lists "
                "them) and no file was uploaded.",
                status_code=404,
            )
        if not os.path.exists(image):
            raise InvalidRequest(f"image not found: {Path(image).name}", status_code=404)
        data[PARAMS_KEY] = self.parse(data, self.known)
        return data


class ReconstructionInferTask(BasicInferTask):
    """Reconstruct an MR volume (NIfTI / NRRD / MHA, DICOM series folder, fastMRI single-coil ``.h5``) with the
    ``chpnet_mri_recon`` bundle's student; the result is an image with the input's shape and geometry.

    Request ``params`` (defaults in :data:`~monai_chpnet.monailabel.params.RECON_DEFAULTS`, shown by
    ``GET /info/``): ``acceleration``, ``center_fraction``, ``mask_type``, ``seed``, ``undersampled``,
    ``slice_axis``, ``result_extension`` -- see :func:`~monai_chpnet.monailabel.params.parse_recon_params`.

    Args:
        bundle_dir: the bundle folder; default :func:`monai_chpnet.inference.default_bundle_dir`
            (``$MONAI_CHPNET_BUNDLE`` or the checkout's ``bundles/chpnet_mri_recon``).
        description: shown by ``GET /info/``.
        config: overrides of the request defaults (e.g. ``{"acceleration": 8.0}``).
        preload: build the network on every device at start-up instead of on the first request.
    """

    #: the request defaults (``GET /info/`` shows them) and the pre-transform that reads a request
    DEFAULTS: Dict[str, Any] = RECON_DEFAULTS
    DESCRIPTION = "CHPNet MRI reconstruction: an undersampled acquisition in, the reconstructed image out"

    def __init__(
        self,
        bundle_dir: Optional[Union[str, os.PathLike]] = None,
        description: Optional[str] = None,
        config: Optional[Dict[str, Any]] = None,
        preload: bool = False,
    ) -> None:
        self.bundle_dir = Path(bundle_dir) if bundle_dir is not None else self.default_bundle()
        self._teachers: Dict[Tuple[str, str], nn.Module] = {}
        super().__init__(
            path=None,
            network=None,
            type=InferType.OTHERS,
            labels=None,
            dimension=3,
            description=description or self.DESCRIPTION,
            config={**self.DEFAULTS, **(config or {})},
            preload=preload,
        )

    @staticmethod
    def default_bundle() -> Path:
        """The bundle served when none is given."""
        return default_bundle_dir()

    def is_valid(self) -> bool:
        """Listed by ``GET /info/`` only while the bundle's inference config is there."""
        return (self.bundle_dir / "configs" / "inference.json").is_file()

    def __call__(
        self, request: Dict[str, Any], callbacks: Optional[Dict[CallBackTypes, Any]] = None
    ) -> Tuple[Optional[str], Dict[str, Any]]:
        """Run the task (:meth:`BasicInferTask.__call__`); a client's mistake becomes an ``HTTPException``."""
        try:
            return super().__call__(request, callbacks)
        except InvalidRequest as err:
            image = request.get("image")
            if isinstance(image, str) and is_monailabel_upload(image):  # MONAI Label deletes it only on success
                Path(image).unlink(missing_ok=True)
            logger.warning(f"rejected request ({err.status_code}): {err}")
            raise HTTPException(status_code=err.status_code, detail=str(err)) from None

    def pre_transforms(self, data: Optional[Dict[str, Any]] = None) -> Sequence[Callable]:
        return [ParseReconRequestd(known=tuple(self.config()))]

    def post_transforms(self, data: Optional[Dict[str, Any]] = None) -> Sequence[Callable]:
        return []

    def _get_network(self, device: str, data: Optional[Dict[str, Any]]) -> nn.Module:
        """The bundle's student on ``device``, built once per device by the bundle's own inference config."""
        network = self._networks.get(device)
        if network is None:
            logger.info(f"loading the student of {self.bundle_dir} on {device}")
            network = self._networks[device] = load_bundle_network(self.bundle_dir, device)
        return network

    def _trust_map(self, params: Any, device: str) -> Tuple[Optional[TrustMap], Optional[str]]:
        """The request's trust map (the bundle's teacher for its task, loaded once per device), or why it cannot be
        made, without the server's paths."""
        trust, error = trust_map_for(params.trust, self.bundle_dir, getattr(params, "scale", 1),
                                     getattr(params, "degradation", None), device, cache=self._teachers)  # fmt: skip
        return trust, error.replace(str(self.bundle_dir), "<bundle>") if error else None

    def run_inferer(self, data: Dict[str, Any], convert_to_batch: bool = True, device: str = "cuda") -> Dict[str, Any]:
        """``reconstruct_file`` on the request's image; the :class:`ReconstructionResult` goes to ``pred``.

        Raises:
            InvalidRequest: 422 when the file cannot be reconstructed (unreadable, truncated, 4-D, all zero,
                multi-coil), naming it as the client knows it.
        """
        network = self._get_network(device, data)
        params: ReconParams = data[PARAMS_KEY]
        path = data.get("image_path") or data["image"]
        trust, data["trust_error"] = self._trust_map(params, device)
        try:
            result = reconstruct_file(path, network, settings=params.settings(device=device), trust=trust)
        except (ValueError, OSError) as err:  # the readers' documented errors for a bad input file
            name = client_name(path)
            raise InvalidRequest(f"cannot reconstruct {name}: {str(err).replace(str(path), name)}") from None
        logger.info(result.summary())
        data[self.output_label_key] = result
        return data

    def writer(
        self, data: Dict[str, Any], extension: Optional[str] = None, dtype: Any = None
    ) -> Tuple[str, Dict[str, Any]]:
        """Write the reconstruction with the input's geometry to a temporary file (MONAI Label sends it to the
        client, then deletes it) and return it with the result JSON: realised acceleration, the parameters used,
        PSNR / SSIM / NMSE of the zero-filled input and of the reconstruction when a reference exists, warnings.

        Raises:
            HTTPException: 500 naming what could not be written (a full disk); nothing is left behind.
        """
        result: ReconstructionResult = data[self.output_label_key]
        params: ReconParams = data[PARAMS_KEY]
        path = write_result(result.reconstruction, output_geometry(result), result.source, "recon",
                             extension or params.result_extension)  # fmt: skip
        report = result_report(result)
        report.update(
            source=client_name(result.source),
            shape=list(result.reconstruction.shape),
            params=params.to_json(),
            seconds=round(result.seconds, 3),
        )
        add_trust(report, result, output_geometry(result), params.trust, data.get("trust_error"))
        return str(path), report
