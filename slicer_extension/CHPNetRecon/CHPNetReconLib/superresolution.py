"""The super-resolution mode: a low-resolution volume node in, its in-plane upsampled node beside it.

:class:`SuperResolutionRequest` is checked once; :func:`super_resolve_arrays` is the one array-level call into
``monai_chpnet.inference`` (:func:`~monai_chpnet.inference.super_resolve_slices` with the ``chpnet_mri_sr``
bundle's student for the scale and degradation); :func:`upsampled_ijk_to_ras` gives the output node's grid (the
in-plane columns of IJK-to-RAS divided by the scale, the origin moved so the new voxels tile the old ones, as
``monai_chpnet.inference.upsampled_geometry`` does for files); :meth:`SuperResolutionLogic.super_resolve` writes the
result into a new node with that grid and the input's parent transform.

NumPy only at import time; ``monai_chpnet`` (torch) and MRML inside the functions that need them.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from typing import Any, Dict, Optional, Tuple

import numpy as np

from .axes import SLICE_AXES, from_slices, slice_axis_index, to_slices
from .errors import ParameterError, UnsupportedVolumeError

__all__ = [
    "SR_DEGRADATIONS",
    "SR_SCALES",
    "SuperResolutionRequest",
    "SuperResolutionLogic",
    "super_resolve_arrays",
    "upsampled_ijk_to_ras",
]

SR_SCALES: Tuple[int, int] = (2, 4)
SR_DEGRADATIONS: Tuple[str, str] = ("kspace", "bicubic")


@dataclass(frozen=True)
class SuperResolutionRequest:
    """What to upsample and how; :meth:`validated` checks every field.

    Attributes:
        scale: 2 or 4, in-plane.
        degradation: how the low-resolution volume was made: ``"kspace"`` (a lower acquisition matrix) or
            ``"bicubic"`` (a downscaled image); picks the weights trained for it.
        slice_axis: ``"K"``, ``"J"`` or ``"I"``: the voxel axis kept; the other two are upsampled.
        bundle_dir: the ``chpnet_mri_sr`` bundle; ``None``: the one beside the ``chpnet_mri_recon`` bundle.
        device: ``"cpu"`` or ``"cuda[:N]"``.
        batch_size: slices per forward pass.
    """

    scale: int = 2
    degradation: str = "kspace"
    slice_axis: str = "K"
    bundle_dir: Optional[str] = None
    device: str = "cpu"
    batch_size: int = 4

    def validated(self) -> "SuperResolutionRequest":
        """This request with ``slice_axis`` as ``"K"``/``"J"``/``"I"``, checked.

        Raises:
            ParameterError: naming the first field out of range, as the panel calls it.
        """
        if isinstance(self.scale, bool) or self.scale not in SR_SCALES:
            raise ParameterError(f"scale must be one of {SR_SCALES}, got {self.scale!r}.")
        if self.degradation not in SR_DEGRADATIONS:
            raise ParameterError(f"degradation must be one of {SR_DEGRADATIONS}, got {self.degradation!r}.")
        try:
            axis = SLICE_AXES[slice_axis_index(self.slice_axis)]
        except ValueError as err:
            raise ParameterError(str(err)) from None
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ParameterError(f"batch size must be a positive integer, got {self.batch_size!r}.")
        device = str(self.device)
        if device != "cpu" and not device.startswith("cuda"):
            raise ParameterError(f"device must be 'cpu' or 'cuda[:N]', got {device!r}.")
        if self.bundle_dir is not None and not os.path.isdir(self.bundle_dir):
            raise ParameterError(f"bundle folder {self.bundle_dir} does not exist.")
        return SuperResolutionRequest(
            **{**asdict(self), "slice_axis": axis, "scale": int(self.scale), "device": device}
        )

    def weights(self) -> str:
        """The weights file of this scale and degradation in the bundle."""
        from monai_chpnet.inference import sr_weights_name
        from monai_chpnet.inference.loading import default_sr_bundle_dir

        bundle = self.bundle_dir or str(default_sr_bundle_dir())
        return os.path.join(bundle, "models", sr_weights_name(self.scale, self.degradation))


_NETWORKS: Dict[Tuple[str, str], Any] = {}


def load_sr_network(request: SuperResolutionRequest) -> Any:
    """The bundle's student for ``request``'s scale and degradation, loaded once per (weights, device)."""
    from monai_chpnet.inference import load_sr_network as load

    key = (request.weights(), request.device)
    if key not in _NETWORKS:
        _NETWORKS[key] = load(request.weights(), request.scale, request.degradation, map_location=request.device)
    return _NETWORKS[key]


def super_resolve_arrays(volume: np.ndarray, request: SuperResolutionRequest, network: Any = None) -> np.ndarray:
    """Upsample a ``(K, J, I)`` volume in the two axes other than ``request.slice_axis``.

    Raises:
        UnsupportedVolumeError: slices smaller than 4 x 4 voxels.
        ValueError / OSError: from ``monai_chpnet.inference`` (missing or wrong weights, a non-magnitude volume).
    """
    from monai_chpnet.inference import check_magnitude_volume, super_resolve_slices

    request = request.validated()
    stack = to_slices(np.asarray(volume, dtype=np.float32), request.slice_axis)
    if min(stack.shape[1:]) < 4:
        raise UnsupportedVolumeError(
            f"slices along {request.slice_axis} of a {np.shape(volume)} (K, J, I) volume are {stack.shape[1:]}: "
            "super-resolution needs at least 4 x 4 voxels; choose another slice axis."
        )
    stack = check_magnitude_volume(stack, "input volume")
    network = network if network is not None else load_sr_network(request)
    out = super_resolve_slices(stack, network, request.scale, request.batch_size, request.device)
    return from_slices(out, request.slice_axis)


def upsampled_ijk_to_ras(matrix: np.ndarray, scale: int, slice_axis: str) -> np.ndarray:
    """IJK-to-RAS ``(4, 4)`` of the grid upsampled ``scale`` times along the two IJK axes other than ``slice_axis``."""
    out = np.array(matrix, dtype=np.float64, copy=True)
    kept = 2 - slice_axis_index(slice_axis)  # the (K, J, I) array axis -> its IJK column
    for column in range(3):
        if column != kept:
            out[:3, 3] += out[:3, column] * (1.0 / scale - 1.0) / 2.0
            out[:3, column] /= scale
    return out


class SuperResolutionLogic:
    """Upsample volume nodes of ``scene`` (``None``: ``slicer.mrmlScene``) in this process."""

    def __init__(self, scene: Any = None) -> None:
        self._scene = scene

    def super_resolve(self, input_node: Any, request: SuperResolutionRequest, network: Any = None) -> Any:
        """A new scalar volume ``"<input> CHPNet x<scale>"`` beside ``input_node``: its upsampled voxels on the
        upsampled grid, under the input's parent transform. Returns the node.

        Raises:
            ParameterError, InputVolumeError, UnsupportedVolumeError: before any work.
        """
        import slicer

        from .volumes import ijk_to_ras, voxel_array

        scene = self._scene if self._scene is not None else slicer.mrmlScene
        request = request.validated()
        volume = voxel_array(input_node)
        start = time.perf_counter()
        upsampled = super_resolve_arrays(volume, request, network)
        name = scene.GenerateUniqueName(f"{input_node.GetName()} CHPNet x{request.scale}")
        node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name)
        slicer.util.updateVolumeFromArray(node, np.ascontiguousarray(upsampled, dtype=np.float32))
        grid = upsampled_ijk_to_ras(ijk_to_ras(input_node), request.scale, request.slice_axis)
        node.SetIJKToRASMatrix(slicer.util.vtkMatrixFromArray(grid))
        node.SetAndObserveTransformNodeID(input_node.GetTransformNodeID())
        node.CreateDefaultDisplayNodes()
        node.SetAttribute("CHPNet.seconds", f"{time.perf_counter() - start:.3f}")
        return node
