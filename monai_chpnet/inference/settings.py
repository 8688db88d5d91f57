"""One type for the settings of a reconstruction, checked once, used by every front end.

The command line, the bundle (``inference.json``), MONAI Label and the 3D Slicer request all build a
:class:`ReconSettings`; its constructor checks every field (type, range, combination) and
:meth:`ReconSettings.from_mapping` also refuses unknown keys and reads the strings a command line or an HTTP form
carries (``"8"``, ``"true"``, a list of choices). A bad value raises :class:`SettingsError` (a ``ValueError``)
whose message names the key; :meth:`SettingsError.describe` names it as a front end calls it (``--batch-size``
on the command line, ``batch size`` in Slicer).
"""

from __future__ import annotations

import difflib
import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import numpy as np
import torch

from monai_chpnet.config_utils import flag
from monai_chpnet.transforms.masks import MASK_FUNCS, MAX_SEED
from monai_chpnet.transforms.recipes import fastmri_center_fraction

__all__ = ["MAX_THREADS", "ReconSettings", "SettingsError", "check_device"]

MAX_THREADS = 1024


class SettingsError(ValueError):
    """A setting that cannot be used: ``key``, the ``value`` given and a message template naming it ``{name}``."""

    def __init__(self, key: str, value: Any, template: str) -> None:
        self.key, self.value, self.template = key, value, template
        super().__init__(self.describe())

    def describe(self, name: Optional[str] = None) -> str:
        """The message, naming the setting ``name`` (default: its key)."""
        return self.template.format(name=name or self.key, value=self.value)


