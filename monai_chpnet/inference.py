"""The one reconstruction path: an image volume or fastMRI k-space in, a reconstruction (+ metrics, files) out.

The bundle's ``inference.json``, the 3D Slicer module and the MONAI Label task all call this module; none of
them re-implements pre- or post-processing. Pre-processing is the training pipeline's own transforms
(simulated or acquired undersampling -> scale normalisation -> 2-channel zero-filled input), post-processing is
the engines' :func:`~monai_chpnet.engines.match_target` and de-normalisation, so a network sees at inference
exactly what it saw in training.

Typical use::

    net = load_network("bundles/chpnet_mri_recon/models/model.pt", preset="small")
    result = reconstruct_file("brain.nii.gz", net, acceleration=4)      # simulated 4x acquisition
    paths = write_outputs(result, "out/")                                # NIfTI + PNG figure + metrics JSON

``network=None`` gives the zero-filled reconstruction (the baseline).
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Union

import numpy as np
import torch
from monai.transforms import Compose
from torch import nn

from monai_chpnet.data.fastmri import TARGET_KEY, FastMRISliceDataset
from monai_chpnet.data.volumes import VOLUME_SUFFIXES, Geometry, read_volume, write_volume
from monai_chpnet.engines.prepare import ReconPrepareBatch, denormalize_batch, match_target
from monai_chpnet.figures import save_png_row, to_uint8
from monai_chpnet.keys import ReconKeys
from monai_chpnet.kspace import fft2c
from monai_chpnet.metrics import nmse, psnr, ssim
from monai_chpnet.transforms.masks import seed_from_name
from monai_chpnet.transforms.recipes import eval_transforms, kspace_transforms

__all__ = [
    "ReconstructionResult",
    "load_network",
    "BUNDLE_ENV",
    "default_bundle_dir",
    "load_bundle_network",
    "simulation_transform",
    "kspace_transform",
    "reconstruct_samples",
    "reconstruct_volume",
    "reconstruct_fastmri",
    "reconstruct_file",
    "reference_metrics",
    "output_geometry",
    "write_outputs",
    "check_output_dir",
    "check_device",
    "ACQUISITIONS",
    "evaluate_files",
    "metrics_table",
    "write_evaluation",
    "metadata_eval_metrics",
    "update_metadata_metrics",
    "FileReconstructor",
    "install_error_hook",
]

logger = logging.getLogger(__name__)
NEGATIVE_TOLERANCE = 0.01  # negative values of a magnitude volume down to this fraction of its maximum are clipped
Progress = Callable[[int, int], None]  # (slices done, slices total)


@dataclass
class ReconstructionResult:
    """A reconstructed volume and what it was made from, in the input's units.

    Attributes:
        reconstruction: float32 ``(slices, h, w)``.
        zero_filled: float32 ``(slices, h, w)``: ``|F^-1 y|``, the baseline.
        reference: float32 ``(slices, h, w)`` fully-sampled reference, or ``None`` (prospective data).
        mask: float32 ``(W,)`` column mask of the first slice (all slices share it when simulated).
        acceleration: realised ``W / sampled columns``.
        geometry: where the volume sits in patient space (image inputs), else ``None``.
        metrics: ``{"zero_filled": {...}, "reconstruction": {...}}`` with PSNR/SSIM/NMSE when a reference
            exists (fastMRI definitions, ``data_range`` = reference volume max), else ``{}``.
        source: the input's path (or a name).
        seconds: wall time of the reconstruction.
    """

    reconstruction: np.ndarray
    zero_filled: np.ndarray
    reference: Optional[np.ndarray]
    mask: np.ndarray
    acceleration: float
    geometry: Optional[Geometry] = None
    metrics: Dict[str, Dict[str, float]] = field(default_factory=dict)
    source: str = ""
    seconds: float = 0.0

    def summary(self) -> str:
        """One line per method: PSNR / SSIM / NMSE (or just the timing without a reference)."""
        lines = [
            f"{self.source}: {self.reconstruction.shape[0]} slices, {self.acceleration:.2f}x, {self.seconds:.1f} s"
        ]
        for name, m in self.metrics.items():
            ssim_text = "n/a" if m["ssim"] is None else f"{m['ssim']:.4f}"
            lines.append(f"  {name:<15} PSNR {m['psnr']:6.2f} dB   SSIM {ssim_text}   NMSE {m['nmse']:.5f}")
        return "\n".join(lines)


def load_network(
    weights: Union[str, os.PathLike, Mapping[str, torch.Tensor]],
    network: Optional[nn.Module] = None,
    preset: str = "small",
    map_location: Any = "cpu",
) -> nn.Module:
    """Build the student (``preset``, 2-channel k-space mode) or use ``network``, and load ``weights`` strictly.

    ``weights`` is a state dict or a ``.pt`` file holding one (optionally under ``"student"``/``"model"``, as
    training checkpoints store it).

    Raises:
        FileNotFoundError: the weights file does not exist.
        ValueError: the file is not a PyTorch checkpoint, or its weights belong to another architecture.
    """
    from monai_chpnet.engines.handlers import describe_state_mismatch
    from monai_chpnet.networks.student import student_from_preset

    net = network if network is not None else student_from_preset(preset, in_channels=2)
    source = "state dict"
    if not isinstance(weights, Mapping):
        path = Path(weights)
        source = str(path)
        if not path.is_file():
            raise FileNotFoundError(f"network weights not found: {path}")
        if isinstance(map_location, (str, torch.device)):
            check_device(map_location)
        try:
            weights = torch.load(path, map_location=map_location, weights_only=True)
        except Exception as e:  # pickle / zip errors: not a checkpoint
            raise ValueError(f"{path} is not a PyTorch checkpoint ({type(e).__name__}: {e}).") from None
    for key in ("student", "model", "network", "state_dict"):
        if key in weights and isinstance(weights[key], Mapping):
            weights = weights[key]
            break
    mismatch = describe_state_mismatch(net, weights)
    if mismatch:
        raise ValueError(f"weights in {source} do not fit {type(net).__name__} ({mismatch}).")
    net.load_state_dict(weights)
    return net.eval()


BUNDLE_ENV = "MONAI_CHPNET_BUNDLE"


def default_bundle_dir() -> Path:
    """The ``chpnet_mri_recon`` bundle folder: ``$MONAI_CHPNET_BUNDLE`` if set, else ``bundles/chpnet_mri_recon``
    beside the package (a source checkout / editable install).

    Raises:
        FileNotFoundError: neither exists (a wheel install without the bundle: set ``MONAI_CHPNET_BUNDLE``).
    """
    env = os.environ.get(BUNDLE_ENV)
    candidate = Path(env) if env else Path(__file__).resolve().parents[1] / "bundles" / "chpnet_mri_recon"
    if not (candidate / "configs" / "inference.json").is_file():
        where = f"${BUNDLE_ENV}={env}" if env else str(candidate)
        raise FileNotFoundError(
            f"no chpnet_mri_recon bundle at {where} (configs/inference.json missing); "
            f"set {BUNDLE_ENV} to the bundle folder."
        )
    return candidate


def load_bundle_network(
    bundle_dir: Optional[Union[str, os.PathLike]] = None,
    device: Union[str, torch.device] = "cpu",
    checkpoint: Optional[Union[str, os.PathLike]] = None,
) -> nn.Module:
    """The student exactly as the bundle's ``configs/inference.json`` builds it (``network_def`` + its weights).

    This is how the 3D Slicer module and the MONAI Label task get their network: from the bundle's config, so a
    retrained or re-configured bundle needs no code change. ``checkpoint`` overrides the config's weights file.

    Raises:
        FileNotFoundError: no bundle / no weights file.
        ValueError: the weights belong to another architecture (from :func:`load_network`).
    """
    from monai.bundle import ConfigParser

    root = Path(bundle_dir) if bundle_dir is not None else default_bundle_dir()
    config_file = root / "configs" / "inference.json"
    if not config_file.is_file():
        raise FileNotFoundError(f"not a chpnet_mri_recon bundle: {config_file} does not exist.")
    parser = ConfigParser()
    parser.read_config(str(config_file))
    parser["bundle_root"] = str(root)
    parser["device"] = str(device)
    if checkpoint is not None:
        parser["checkpoint"] = str(checkpoint)
    weights = Path(parser.get_parsed_content("checkpoint"))
    if not weights.is_file():
        raise FileNotFoundError(f"bundle weights not found: {weights}")
    network = parser.get_parsed_content("network_def", instantiate=True)
    return load_network(weights, network=network, map_location=device).to(device)


def simulation_transform(
    acceleration: float = 4.0,
    center_fraction: Optional[float] = None,
    mask_type: str = "random",
    simulate_phase: bool = False,
) -> Compose:
    """Pre-processing of magnitude slices ``{"target": (1, H, W)}``: the evaluation recipe
    (:func:`~monai_chpnet.transforms.recipes.eval_transforms`) with one mask for every slice sharing a
    ``"mask_seed"`` entry and, with ``simulate_phase``, one smooth phase for every slice sharing a ``"phase_seed"``
    entry (a phase-bearing acquisition, as a scanner's raw data would be)."""
    cf = _center_fraction(acceleration, center_fraction)
    return eval_transforms(
        acceleration, cf, mask_type, seed_key="mask_seed", phase_seed_key="phase_seed" if simulate_phase else None
    )


def kspace_transform(
    acceleration: Optional[float] = 4.0,
    center_fraction: Optional[float] = None,
    mask_type: str = "random",
) -> Compose:
    """Pre-processing of fastMRI slices: :func:`~monai_chpnet.transforms.recipes.kspace_transforms` with one mask
    per volume (seeded by the file name), or the k-space as acquired when ``acceleration`` is ``None``."""
    if acceleration is None:
        return kspace_transforms(acquired=True)
    cf = _center_fraction(acceleration, center_fraction)
    return kspace_transforms((acceleration,), (cf,), mask_type, seed_key="fname")


def _center_fraction(acceleration: float, center_fraction: Optional[float]) -> float:
    """fastMRI's pairing: 4x -> 0.08, 8x -> 0.04, i.e. ``0.32 / acceleration`` unless given."""
    if not (isinstance(acceleration, (int, float)) and math.isfinite(acceleration) and acceleration >= 1):
        raise ValueError(f"acceleration must be a number >= 1, got {acceleration!r}.")
    return float(center_fraction) if center_fraction is not None else min(0.32 / float(acceleration), 0.5)


def check_device(device: Union[str, torch.device], what: str = "device") -> torch.device:
    """``device`` as a ``torch.device``, refused up front when torch does not know it or this machine lacks it.

    Raises:
        ValueError: naming ``what`` (e.g. ``"--device"``) and the device.
    """
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ValueError(f"{what} {str(device)!r} is not a torch device (cpu, cuda, cuda:1, mps, ...).") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{what} {dev}: this machine has no CUDA device (use cpu).")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"{what} {dev}: this machine has {torch.cuda.device_count()} CUDA device(s).")
    return dev


def _collate(samples: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for key in samples[0]:
        values = [s[key] for s in samples]
        if isinstance(values[0], torch.Tensor):
            out[key] = torch.stack(values)
        elif isinstance(values[0], (int, float)):
            out[key] = torch.tensor(values, dtype=torch.float32)
    return out


@contextmanager
def _transform_errors(source: str) -> Iterator[None]:
    """Re-raise the cause of a failed pre-processing transform, prefixed with ``source``.

    MONAI's ``apply_transform`` wraps every error in ``RuntimeError("applying transform <... at 0x...>")``; the
    reader sees the specific error underneath instead (a k-space too narrow for the mask, a missing key).
    """
    try:
        yield
    except RuntimeError as err:
        root: BaseException = err
        while isinstance(root, RuntimeError) and str(root).startswith("applying transform") and root.__cause__:
            root = root.__cause__
        if root is err:
            raise
        message = root.args[0] if isinstance(root, KeyError) and root.args else str(root)
        try:
            specific = type(root)(f"{source}: {message}")
        except Exception:  # an exception type that takes other arguments: keep it as it is
            raise root from None
        raise specific from None


@torch.inference_mode()
def reconstruct_samples(
    samples: Sequence[Mapping[str, Any]],
    network: Optional[nn.Module],
    device: Union[str, torch.device] = "cpu",
    batch_size: int = 4,
    crop_size: Optional[Sequence[int]] = None,
    progress: Optional[Progress] = None,
) -> Dict[str, np.ndarray]:
    """Run ``network`` over pre-processed slice dicts (the output of :func:`simulation_transform` /
    :func:`kspace_transform`), batch by batch.

    Returns:
        ``{"reconstruction", "zero_filled", "reference"?}``: float32 ``(slices, h, w)`` in input units, on the
        target grid (or ``crop_size``, or the zero-filled image's grid, which the pre-processing already cropped).
    """
    prepare = ReconPrepareBatch()
    net = network.to(device).eval() if network is not None else None
    outs: Dict[str, List[np.ndarray]] = {"reconstruction": [], "zero_filled": [], "reference": []}
    total = len(samples)
    for start in range(0, total, batch_size):
        batch = _collate(samples[start : start + batch_size])
        image, target, _, kwargs = prepare(batch, device)
        size = target.shape[-2:] if target is not None else crop_size or batch[ReconKeys.ZERO_FILLED].shape[-2:]
        zf = match_target(batch[ReconKeys.ZERO_FILLED].to(device), size)
        pred = match_target(net(image, **kwargs).float(), size) if net is not None else zf
        for key, x in (("reconstruction", pred), ("zero_filled", zf), ("reference", target)):
            if x is not None:
                outs[key].append(denormalize_batch(x, batch)[:, 0].cpu().numpy())
        if progress is not None:
            progress(min(start + batch_size, total), total)
    return {k: np.concatenate(v).astype(np.float32) for k, v in outs.items() if v}


def reference_metrics(
    reference: np.ndarray, results: Mapping[str, np.ndarray]
) -> Dict[str, Dict[str, Optional[float]]]:
    """fastMRI PSNR / SSIM / NMSE of each ``(slices, H, W)`` result against the reference volume (its maximum is
    the data range; SSIM is ``None`` for slices smaller than its 7 x 7 window)."""
    small = min(reference.shape[-2:]) < 7
    return {
        name: {"psnr": psnr(reference, x), "ssim": None if small else ssim(reference, x), "nmse": nmse(reference, x)}
        for name, x in results.items()
    }


def _as_acquired(image: torch.Tensor, mask: torch.Tensor) -> Dict[str, Any]:
    """A network sample for an already-undersampled magnitude slice ``(1, H, W)`` acquired with column ``mask``:
    the slice (scaled by its standard deviation) is the zero-filled input, its k-space on the sampled columns the
    measurement for data consistency; no target."""
    scale = float(image.std()) + 1e-11
    x = image / scale
    return {
        ReconKeys.IMAGE: torch.cat([x, torch.zeros_like(x)]),
        ReconKeys.ZERO_FILLED: x,
        ReconKeys.KSPACE_MASKED: fft2c(torch.complex(x, torch.zeros_like(x))) * mask,
        ReconKeys.MASK: mask,
        ReconKeys.MEAN: 0.0,
        ReconKeys.STD: scale,
    }


def reconstruct_volume(
    volume: np.ndarray,
    network: Optional[nn.Module] = None,
    acceleration: Optional[float] = 4.0,
    center_fraction: Optional[float] = None,
    mask_type: str = "random",
    seed: int = 0,
    geometry: Optional[Geometry] = None,
    device: Union[str, torch.device] = "cpu",
    batch_size: int = 4,
    progress: Optional[Progress] = None,
    source: str = "volume",
    undersampled: bool = False,
    simulate_phase: bool = False,
) -> ReconstructionResult:
    """Reconstruct a magnitude volume ``(slices, H, W)``.

    By default the volume is the fully-sampled reference: each slice is retrospectively undersampled with the
    ``acceleration`` / ``center_fraction`` / ``mask_type`` mask (one for the whole volume, drawn from ``seed``) and
    reconstructed; metrics are computed against it.

    With ``undersampled=True`` the volume is the zero-filled magnitude of an acquisition made with that mask
    (the same parameters describe the acquisition): data consistency keeps the image's own k-space on the
    sampled columns and the network fills the others; there is no reference. A magnitude image carries no
    phase, so this recovers less than raw k-space does (use a fastMRI ``.h5`` when there is one).

    ``simulate_phase=True`` (evaluation): the simulated acquisition is of the volume given a smooth phase
    (:class:`~monai_chpnet.transforms.phase.RandSmoothPhased`), one per volume, drawn from ``seed`` and the base
    name of ``source`` so each source has its own phase, the same in every run; the reference stays the magnitude.

    Raises:
        ValueError: not a 3-D array, fewer than 2 pixels along H or W, non-finite values, negative values below
            ``-NEGATIVE_TOLERANCE`` x the maximum (smaller ones are clipped to 0, with a warning); ``acceleration=None``
            (an image volume has no k-space of its own: give the acquisition's acceleration).
    """
    vol = np.asarray(volume)
    if vol.ndim != 3:
        raise ValueError(f"expected a volume (slices, H, W), got an array of shape {vol.shape}.")
    if min(vol.shape[1:]) < 2 or vol.shape[0] < 1:
        raise ValueError(f"volume of shape {vol.shape} is too small to reconstruct (need H, W >= 2).")
    if not np.isfinite(vol).all():
        raise ValueError(f"volume {source} contains NaN or inf values.")
    low, high = float(vol.min()), float(np.abs(vol).max())
    if low < -NEGATIVE_TOLERANCE * high:
        raise ValueError(
            f"volume {source} has negative values (minimum {low:.4g}, maximum magnitude {high:.4g}): it is not a "
            "magnitude image (z-scored, phase or difference image?). The reconstruction is a magnitude, so it could "
            "not match it; give the acquired magnitude image."
        )
    if low < 0:  # interpolation / bias-correction undershoot of a magnitude image: clipped, said
        logger.warning(
            f"volume {source}: negative values down to {low:.4g} (within {NEGATIVE_TOLERANCE:.0%} of the "
            "maximum) are set to 0; a magnitude image has none."
        )
        vol = np.clip(vol, 0, None)
    start = time.perf_counter()
    # blank slices (outside the body, padding) have no k-space to reconstruct: they stay zero
    keep = np.flatnonzero(np.any(vol != 0, axis=(1, 2)))
    if keep.size == 0:
        raise ValueError(f"volume {source} of shape {vol.shape} is all zero.")
    if acceleration is None:
        raise ValueError(
            f"volume {source}: an image volume has no k-space of its own, so acceleration=None cannot be "
            "reconstructed; give the acceleration to simulate, or the acquisition's with undersampled=True."
        )
    if simulate_phase and undersampled:
        raise ValueError(
            f"volume {source}: simulate_phase needs a fully-sampled volume to simulate from, not an "
            "undersampled one (undersampled=True)."
        )
    transform = simulation_transform(acceleration, center_fraction, mask_type, simulate_phase)
    phase_seed = seed_from_name(Path(source).name or "volume") + (int(seed),)
    slices = [
        {
            ReconKeys.TARGET: torch.as_tensor(vol[k][None], dtype=torch.float32),
            "mask_seed": int(seed),
            "phase_seed": phase_seed,
        }
        for k in keep
    ]
    with _transform_errors(f"volume {source}"):
        if undersampled:  # the acquisition's one mask (seeded per volume), drawn once as the simulation draws it
            acquired_mask = transform(slices[0])[ReconKeys.MASK]
            samples = [_as_acquired(d[ReconKeys.TARGET], acquired_mask) for d in slices]
        else:
            samples = [transform(d) for d in slices]
    mask = samples[0][ReconKeys.MASK].reshape(-1).numpy()
    kept = reconstruct_samples(samples, network, device, batch_size, progress=progress)
    out = {}
    for key, x in kept.items():
        out[key] = np.zeros((vol.shape[0],) + x.shape[1:], dtype=np.float32)
        out[key][keep] = x
    reference = out.get("reference")
    metrics = (
        reference_metrics(reference, {"zero_filled": out["zero_filled"], "reconstruction": out["reconstruction"]})
        if reference is not None
        else {}
    )
    return ReconstructionResult(
        reconstruction=out["reconstruction"],
        zero_filled=out["zero_filled"],
        reference=reference,
        mask=mask,
        acceleration=float(mask.size / max(mask.sum(), 1)),
        geometry=geometry,
        metrics=metrics,
        source=source,
        seconds=time.perf_counter() - start,
    )


def reconstruct_fastmri(
    path: Union[str, os.PathLike],
    network: Optional[nn.Module] = None,
    acceleration: Optional[float] = 4.0,
    center_fraction: Optional[float] = None,
    mask_type: str = "random",
    device: Union[str, torch.device] = "cpu",
    batch_size: int = 4,
    progress: Optional[Progress] = None,
) -> ReconstructionResult:
    """Reconstruct a fastMRI single-coil ``.h5`` from its own k-space.

    ``acceleration`` undersamples the file's (fully-sampled) k-space retrospectively with fastMRI's per-volume
    mask (seeded by the file name); ``None`` takes the k-space as acquired (test split). The output is on the
    ``reconstruction_esc`` grid (320 x 320) or, without one, on the header's reconstruction size.
    """
    start = time.perf_counter()
    try:
        dataset = FastMRISliceDataset([path], transform=kspace_transform(acceleration, center_fraction, mask_type))
    except (KeyError, TypeError) as err:  # the reader's format errors (no 'kspace', real-valued k-space)
        raise ValueError(err.args[0] if err.args else str(err)) from None
    if acceleration is not None and not dataset.volumes[0].has_target:
        raise ValueError(
            f"fastMRI file {path} has no reference ({TARGET_KEY}), as in the test split: its k-space is already "
            "undersampled and masking it again would simulate a second acquisition. Take it as acquired: "
            "acceleration=None (undersampled=True, --undersampled)."
        )
    with _transform_errors(f"fastMRI file {path}"):
        samples = [dataset[i] for i in range(len(dataset))]
    # without a reference, the acquired pipeline has cropped the zero-filled image to the header's reconstruction size
    out = reconstruct_samples(samples, network, device, batch_size, progress=progress)
    mask = samples[0][ReconKeys.MASK].reshape(-1).numpy()
    reference = out.get("reference")
    metrics = (
        reference_metrics(reference, {"zero_filled": out["zero_filled"], "reconstruction": out["reconstruction"]})
        if reference is not None
        else {}
    )
    return ReconstructionResult(
        reconstruction=out["reconstruction"],
        zero_filled=out["zero_filled"],
        reference=reference,
        mask=mask,
        acceleration=float(mask.size / max(mask.sum(), 1)),
        metrics=metrics,
        source=str(path),
        seconds=time.perf_counter() - start,
    )


def reconstruct_file(
    path: Union[str, os.PathLike],
    network: Optional[nn.Module] = None,
    acceleration: Optional[float] = 4.0,
    slice_axis: int = 0,
    undersampled: bool = False,
    series_id: Optional[str] = None,
    **kwargs: Any,
) -> ReconstructionResult:
    """Reconstruct a file: fastMRI ``.h5`` (its own k-space) or an image volume (NIfTI / NRRD / MHA / DICOM file
    or series folder, via SimpleITK) along ``slice_axis``. Other arguments as :func:`reconstruct_volume`.

    ``undersampled=True``: the input is already undersampled -- an ``.h5``'s k-space is taken as acquired (its
    mask is read from it, ``acceleration`` is ignored); an image volume is the zero-filled magnitude of an
    acquisition with the ``acceleration`` / ``mask_type`` / ``seed`` mask (see :func:`reconstruct_volume`).
    ``series_id``: the DICOM SeriesInstanceUID to read from a folder holding several series.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: unreadable or unsupported file, multi-coil ``.h5``, a 4-D volume (from the readers).
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"input not found: {p}")
    if p.suffix.lower() in (".h5", ".hdf5"):
        kwargs.pop("seed", None)
        return reconstruct_fastmri(p, acceleration=None if undersampled else acceleration, network=network, **kwargs)
    volume, geometry = read_volume(p, slice_axis=slice_axis, series_id=series_id)
    return reconstruct_volume(
        volume, network, acceleration, geometry=geometry, source=str(p), undersampled=undersampled, **kwargs
    )


def check_output_dir(output_dir: Union[str, os.PathLike]) -> Path:
    """Create ``output_dir`` if needed and check it is a writable folder; raise a one-line error otherwise."""
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"output directory {out} exists and is a file.")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-"):
            pass
    except OSError as e:
        raise PermissionError(f"output directory {out} is not writable ({e.strerror}).") from None
    return out


def _atomic_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _stem(source: str) -> str:
    name = Path(source).name or "volume"
    for suffix in (*VOLUME_SUFFIXES, ".h5", ".hdf5", ".dcm"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def output_geometry(result: ReconstructionResult) -> Geometry:
    """The geometry to write ``result``'s volumes with: the input's, or -- for inputs without one (fastMRI
    k-space) or on another grid -- 1 mm isotropic voxels at the origin, identity direction."""
    geometry = result.geometry
    if geometry is None or geometry.array_shape != result.reconstruction.shape:
        n, h, w = result.reconstruction.shape
        geometry = Geometry(
            spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0), direction=tuple(np.eye(3).ravel()), shape=(n, h, w)
        )
    return geometry


def write_outputs(
    result: ReconstructionResult,
    output_dir: Union[str, os.PathLike],
    stem: Optional[str] = None,
    figure_slice: Optional[int] = None,
) -> Dict[str, Path]:
    """Write ``<stem>_recon.nii.gz`` (with the input's geometry when known), ``<stem>_zero_filled.nii.gz``,
    ``<stem>_figure.png`` (zero-filled | reconstruction | reference | |error| x5, for ``figure_slice``, default
    the middle slice) and ``<stem>_metrics.json``; every file is written to a temporary name and renamed.

    Returns:
        ``{"reconstruction", "zero_filled", "figure", "metrics"}`` paths.
    """
    out = check_output_dir(output_dir)
    stem = stem or _stem(result.source)
    geometry = output_geometry(result)
    paths = {
        "reconstruction": write_volume(result.reconstruction, geometry, out / f"{stem}_recon.nii.gz"),
        "zero_filled": write_volume(result.zero_filled, geometry, out / f"{stem}_zero_filled.nii.gz"),
    }
    k = result.reconstruction.shape[0] // 2 if figure_slice is None else int(figure_slice)
    panels = [result.zero_filled[k], result.reconstruction[k]]
    if result.reference is not None:
        panels += [result.reference[k], np.abs(result.reference[k] - result.reconstruction[k]) * 5.0]
    vmax = float(max(p.max() for p in panels[:3]))
    paths["figure"] = save_png_row([to_uint8(p, vmax) for p in panels], out / f"{stem}_figure.png")
    metrics_path = out / f"{stem}_metrics.json"
    report = {
        "source": result.source,
        "acceleration": result.acceleration,
        "slices": int(result.reconstruction.shape[0]),
        "seconds": result.seconds,
        "metrics": result.metrics,
    }
    _atomic_text(metrics_path, json.dumps(report, indent=2))
    paths["metrics"] = metrics_path
    return paths


ACQUISITIONS = ("magnitude", "phase")  #: how evaluate_files simulates an image volume's acquisition


def evaluate_files(
    files: Mapping[str, Union[str, os.PathLike]],
    networks: Mapping[str, Optional[nn.Module]],
    accelerations: Sequence[float] = (4.0, 8.0),
    mask_type: str = "random",
    seed: int = 0,
    device: Union[str, torch.device] = "cpu",
    agreement_with: Optional[str] = None,
    acquisitions: Sequence[str] = ("magnitude",),
) -> List[Dict[str, Any]]:
    """Reconstruct every file at every acceleration with every network (``None``: zero-filled) through
    :func:`reconstruct_file`, returning one row per (file, acquisition, acceleration, network) with PSNR/SSIM/NMSE.

    ``acquisitions``: how an image volume is acquired, ``"magnitude"`` (the image as it is, zero phase) and/or
    ``"phase"`` (the image given a smooth phase seeded by its name, ``simulate_phase``); a fastMRI ``.h5`` is
    undersampled from its own complex k-space once, as ``"complex"``.

    ``agreement_with``: the name of one of ``networks`` (e.g. a teacher); every row then also holds
    ``psnr_agreement``, the PSNR of its reconstruction against that network's reconstruction of the same
    acquisition (data range of the reference volume, as the PSNR to the truth; ``None`` on its own rows): how
    closely a student reproduces its teacher, where the teacher is right and where it is wrong alike.

    Raises:
        KeyError: ``agreement_with`` is not one of ``networks``.
        ValueError: an acquisition other than ``"magnitude"`` / ``"phase"``.
    """
    if agreement_with is not None and agreement_with not in networks:
        raise KeyError(f"agreement_with={agreement_with!r} is not one of the networks {list(networks)}.")
    unknown = [a for a in acquisitions if a not in ACQUISITIONS]
    if unknown or not acquisitions:
        raise ValueError(f"acquisitions must be some of {ACQUISITIONS}, got {list(acquisitions)}.")
    rows: List[Dict[str, Any]] = []
    for source, path in files.items():
        raw = Path(path).suffix.lower() in (".h5", ".hdf5")
        for acquisition in ("complex",) if raw else acquisitions:
            extra = {"simulate_phase": True} if acquisition == "phase" else {}
            for acc in accelerations:
                block, recons, data_range = [], {}, None
                for name, net in networks.items():
                    r = reconstruct_file(
                        path, net, acceleration=acc, mask_type=mask_type, seed=seed, device=device, **extra
                    )
                    block.append(
                        {
                            "source": source,
                            "acquisition": acquisition,
                            "acceleration": acc,
                            "method": name,
                            **r.metrics["reconstruction"],
                            "seconds": r.seconds,
                        }
                    )
                    if agreement_with is not None:  # kept only to compare with the anchor's, once all have run
                        recons[name] = r.reconstruction
                        if name == agreement_with and r.reference is not None:
                            data_range = float(r.reference.max())
                if agreement_with is not None:
                    for row in block:
                        row["psnr_agreement"] = (
                            None
                            if row["method"] == agreement_with
                            else psnr(recons[agreement_with], recons[row["method"]], data_range=data_range)
                        )
                rows += block
    return rows


def metrics_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Markdown table of :func:`evaluate_files` rows."""
    lines = ["| source | acquisition | accel | method | PSNR (dB) | SSIM | NMSE |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        ssim_text = "n/a" if r.get("ssim") is None else f"{r['ssim']:.4f}"
        lines.append(
            f"| {r['source']} | {r.get('acquisition', 'magnitude')} | {r['acceleration']:g}x | {r['method']} "
            f"| {r['psnr']:.2f} | {ssim_text} | {r['nmse']:.5f} |"
        )
    return "\n".join(lines)


class FileReconstructor:
    """The bundle's inference "evaluator": reconstruct each input file and write its outputs.

    ``run()`` calls :func:`reconstruct_file` + :func:`write_outputs` for every entry of ``dataset`` (paths, or
    dicts with an ``"image"`` path), prints the metrics, and returns the results.
    """

    def __init__(
        self,
        dataset: Sequence[Union[str, os.PathLike, Mapping[str, Any]]],
        network: Optional[nn.Module],
        output_dir: Union[str, os.PathLike],
        acceleration: Optional[float] = 4.0,
        undersampled: bool = False,
        mask_type: str = "random",
        seed: int = 0,
        slice_axis: int = 0,
        device: Union[str, torch.device] = "cpu",
        batch_size: int = 4,
        series_id: Optional[str] = None,
    ) -> None:
        self.dataset, self.network, self.output_dir = list(dataset), network, output_dir
        self.kwargs = dict(
            acceleration=acceleration,
            undersampled=undersampled,
            mask_type=mask_type,
            seed=seed,
            slice_axis=slice_axis,
            device=device,
            batch_size=batch_size,
            series_id=series_id,
        )

    def run(self) -> List[ReconstructionResult]:
        """Reconstruct every input and write its outputs.

        Raises:
            ValueError: two inputs whose outputs would have the same names (``a/brain.nii.gz`` and
                ``b/brain.nii.gz``), checked before anything is written, so no output overwrites another.
        """
        check_output_dir(self.output_dir)
        inputs = [item["image"] if isinstance(item, Mapping) else item for item in self.dataset]
        first: Dict[str, int] = {}
        for i, path in enumerate(inputs):
            j = first.setdefault(_stem(str(path)), i)
            if j != i:
                raise ValueError(
                    f"inputs {inputs[j]} and {path} would both be written as {_stem(str(path))}_*: rename one or "
                    "reconstruct them into different output directories."
                )
        results = []
        for path in inputs:
            result = reconstruct_file(path, self.network, **self.kwargs)
            paths = write_outputs(result, self.output_dir)
            print(result.summary())
            print("  written:", ", ".join(str(p) for p in paths.values()))
            results.append(result)
        return results


def write_evaluation(rows: Sequence[Mapping[str, Any]], output_dir: Union[str, os.PathLike]) -> List[Mapping[str, Any]]:
    """Write :func:`evaluate_files` rows as ``metrics.json`` and ``metrics.md`` (atomically); return the rows."""
    out = check_output_dir(output_dir)
    _atomic_text(out / "metrics.json", json.dumps(list(rows), indent=2))
    _atomic_text(out / "metrics.md", metrics_table(rows) + "\n")
    return list(rows)


def metadata_eval_metrics(rows: Sequence[Mapping[str, Any]]) -> Dict[str, float]:
    """Flatten :func:`evaluate_files` rows into a bundle metadata ``eval_metrics`` mapping.

    Each row gives ``<source>_<acceleration>x_<method>_psnr`` (dB, 3 decimals) and ``..._ssim`` (4 decimals);
    e.g. ``t1_demo_4x_zero_filled_psnr``; a row of another acquisition than ``"magnitude"`` names it after the
    source, e.g. ``t1_demo_phase_4x_student_psnr``. Two rows with the same source, acquisition, acceleration and
    method are an error (the second would silently overwrite the first).
    """
    metrics: Dict[str, float] = {}
    for row in rows:
        missing = [k for k in ("source", "acceleration", "method", "psnr", "ssim") if k not in row]
        if missing:
            raise KeyError(f"evaluation row {dict(row)} lacks {missing}; expected rows of evaluate_files().")
        method = str(row["method"]).replace("-", "_").replace(" ", "_")
        acquisition = row.get("acquisition", "magnitude")
        source = row["source"] if acquisition == "magnitude" else f"{row['source']}_{acquisition}"
        stem = f"{source}_{float(row['acceleration']):g}x_{method}"
        if f"{stem}_psnr" in metrics:
            named = f"{row['source']!r}" + ("" if acquisition == "magnitude" else f" ({acquisition})")
            raise ValueError(
                f"two evaluation rows for source {named}, {float(row['acceleration']):g}x, method {row['method']!r}."
            )
        metrics[f"{stem}_psnr"] = round(float(row["psnr"]), 3)
        metrics[f"{stem}_ssim"] = round(float(row["ssim"]), 4)
    return metrics


def update_metadata_metrics(rows: Sequence[Mapping[str, Any]], metadata_file: Union[str, os.PathLike]) -> Path:
    """Replace ``eval_metrics`` in a bundle's ``metadata.json`` by :func:`metadata_eval_metrics` of ``rows``.

    Every other key is kept as it is; the file is written to a temporary name and renamed, so an interrupted
    write never leaves a truncated metadata file. Returns the path.
    """
    path = Path(metadata_file)
    if not path.is_file():
        raise FileNotFoundError(f"bundle metadata file not found: {path}")
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"bundle metadata file {path} is not valid JSON ({e}).") from None
    if not isinstance(meta, dict):
        raise ValueError(f"bundle metadata file {path} holds a {type(meta).__name__}, expected a JSON object.")
    metrics = metadata_eval_metrics(rows)
    if not metrics:
        raise ValueError(f"no evaluation rows to write into {path}; eval_metrics left unchanged.")
    meta["eval_metrics"] = metrics
    _atomic_text(path, json.dumps(meta, indent=4) + "\n")
    return path


def install_error_hook() -> None:
    """Report uncaught errors as one line naming their root cause (``error: FileNotFoundError: network weights
    not found: ...``) instead of the config parser's chained traceback, and exit with status 2. The bundle
    configs call this in ``initialize``; set ``MONAI_CHPNET_DEBUG=1`` for the full traceback."""
    import sys

    if os.environ.get("MONAI_CHPNET_DEBUG"):
        return

    def hook(exc_type, exc, tb):  # noqa: ANN001
        root = exc
        while root.__cause__ is not None or (root.__context__ is not None and not root.__suppress_context__):
            root = root.__cause__ or root.__context__
        if isinstance(root, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        print(f"error: {type(root).__name__}: {root} (MONAI_CHPNET_DEBUG=1 shows the traceback)", file=sys.stderr)
        sys.exit(2)

    sys.excepthook = hook
