"""The reconstruction parameters a MONAI Label request carries, checked at the API boundary.

MONAI Label merges an infer task's ``config`` (what ``GET /info/`` shows a client) with the request's ``params``
JSON into one dictionary; :func:`parse_recon_params` reads the reconstruction's keys from it and turns anything a
client can get wrong into an :class:`InvalidRequest` that names the key, the value and what is accepted. The
task answers those with a 4xx instead of MONAI Label's bare "500 Internal Server Error".

This module knows no MONAI Label and no HTTP framework: only status codes travel with the error.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Dict, Mapping, Optional

from monai_chpnet.config_utils import flag
from monai_chpnet.data.volumes import VOLUME_SUFFIXES
from monai_chpnet.transforms.masks import MASK_FUNCS

__all__ = ["InvalidRequest", "ReconParams", "RECON_DEFAULTS", "parse_recon_params"]

#: the task's ``config``: defaults a client sees in ``GET /info/`` and may override in ``params``. A list offers
#: choices (MONAI Label's clients show a drop-down); its first entry is the default.
RECON_DEFAULTS: Dict[str, Any] = {
    "acceleration": 4.0,
    "mask_type": sorted(MASK_FUNCS, key=lambda name: name != "random"),
    "seed": 0,
    "undersampled": False,
    "slice_axis": 0,
    "result_extension": list(VOLUME_SUFFIXES),
}


class InvalidRequest(ValueError):
    """A request the client can fix. ``status_code`` is the HTTP status to answer with: 404 for an image that is
    not there, 422 for a parameter or an input file that cannot be reconstructed."""

    def __init__(self, message: str, status_code: int = 422) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True)
class ReconParams:
    """One request's reconstruction settings.

    Attributes:
        acceleration: the simulated acceleration or, with ``undersampled``, the acquisition's (its mask, with
            ``center_fraction`` / ``mask_type`` / ``seed``, tells data consistency which columns were measured).
        undersampled: the image is already undersampled (no simulation, no reference, no metrics).
        center_fraction: fully-sampled centre fraction; ``None`` pairs it with the acceleration as fastMRI does.
        mask_type: a :data:`~monai_chpnet.transforms.masks.MASK_FUNCS` name.
        seed: seeds the volume's one mask (same seed, same mask).
        slice_axis: the axis of SimpleITK's ``(k, j, i)`` array to reconstruct slice by slice.
        result_extension: the returned image's format, one of
            :data:`~monai_chpnet.data.volumes.VOLUME_SUFFIXES`.
    """

    acceleration: float = 4.0
    undersampled: bool = False
    center_fraction: Optional[float] = None
    mask_type: str = "random"
    seed: int = 0
    slice_axis: int = 0
    result_extension: str = ".nii.gz"

    def reconstruct_kwargs(self) -> Dict[str, Any]:
        """Keyword arguments of :func:`monai_chpnet.inference.reconstruct_file`."""
        return {
            "acceleration": self.acceleration,
            "undersampled": self.undersampled,
            "center_fraction": self.center_fraction,
            "mask_type": self.mask_type,
            "seed": self.seed,
            "slice_axis": self.slice_axis,
        }

    def to_json(self) -> Dict[str, Any]:
        """The settings as plain JSON values (echoed in the result so a client knows what was run)."""
        return asdict(self)


def _default(value: Any) -> Any:
    """A config value as a scalar: a list of choices stands for its first entry."""
    return value[0] if isinstance(value, (list, tuple)) and value else value


def _number(value: Any, name: str) -> float:
    """A finite real number from a JSON number or a numeric string (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidRequest(f"{name} must be a number, got {value!r}.")
    try:
        number = float(value)
    except ValueError:
        raise InvalidRequest(f"{name} must be a number, got {value!r}.") from None
    if not math.isfinite(number):
        raise InvalidRequest(f"{name} must be a finite number, got {value!r}.")
    return number


def _integer(value: Any, name: str, low: int, high: int) -> int:
    """An integer in ``[low, high]`` from a JSON number or a numeric string (``2.0`` is 2, ``2.5`` is an error)."""
    number = _number(value, name)
    if not number.is_integer() or not low <= number <= high:
        raise InvalidRequest(f"{name} must be an integer from {low} to {high}, got {value!r}.")
    return int(number)


def parse_recon_params(request: Mapping[str, Any]) -> ReconParams:
    """Read and check the reconstruction keys of a MONAI Label request (config defaults merged with ``params``).

    Keys (all optional; other keys, MONAI Label's own, are ignored):
        ``acceleration`` (number >= 1), ``center_fraction`` (number in (0, 1) or null), ``mask_type``
        (``"random"`` / ``"equispaced"``), ``seed`` (integer in [0, 2**32 - 1]), ``undersampled`` (bool or
        ``"true"``/``"false"``: the image is already undersampled -- acquired with the mask that ``acceleration``,
        ``center_fraction``, ``mask_type`` and ``seed`` describe -- so nothing is simulated and there is no
        reference), ``slice_axis`` (0, 1 or 2), ``result_extension`` (``".nii.gz"``, ``".nii"``, ``".nrrd"``,
        ``".mha"``; the dot is optional).

    Raises:
        InvalidRequest: (422) naming the first bad key, its value and what is accepted.
    """

    def get(key: str) -> Any:
        return _default(request.get(key, RECON_DEFAULTS.get(key)))

    try:
        undersampled = flag(get("undersampled"), "undersampled")
    except ValueError as err:
        raise InvalidRequest(str(err)) from None
    acceleration = _number(get("acceleration"), "acceleration")
    if acceleration < 1:
        raise InvalidRequest(f"acceleration must be >= 1 (k-space columns per sampled column), got {acceleration:g}.")

    center_fraction = get("center_fraction")
    if center_fraction is not None:
        center_fraction = _number(center_fraction, "center_fraction")
        if not 0 < center_fraction < 1:
            raise InvalidRequest(f"center_fraction must be in (0, 1), got {center_fraction:g}.")

    mask_type = get("mask_type")
    if not isinstance(mask_type, str) or mask_type not in MASK_FUNCS:
        raise InvalidRequest(f"mask_type must be one of {sorted(MASK_FUNCS)}, got {mask_type!r}.")

    extension = get("result_extension")
    extension = f".{extension}" if isinstance(extension, str) and not extension.startswith(".") else extension
    if extension not in VOLUME_SUFFIXES:
        raise InvalidRequest(
            f"result_extension must be one of {list(VOLUME_SUFFIXES)}, got {get('result_extension')!r}."
        )

    return ReconParams(
        acceleration=acceleration,
        undersampled=undersampled,
        center_fraction=center_fraction,
        mask_type=mask_type,
        seed=_integer(get("seed"), "seed", 0, 2**32 - 1),
        slice_axis=_integer(get("slice_axis"), "slice_axis", 0, 2),
        result_extension=extension,
    )