def check_device(device: Union[str, torch.device], what: str = "device") -> torch.device:
    """``device`` as a ``torch.device``, refused up front when torch does not know it or this machine lacks it.

    Raises:
        SettingsError: naming ``what`` (e.g. ``"--device"``) and the device.
    """
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise SettingsError(
            what, device, "{name} {value!r} is not a torch device (cpu, cuda, cuda:1, mps, ...)."
        ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SettingsError(what, str(dev), "{name} {value}: this machine has no CUDA device (use cpu).")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise SettingsError(
            what, str(dev), f"{{name}} {{value}}: this machine has {torch.cuda.device_count()} CUDA device(s)."
        )
    return dev


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _integer(key: str, value: Any, low: int, high: int) -> int:
    if not _is_number(value) or not float(value).is_integer() or not low <= value <= high:
        raise SettingsError(key, value, f"{{name}} must be an integer from {low} to {high}, got {{value!r}}.")
    return int(value)


def _boolean(key: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise SettingsError(key, value, "{name} must be true or false, got {value!r}.")
    return bool(value)


@dataclass(frozen=True)
class ReconSettings:
    """How to reconstruct one input (every field checked on construction).

    Attributes:
        acceleration: the simulated acquisition's undersampling factor (``W / sampled columns``, >= 1) or, with
            ``undersampled``, that of the acquisition the input came from (its mask tells data consistency which
            columns were measured).
        undersampled: the input is already undersampled: an image volume is the zero-filled magnitude of an
            acquisition made with the ``acceleration`` / ``center_fraction`` / ``mask_type`` / ``seed`` mask; a
            fastMRI ``.h5``'s k-space is taken as acquired. Nothing is simulated and there is no reference.
        center_fraction: fully-sampled centre fraction in (0, 1); ``None``: fastMRI's pairing ``0.32 /
            acceleration`` (4x: 0.08, 8x: 0.04).
        mask_type: ``"random"`` (fastMRI knee) or ``"equispaced"`` (fastMRI brain) column masks.
        seed: the volume's one mask (and simulated phase), an integer in ``[0, 2**32)`` as fastMRI accepts.
        slice_axis: the axis of SimpleITK's ``(k, j, i)`` array to reconstruct along (0, 1 or 2).
        series_id: the DICOM SeriesInstanceUID to read from a folder holding several series.
        simulate_phase: simulate the acquisition of the image given a smooth phase (evaluation).
        batch_size: slices per forward pass (>= 1).
        device: torch device to run on (one this machine has).
        threads: torch CPU threads (0: torch's default).
    """

    acceleration: float = 4.0
    undersampled: bool = False
    center_fraction: Optional[float] = None
    mask_type: str = "random"
    seed: int = 0
    slice_axis: int = 0
    series_id: Optional[str] = None
    simulate_phase: bool = False
    batch_size: int = 4
    device: str = "cpu"
    threads: int = 0

    def __post_init__(self) -> None:
        checked = {f.name: getattr(self, f.name) for f in fields(self)}
        acc = checked["acceleration"]
        if not _is_number(acc):
            raise SettingsError("acceleration", acc, "{name} must be a number, got {value!r}.")
        if not math.isfinite(acc):
            raise SettingsError("acceleration", acc, "{name} must be a finite number, got {value!r}.")
        if acc < 1:
            raise SettingsError(
                "acceleration",
                acc,
                "{name} must be >= 1, got {value!r}: an acceleration must be a number >= 1 (all k-space columns "
                "per sampled column).",
            )
        checked["acceleration"] = float(acc)
        cf = checked["center_fraction"]
        if cf is not None:
            if not _is_number(cf) or not 0 < cf < 1:
                raise SettingsError("center_fraction", cf, "{name} must be in (0, 1) or null, got {value!r}.")
            if cf * acc >= 1:
                raise SettingsError(
                    "center_fraction",
                    cf,
                    f"{{name}} must be below 1 / acceleration = {1 / acc:.4g}, got {{value!r}}: the fully sampled "
                    f"centre alone would hold more than the {acc:g}x acquisition's columns.",
                )
            checked["center_fraction"] = float(cf)
        if not isinstance(checked["mask_type"], str) or checked["mask_type"] not in MASK_FUNCS:
            raise SettingsError(
                "mask_type", checked["mask_type"], f"{{name}} must be one of {sorted(MASK_FUNCS)}, got {{value!r}}."
            )
        checked["seed"] = _integer("seed", checked["seed"], 0, MAX_SEED)
        checked["slice_axis"] = _integer("slice_axis", checked["slice_axis"], 0, 2)
        for key in ("undersampled", "simulate_phase"):
            checked[key] = _boolean(key, checked[key])
        if checked["simulate_phase"] and checked["undersampled"]:
            raise SettingsError(
                "simulate_phase",
                True,
                "{name} needs a fully-sampled input to simulate from, not an undersampled one (undersampled=True).",
            )
        sid = checked["series_id"]
        if sid is not None and (not isinstance(sid, str) or not sid.strip()):
            raise SettingsError(
                "series_id", sid, "{name} must be a DICOM SeriesInstanceUID (text) or null, got {value!r}."
            )
        checked["batch_size"] = _integer("batch_size", checked["batch_size"], 1, 2**31 - 1)
        checked["threads"] = _integer("threads", checked["threads"], 0, MAX_THREADS)
        checked["device"] = str(check_device(checked["device"], "device"))
        for key, value in checked.items():
            object.__setattr__(self, key, value)

    @property
    def effective_center_fraction(self) -> float:
        """``center_fraction``, or fastMRI's pairing with the acceleration: ``min(0.32 / acceleration, 0.5)``."""
        return self.center_fraction if self.center_fraction is not None else fastmri_center_fraction(self.acceleration)

    def replace(self, **changes: Any) -> "ReconSettings":
        """A copy with ``changes`` (checked like a new instance)."""
        return replace(self, **changes)

    def as_dict(self) -> Dict[str, Any]:
        """Plain JSON values, in field order."""
        return asdict(self)

    @classmethod
    def keys(cls) -> Tuple[str, ...]:
        """The field names, in order."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_mapping(cls, values: Optional[Mapping[str, Any]] = None, **more: Any) -> "ReconSettings":
        """Settings from ``values`` (and ``more``) as a command line or an HTTP form gives them: unknown keys are
        refused (naming the closest known one), a list stands for its first entry (MONAI Label shows choices as
        lists), numbers and booleans may be strings (``"8"``, ``"7.0"``, ``"true"``, ``"null"``).

        Raises:
            SettingsError: an unknown key, or a value the constructor refuses.
        """
        merged = {**(values or {}), **more}
        known = cls.keys()
        for key in merged:
            if key not in known:
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise SettingsError(
                    str(key), merged[key], f"unknown setting '{{name}}'{hint}; the settings are {', '.join(known)}."
                )
        return cls(**{key: _from_text(key, value) for key, value in merged.items()})


_OPTIONAL = ("center_fraction", "series_id")
_INTEGERS = ("seed", "slice_axis", "batch_size", "threads")


def _from_text(key: str, value: Any) -> Any:
    """A value given as text (or as a list of choices) in the type the field holds; anything else is left for the
    constructor to refuse."""
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    if isinstance(value, torch.device):
        return str(value)
    if key in ("undersampled", "simulate_phase"):
        try:
            return flag(value, key)
        except ValueError:
            raise SettingsError(key, value, "{name} must be true or false, got {value!r}.") from None
    if not isinstance(value, str) or key in ("mask_type", "device"):
        return value
    text = value.strip()
    if key in _OPTIONAL and text.lower() in ("", "none", "null"):
        return None
    if key == "series_id":
        return value
    try:
        number = float(text)
    except ValueError:
        return value  # refused by the constructor, with the text as given
    if key in _INTEGERS and number.is_integer():
        return int(number)
    return number
