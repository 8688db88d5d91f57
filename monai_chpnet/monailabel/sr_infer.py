"""CHPNet super-resolution as a MONAI Label infer task, with the scale and degradation chosen per request.

MONAI Label's stock ``BundleInferTask`` serves the ``chpnet_mri_sr`` bundle's default weights (x2, ``kspace``) as
they are. :class:`SuperResolutionInferTask` serves all of them: a request's ``params`` choose ``scale`` (2 / 4) and
``degradation`` (``kspace`` / ``bicubic``), which pick the bundle's weights (``models/model_x4_kspace.pt``, ...),
``evaluate`` (degrade a high-resolution image first and score against it), ``slice_axis``, ``result_extension``
and ``trust``. It is :class:`~monai_chpnet.monailabel.infer.ReconstructionInferTask` with another core call:
:func:`monai_chpnet.inference.super_resolve_file`; the answer is the upsampled image with the upsampled geometry
(or the input's, in evaluation mode) and a result JSON with the metrics and, on request, the trust map.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

from torch import nn

from monai_chpnet.atomic import json_safe
from monai_chpnet.inference.loading import default_sr_bundle_dir
from monai_chpnet.inference.sr_files import SuperResolutionResult, super_resolve_file
from monai_chpnet.inference.superres import load_sr_network, sr_weights_name
from monai_chpnet.monailabel.infer import (
    PARAMS_KEY,
    ParseReconRequestd,
    ReconstructionInferTask,
    add_trust,
    client_name,
    write_result,
)
from monai_chpnet.monailabel.params import SR_DEFAULTS, InvalidRequest, SRParams, parse_sr_params

__all__ = ["SuperResolutionInferTask"]

logger = logging.getLogger(__name__)


class SuperResolutionInferTask(ReconstructionInferTask):
    """Upsample an MR volume in-plane x2 / x4 with the ``chpnet_mri_sr`` bundle's student for the request's scale
    and degradation (see the module docstring; arguments as :class:`ReconstructionInferTask`, the bundle default
    being :func:`~monai_chpnet.inference.loading.default_sr_bundle_dir`)."""

    DEFAULTS = SR_DEFAULTS
    DESCRIPTION = "CHPNet MRI super-resolution: a low-resolution volume in, the x2 / x4 in-plane upsampled one out"

    @staticmethod
    def default_bundle() -> Path:
        return default_sr_bundle_dir()

    def pre_transforms(self, data: Optional[Dict[str, Any]] = None) -> Sequence[Callable]:
        return [ParseReconRequestd(known=tuple(self.config()), parse=parse_sr_params)]

    def _get_network(self, device: str, data: Optional[Dict[str, Any]]) -> nn.Module:
        """The student for the request's scale and degradation on ``device``, loaded once each."""
        params: SRParams = data[PARAMS_KEY]
        key = f"{device}/x{params.scale}/{params.degradation}"
        if key not in self._networks:
            weights = self.bundle_dir / "models" / sr_weights_name(params.scale, params.degradation)
            logger.info(f"loading {weights} on {device}")
            self._networks[key] = load_sr_network(weights, params.scale, params.degradation, map_location=device)
        return self._networks[key]

    def run_inferer(self, data: Dict[str, Any], convert_to_batch: bool = True, device: str = "cuda") -> Dict[str, Any]:
        """``super_resolve_file`` on the request's image; the result goes to ``pred``.

        Raises:
            InvalidRequest: 422 when the file cannot be super-resolved (unreadable, RGB, a size the evaluation
                cannot degrade), naming it as the client knows it.
        """
        params: SRParams = data[PARAMS_KEY]
        path = data.get("image_path") or data["image"]
        network = self._get_network(device, data)  # missing weights are the server's fault: a 500, not a 422
        trust, data["trust_error"] = self._trust_map(params, device)
        try:
            result = super_resolve_file(path, network, params.scale, params.evaluate, params.degradation,
                                        params.slice_axis, device=device, trust=trust)  # fmt: skip
        except (ValueError, OSError) as err:
            name = client_name(path)
            raise InvalidRequest(f"cannot super-resolve {name}: {str(err).replace(str(path), name)}") from None
        data[self.output_label_key] = result
        return data

    def writer(
        self, data: Dict[str, Any], extension: Optional[str] = None, dtype: Any = None
    ) -> Tuple[str, Dict[str, Any]]:
        """The upsampled volume with its geometry, and the result JSON: shape, the parameters used, metrics in
        evaluation mode, seconds, and the trust map when asked for."""
        result: SuperResolutionResult = data[self.output_label_key]
        params: SRParams = data[PARAMS_KEY]
        suffix = extension or params.result_extension
        path = write_result(result.super_resolved, result.geometry, result.source, "sr", suffix)
        report: Dict[str, Any] = {
            "source": client_name(result.source),
            "shape": list(result.super_resolved.shape),
            "params": params.to_json(),
            "metrics": result.metrics,
            "seconds": round(result.seconds, 3),
        }
        add_trust(report, result, result.geometry, params.trust, data.get("trust_error"))
        return os.fspath(path), json_safe(report)
