"""The reconstruction request, and the one array-level call into ``monai_chpnet.inference``.

:func:`reconstruct_arrays` is shared by the in-process mode (called from the logic) and the background worker
(called in a separate Python process), so both give identical results. Pre- and post-processing are
``monai_chpnet.inference``'s own (:func:`reconstruct_volume` for image volumes, :func:`reconstruct_file` for fastMRI
k-space); this module only re-orders axes and compares with a user-chosen reference.

NumPy only at import time: ``monai_chpnet`` (torch, MONAI) is imported inside the functions.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import numpy as np

from .axes import SLICE_AXES, from_slices, slice_axis_index, to_slices
from .errors import ParameterError, ShapeMismatchError, UnsupportedVolumeError

__all__ = [
    "ACCELERATION_RANGE",
    "TRUST_METHODS",
    "MASK_TYPES",
    "Progress",
    "ReconstructionRequest",
    "ReconstructionArrays",
    "load_network",
    "reconstruct_arrays",
    "metrics_lines",
]

#: Accelerations the GUI and the logic accept (fastMRI uses 4 and 8).
ACCELERATION_RANGE: Tuple[float, float] = (1.0, 16.0)
#: Column masks of ``monai_chpnet.transforms``: fastMRI knee (random) and brain (equispaced) conventions.
MASK_TYPES: Tuple[str, str] = ("random", "equispaced")

#: trust maps of ``monai_chpnet.inference.trust`` (``""``: none); the teacher's is the best calibrated
TRUST_METHODS: Tuple[str, str, str] = ("teacher", "tta", "correction")

Progress = Callable[[int, int], None]  # (slices done, slices total)
#: how the panel names a setting, and its rule in the panel's words (the rule itself is ReconSettings')
_PANEL_WORDS = {
    "mask_type": ("mask type", f"one of {MASK_TYPES}"),
    "seed": ("seed", "a non-negative integer below 2**32"),
    "batch_size": ("batch size", "a positive integer"),
    "threads": ("threads", "a non-negative integer (0: torch's default)"),
}
Metrics = Dict[str, Dict[str, Optional[float]]]


@dataclass(frozen=True)
class ReconstructionRequest:
    """What to reconstruct and how; :meth:`validated` checks every field.

    Attributes:
        acceleration: undersampling factor of the simulated acquisition (``simulate``) or of the acquisition the
            already-undersampled input came from, in :data:`ACCELERATION_RANGE`; the centre fraction is fastMRI's
            ``0.32 / acceleration``.
        simulate: ``True``: the input is fully sampled; undersample it retrospectively (one column mask for the
            whole volume, from ``seed``) and reconstruct. ``False``: the input is already undersampled: magnitude
            images acquired with the ``acceleration`` / ``mask_type`` / ``seed`` mask (data consistency keeps
            their own k-space on those columns), or a fastMRI file's k-space as acquired.
        mask_type: ``"random"`` or ``"equispaced"``.
        seed: mask seed.
        slice_axis: ``"K"``, ``"J"`` or ``"I"``: the voxel axis the 2-D network slices along.
        bundle_dir: the ``chpnet_mri_recon`` MONAI bundle; ``None``: ``monai_chpnet.inference.default_bundle_dir()``.
        device: torch device, ``"cpu"`` or ``"cuda"`` / ``"cuda:N"``.
        batch_size: slices per forward pass.
        threads: torch CPU threads in the background process (``0``: torch's default).
        trust: also compute this trust map (one of :data:`TRUST_METHODS`; ``""``: none). ``"teacher"`` uses the
            bundle's ``models/teacher.pt``.
    """

    acceleration: float = 4.0
    simulate: bool = True
    mask_type: str = "random"
    seed: int = 0
    slice_axis: str = "K"
    bundle_dir: Optional[str] = None
    device: str = "cpu"
    batch_size: int = 4
    threads: int = 0
    trust: str = ""

    def validated(self) -> "ReconstructionRequest":
        """This request with ``slice_axis`` normalised to ``"K"``/``"J"``/``"I"``, checked: the GUI's own ranges
        (the acceleration slider, the slice-axis letters, the device choices, the bundle folder) here, every
        reconstruction setting by ``monai_chpnet``'s one settings type (:meth:`settings`).

        Raises:
            ParameterError: naming the first field out of range, as the panel calls it.
        """
        low, high = ACCELERATION_RANGE
        acc = self.acceleration
        if (
            isinstance(acc, bool)
            or not isinstance(acc, (int, float))
            or not math.isfinite(acc)
            or not low <= acc <= high
        ):
            raise ParameterError(f"acceleration must be a number in [{low:g}, {high:g}], got {acc!r}.")
        try:
            axis = SLICE_AXES[slice_axis_index(self.slice_axis)]
        except ValueError as err:
            raise ParameterError(str(err)) from None
        device = str(self.device)
        if device != "cpu" and not device.startswith("cuda"):
            raise ParameterError(f"device must be 'cpu' or 'cuda[:N]', got {device!r}.")
        if self.bundle_dir is not None and not os.path.isdir(self.bundle_dir):
            raise ParameterError(f"bundle folder {self.bundle_dir} does not exist.")
        if self.trust not in ("", *TRUST_METHODS):
            raise ParameterError(f"trust map must be one of {TRUST_METHODS} or '' (none), got {self.trust!r}.")
        request = ReconstructionRequest(
            **{**asdict(self), "slice_axis": axis, "acceleration": float(acc), "device": device}
        )
        request.settings()
        return request

    def settings(self) -> Any:
        """The ``monai_chpnet.inference.ReconSettings`` of this request (the one type every front end checks its
        settings with).

        Raises:
            ParameterError: a setting it refuses, named as the panel names it.
        """
        from monai_chpnet.inference import ReconSettings, SettingsError

        try:
            return ReconSettings(
                acceleration=self.acceleration,
                undersampled=self.undersampled,
                mask_type=self.mask_type,
                seed=self.seed,
                slice_axis=slice_axis_index(self.slice_axis),
                batch_size=self.batch_size,
                device=str(self.device),
                threads=self.threads,
            )
        except (SettingsError, ValueError) as err:
            key = getattr(err, "key", "")
            if key in _PANEL_WORDS:
                name, rule = _PANEL_WORDS[key]
                raise ParameterError(f"{name} must be {rule}, got {err.value!r}.") from None
            raise ParameterError(err.describe() if isinstance(err, SettingsError) else str(err)) from None

    @property
    def model_acceleration(self) -> float:
        """The ``acceleration`` argument of ``monai_chpnet.inference``: the simulated acquisition's or, for an
        already-undersampled input (``simulate=False``), the acquisition's, whose mask data consistency needs."""
        return float(self.acceleration)

    @property
    def undersampled(self) -> bool:
        """The ``undersampled`` argument of ``monai_chpnet.inference``: the input is already undersampled."""
        return not self.simulate

    def as_dict(self) -> Dict[str, Any]:
        """JSON-able form (the background process receives it as one argument)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "ReconstructionRequest":
        """Inverse of :meth:`as_dict`; unknown keys are an error."""
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise ParameterError(f"unknown reconstruction parameters {sorted(unknown)}.")
        return cls(**values).validated()


@dataclass
class ReconstructionArrays:
    """A reconstruction on the input's voxel grid.

    Attributes:
        reconstruction: float32 ``(K, J, I)``, the network's output in the input's intensity units.
        zero_filled: float32 ``(K, J, I)``: ``|F^-1 y|``, the baseline the network starts from.
        metrics: ``{"zero_filled": {"psnr", "ssim", "nmse"}, "reconstruction": {...}}`` against the reference
            (the user's reference volume, else the fully-sampled input or the fastMRI file's target); ``{}``
            without one. SSIM is ``None`` for slices smaller than its 7 x 7 window.
        acceleration: realised undersampling factor, ``W / sampled columns`` of the mask used (for an already
            undersampled input, its acquisition's mask).
        seconds: wall time of the reconstruction (network loading excluded).
        ijk_to_ras: ``(4, 4)`` grid of the files the arrays were read from (background mode), checked against
            the input's; ``None`` in process.
        trust: float32 ``(K, J, I)`` trust map in ``[0, 1]`` (1: least trusted), or ``None``.
        trust_method: which map it is; trust_error: why the map asked for is missing (the teacher's weights could
            not be loaded), else ``None``.
    """

    reconstruction: np.ndarray
    zero_filled: np.ndarray
    metrics: Metrics = field(default_factory=dict)
    acceleration: float = 1.0
    seconds: float = 0.0
    ijk_to_ras: Optional[np.ndarray] = None
    trust: Optional[np.ndarray] = None
    trust_method: str = ""
    trust_error: Optional[str] = None


_NETWORKS: Dict[Tuple[str, str], Any] = {}
_TEACHERS: Dict[Tuple[str, str], Any] = {}


def load_network(bundle_dir: Optional[str] = None, device: str = "cpu") -> Any:
    """The bundle's student (``monai_chpnet.inference.load_bundle_network``), loaded once per (bundle, device)."""
    from monai_chpnet.inference import default_bundle_dir, load_bundle_network

    root = os.path.realpath(bundle_dir) if bundle_dir else str(default_bundle_dir())
    key = (root, str(device))
    if key not in _NETWORKS:
        _NETWORKS[key] = load_bundle_network(root, device)
    return _NETWORKS[key]


def trust_map(request: "ReconstructionRequest") -> Tuple[Any, Optional[str]]:
    """``(monai_chpnet.inference.trust.TrustMap or None, error or None)`` for ``request.trust``
    (``monai_chpnet.inference.loading.trust_map_for``): a teacher whose weights cannot be loaded is an error that
    leaves the reconstruction to go on without the map."""
    from monai_chpnet.inference.loading import trust_map_for

    return trust_map_for(request.trust or None, request.bundle_dir, device=request.device, cache=_TEACHERS)


def reconstruct_arrays(
    volume: np.ndarray,
    request: ReconstructionRequest,
    reference: Optional[np.ndarray] = None,
    fastmri_file: Optional[str] = None,
    progress: Optional[Progress] = None,
    network: Any = None,
) -> ReconstructionArrays:
    """Reconstruct a ``(K, J, I)`` volume slice by slice along ``request.slice_axis``.

    Args:
        volume: float ``(K, J, I)`` voxels (the input node's). With ``fastmri_file`` it is the image loaded from
            that file (see :mod:`.fastmri`) and only fixes the expected grid: the file's own k-space is used.
        request: validated parameters.
        reference: optional ``(K, J, I)`` fully-sampled reference on the same grid; metrics are computed against
            it instead of the default reference.
        fastmri_file: a fastMRI single-coil ``.h5`` the volume was loaded from.
        progress: ``callback(done, total)`` per batch of slices.
        network: a loaded network; default: the bundle's (:func:`load_network`).

    Raises:
        ShapeMismatchError: ``reference`` (or the fastMRI file's image) is not on the volume's grid.
        UnsupportedVolumeError: fewer than 2 voxels across a slice, or a fastMRI file sliced along J or I.
        ValueError / OSError: from ``monai_chpnet.inference`` (e.g. an all-zero volume, an unreadable file).
    """
    request = request.validated()
    volume = np.asarray(volume, dtype=np.float32)
    if reference is not None and np.shape(reference) != volume.shape:
        raise ShapeMismatchError(
            f"reference of shape {np.shape(reference)} does not match the volume's {volume.shape}."
        )
    stack = to_slices(volume, request.slice_axis)
    if min(stack.shape[1:]) < 2:
        raise UnsupportedVolumeError(
            f"slices along {request.slice_axis} of a {volume.shape} (K, J, I) volume are {stack.shape[1:]}: "
            "a slice needs at least 2 x 2 voxels; choose another slice axis."
        )
    network = network if network is not None else load_network(request.bundle_dir, request.device)
    trust, trust_error = trust_map(request)
    start = time.perf_counter()
    if fastmri_file is not None:
        result = _reconstruct_fastmri(fastmri_file, stack.shape, request, network, progress, trust)
    else:
        from monai_chpnet.inference import reconstruct_volume

        result = reconstruct_volume(
            stack, network, progress=progress, source="volume", settings=request.settings(), trust=trust
        )
    metrics: Metrics = result.metrics
    if reference is not None:
        candidates = {"zero_filled": result.zero_filled, "reconstruction": result.reconstruction}
        from monai_chpnet.inference import reference_metrics

        metrics = reference_metrics(to_slices(np.asarray(reference, np.float32), request.slice_axis), candidates)
    return ReconstructionArrays(
        reconstruction=from_slices(result.reconstruction, request.slice_axis),
        zero_filled=from_slices(result.zero_filled, request.slice_axis),
        metrics=metrics,
        acceleration=float(result.acceleration),
        seconds=time.perf_counter() - start,
        trust=from_slices(result.trust, request.slice_axis) if result.trust is not None else None,
        trust_method=result.trust_method or "",
        trust_error=trust_error,
    )


def _reconstruct_fastmri(
    path: str,
    shape: Tuple[int, ...],
    request: ReconstructionRequest,
    network: Any,
    progress: Optional[Progress],
    trust: Any = None,
) -> Any:
    """``reconstruct_file`` on a fastMRI file, checked against the grid of the node loaded from it."""
    from monai_chpnet.inference import reconstruct_file

    if request.slice_axis != "K":
        raise UnsupportedVolumeError(
            f"{path} is fastMRI k-space, reconstructed slice by slice along its own slice axis: choose slice axis K."
        )
    result = reconstruct_file(path, network, progress=progress, settings=request.settings(), trust=trust)
    if result.reconstruction.shape != tuple(shape):
        raise ShapeMismatchError(
            f"{path} reconstructs to {result.reconstruction.shape} (slices, H, W) but the volume loaded from it now "
            f"has {tuple(shape)}; load the file again."
        )
    return result


def metrics_lines(metrics: Metrics) -> List[str]:
    """One human-readable line per method: ``zero-filled     PSNR 25.03 dB  SSIM 0.6098  NMSE 0.02171``."""
    lines = []
    for name, m in metrics.items():
        ssim_text = "n/a" if m.get("ssim") is None else f"{m['ssim']:.4f}"
        lines.append(f"{name.replace('_', '-'):<15} PSNR {m['psnr']:6.2f} dB   SSIM {ssim_text}   NMSE {m['nmse']:.5f}")
    return lines
