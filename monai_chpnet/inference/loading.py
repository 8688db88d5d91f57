"""Loading the network: weights into a network strictly, or the student exactly as a bundle's config builds it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import torch
from torch import nn

from monai_chpnet.checkpoints import describe_state_mismatch, network_state
from monai_chpnet.inference.settings import check_device

__all__ = [
    "BUNDLE_ENV",
    "default_bundle_dir",
    "default_sr_bundle_dir",
    "load_bundle_network",
    "load_network",
    "load_teacher",
    "trust_map_for",
    "weights_task",
]

BUNDLE_ENV = "MONAI_CHPNET_BUNDLE"


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
        ValueError: the file is not a PyTorch checkpoint, or its weights belong to another architecture; the
            device is not one this machine has.
    """
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
    weights = network_state(weights)
    mismatch = describe_state_mismatch(net, weights)
    if mismatch:
        given, needed = weights_task(weights), weights_task(net.state_dict())
        if given != needed and None not in (given, needed):
            raise ValueError(f"{source} holds {given} weights; this task needs {needed} weights ({mismatch}).")
        raise ValueError(f"weights in {source} do not fit {type(net).__name__} ({mismatch}).")
    net.load_state_dict(weights)
    return net.eval()


def weights_task(state: Mapping[str, torch.Tensor]) -> Optional[str]:
    """What a student's state dict was trained for: ``"super-resolution x2"`` / ``"x4"`` (its learned adjoint maps
    one pixel to ``scale**2`` sub-pixels), ``"k-space reconstruction"`` (a 2-channel input), else ``None``."""
    adjoint = state.get("consistency.0.adjoint.conv_block.weight")
    if adjoint is not None:
        return f"super-resolution x{round(adjoint.shape[0] ** 0.5)}"
    first = next((v for k, v in state.items() if k.endswith(".weight") and v.ndim == 4), None)
    return "k-space reconstruction" if first is not None and first.shape[1] == 2 else None


def default_bundle_dir() -> Path:
    """The ``chpnet_mri_recon`` bundle folder: ``$MONAI_CHPNET_BUNDLE`` if set, else ``bundles/chpnet_mri_recon``
    beside the package (a source checkout / editable install).

    Raises:
        FileNotFoundError: neither exists (a wheel install without the bundle: set ``MONAI_CHPNET_BUNDLE``).
    """
    env = os.environ.get(BUNDLE_ENV)
    candidate = Path(env) if env else Path(__file__).resolve().parents[2] / "bundles" / "chpnet_mri_recon"
    if not (candidate / "configs" / "inference.json").is_file():
        where = f"${BUNDLE_ENV}={env}" if env else str(candidate)
        raise FileNotFoundError(
            f"no chpnet_mri_recon bundle at {where} (configs/inference.json missing); "
            f"set {BUNDLE_ENV} to the bundle folder."
        )
    return candidate


def default_sr_bundle_dir() -> Path:
    """The ``chpnet_mri_sr`` bundle folder: beside the ``chpnet_mri_recon`` one (:func:`default_bundle_dir`).

    Raises:
        FileNotFoundError: it is not there.
    """
    candidate = default_bundle_dir().parent / "chpnet_mri_sr"
    if not (candidate / "configs" / "inference.json").is_file():
        raise FileNotFoundError(f"no chpnet_mri_sr bundle at {candidate} (configs/inference.json missing).")
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


def load_teacher(
    weights: Union[str, os.PathLike],
    scale: int = 1,
    degradation: Optional[str] = None,
    preset: str = "small",
    map_location: Any = "cpu",
) -> nn.Module:
    """The teacher (``preset``) of the k-space task (``scale=1``: two channels, data consistency) or of x``scale``
    super-resolution of ``degradation`` inputs, with ``weights`` loaded strictly -- the trust map's second opinion.

    Raises:
        FileNotFoundError / ValueError: as :func:`load_network`, naming the file (weights of a student, or of the
            other task, do not fit the teacher).
    """
    from monai_chpnet.networks.teacher import teacher_from_preset

    if scale == 1:
        network = teacher_from_preset(preset, in_channels=2)
    else:
        network = teacher_from_preset(preset, in_channels=1, upscale=scale, degradation=degradation)
    try:
        return load_network(weights, network=network, map_location=map_location)
    except ValueError as err:
        raise ValueError(f"teacher weights: {err}") from None


def trust_map_for(
    method: Optional[str],
    bundle_dir: Optional[Union[str, os.PathLike]] = None,
    scale: int = 1,
    degradation: Optional[str] = None,
    device: Any = "cpu",
    teacher_weights: Optional[Union[str, os.PathLike]] = None,
    cache: Optional[Dict[Tuple[str, str], nn.Module]] = None,
) -> Tuple[Any, Optional[str]]:
    """The trust map every front end asks for: ``(TrustMap, None)``; ``(None, None)`` without ``method``; or
    ``(None, reason)`` when the teacher cannot be loaded -- the result is then made and written without the map.

    The teacher is ``teacher_weights``, else the bundle's (``bundle_dir``, default: :func:`default_bundle_dir` for the
    k-space task, :func:`default_sr_bundle_dir` for ``scale`` 2 / 4) ``models/`` file for the task
    (:func:`~.superres.sr_weights_name` with role ``"teacher"``); ``cache`` keeps loaded teachers per (file, device).
    """
    from monai_chpnet.inference.superres import sr_weights_name
    from monai_chpnet.inference.trust import TrustMap

    if method is None:
        return None, None
    if method != "teacher":
        return TrustMap(method), None
    try:
        if teacher_weights is None:
            root = Path(bundle_dir) if bundle_dir else (default_bundle_dir() if scale == 1 else default_sr_bundle_dir())
            name = "teacher.pt" if scale == 1 else sr_weights_name(scale, degradation, "teacher")
            teacher_weights = root / "models" / name
        key = (os.path.realpath(teacher_weights), str(device))
        teacher = cache.get(key) if cache is not None else None
        if teacher is None:
            teacher = load_teacher(teacher_weights, scale, degradation, map_location=device)
            if cache is not None:
                cache[key] = teacher
        return TrustMap("teacher", teacher), None
    except (OSError, ValueError) as err:
        return None, f"no trust map: {err}"
