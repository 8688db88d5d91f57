"""The reconstruction parameters a MONAI Label request carries, read at the API boundary.

MONAI Label merges an infer task's ``config`` (what ``GET /info/`` shows a client) with the request's ``params``
JSON and its own keys into one dictionary. :func:`parse_recon_params` reads the reconstruction's keys from it into
:class:`~monai_chpnet.inference.ReconSettings` -- which checks them, as it does for every other front end -- and
turns anything a client can get wrong, a misspelled key included, into an :class:`InvalidRequest` that names the
key, the value and what is accepted. The task answers those with a 4xx instead of MONAI Label's bare "500 Internal
Server Error".

This module knows no MONAI Label and no HTTP framework: only status codes travel with the error.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass
from typing import Any, Dict, Iterable, Mapping, Optional, Sequence

from monai_chpnet.data.volumes import VOLUME_SUFFIXES
from monai_chpnet.inference.settings import ReconSettings, SettingsError
from monai_chpnet.inference.trust import TRUST_METHODS
from monai_chpnet.transforms.masks import MASK_FUNCS

__all__ = [
    "InvalidRequest",
    "MONAILABEL_KEYS",
    "RECON_DEFAULTS",
    "REQUEST_KEYS",
    "ReconParams",
    "SR_DEFAULTS",
    "SRParams",
    "parse_recon_params",
    "parse_sr_params",
]

#: the task's ``config``: defaults a client sees in ``GET /info/`` and may override in ``params``. A list offers
#: choices (MONAI Label's clients show a drop-down); its first entry is the default.
RECON_DEFAULTS: Dict[str, Any] = {
    "acceleration": ReconSettings.acceleration,
    "mask_type": sorted(MASK_FUNCS, key=lambda name: name != ReconSettings.mask_type),
    "seed": ReconSettings.seed,
    "undersampled": ReconSettings.undersampled,
    "slice_axis": ReconSettings.slice_axis,
    "result_extension": list(VOLUME_SUFFIXES),
    "trust": ["none", *TRUST_METHODS],
}
#: the settings a request may set (the rest of :class:`ReconSettings` -- device, batch size -- is the server's)
SETTINGS_KEYS = ("acceleration", "undersampled", "center_fraction", "mask_type", "seed", "slice_axis")
#: the keys a client may send in ``params``
REQUEST_KEYS = (*SETTINGS_KEYS, "result_extension", "trust")
#: keys MONAI Label itself puts into an infer request, or its clients send for any model: not a client's mistake
MONAILABEL_KEYS = frozenset(
    {
        "model", "image", "image_path", "label", "session", "session_id", "device", "description", "save_label",
        "label_tag", "result_dtype", "result_compress", "result_write_to_file", "logging", "client_id",
        "label_info", "output", "model_filename", "skip_writer", "cache_transforms", "cache_transforms_in_memory",
        "cache_transforms_ttl", "roi_size", "sw_batch_size", "sw_overlap", "largest_cc", "pipeline", "latencies",
    }
)  # fmt: skip


class InvalidRequest(ValueError):
    """A request the client can fix. ``status_code`` is the HTTP status to answer with: 404 for an image that is
    not there, 422 for a parameter or an input file that cannot be reconstructed."""

    def __init__(self, message: str, status_code: int = 422) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True)
class ReconParams:
    """One request's reconstruction parameters: the settings it may choose (checked by
    :class:`~monai_chpnet.inference.ReconSettings`, see there), the returned image's format,
    ``result_extension``, one of :data:`~monai_chpnet.data.volumes.VOLUME_SUFFIXES`, and the trust map to return
    beside it, ``trust`` (one of :data:`~monai_chpnet.inference.trust.TRUST_METHODS`, or ``None``)."""

    # defaults: ReconSettings' own, so the two cannot drift apart
    acceleration: float = ReconSettings.acceleration
    undersampled: bool = ReconSettings.undersampled
    center_fraction: Optional[float] = ReconSettings.center_fraction
    mask_type: str = ReconSettings.mask_type
    seed: int = ReconSettings.seed
    slice_axis: int = ReconSettings.slice_axis
    result_extension: str = VOLUME_SUFFIXES[0]
    trust: Optional[str] = None

    def reconstruct_kwargs(self) -> Dict[str, Any]:
        """Keyword arguments of :func:`monai_chpnet.inference.reconstruct_file`."""
        return {key: getattr(self, key) for key in SETTINGS_KEYS}

    def settings(self, **server: Any) -> ReconSettings:
        """The :class:`~monai_chpnet.inference.ReconSettings` of this request, with the ``server``'s own fields
        (``device``, ``batch_size``)."""
        return ReconSettings(**self.reconstruct_kwargs(), **server)

    def to_json(self) -> Dict[str, Any]:
        """The settings as plain JSON values (echoed in the result so a client knows what was run)."""
        return asdict(self)


def check_keys(params: Iterable[str], known: Iterable[str] = (), keys: Sequence[str] = REQUEST_KEYS) -> None:
    """Refuse a key that is neither one of the task's parameters ``keys`` nor MONAI Label's own (nor in ``known``,
    e.g. the task's config): a misspelled ``acclereation`` would otherwise be ignored and the default run.

    Raises:
        InvalidRequest: (422) naming the key and the closest parameter.
    """
    allowed = set(keys) | MONAILABEL_KEYS | set(known)
    for key in params:
        if key not in allowed and not str(key).endswith("_meta_dict"):
            close = difflib.get_close_matches(str(key), keys, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise InvalidRequest(f"unknown parameter {key!r}{hint}; the parameters are {', '.join(keys)}.")


def _default(value: Any) -> Any:
    """A config value as a scalar: a list of choices stands for its first entry."""
    return value[0] if isinstance(value, (list, tuple)) and value else value


def parse_recon_params(request: Mapping[str, Any], known: Iterable[str] = ()) -> ReconParams:
    """Read and check the reconstruction keys of a MONAI Label request (config defaults merged with ``params``).

    Keys (all optional; MONAI Label's own keys, :data:`MONAILABEL_KEYS`, and ``known`` are ignored, any other key
    is refused): ``acceleration`` (number >= 1), ``center_fraction`` (number in (0, 1) or null), ``mask_type``
    (``"random"`` / ``"equispaced"``), ``seed`` (integer in [0, 2**32 - 1]), ``undersampled`` (bool or
    ``"true"``/``"false"``: the image is already undersampled -- acquired with the mask that ``acceleration``,
    ``center_fraction``, ``mask_type`` and ``seed`` describe -- so nothing is simulated and there is no
    reference), ``slice_axis`` (0, 1 or 2), ``result_extension`` (``".nii.gz"``, ``".nii"``, ``".nrrd"``,
    ``".mha"``; the dot is optional), ``trust`` (``"none"``, ``"teacher"``, ``"tta"``, ``"correction"``: a trust
    map returned in the result JSON). Numbers and booleans may be strings, as form fields are.

    Raises:
        InvalidRequest: (422) naming the first bad key, its value and what is accepted.
    """
    check_keys(request, known)
    values = {
        key: request.get(key, RECON_DEFAULTS.get(key))
        for key in SETTINGS_KEYS
        if key in request or key in RECON_DEFAULTS
    }
    try:
        settings = ReconSettings.from_mapping(values)
    except SettingsError as err:
        raise InvalidRequest(str(err)) from None
    raw = _default(request.get("result_extension", RECON_DEFAULTS["result_extension"]))
    extension = f".{raw}" if isinstance(raw, str) and not raw.startswith(".") else raw
    if extension not in VOLUME_SUFFIXES:
        raise InvalidRequest(f"result_extension must be one of {list(VOLUME_SUFFIXES)}, got {raw!r}.")
    trust = _choice(request, "trust", RECON_DEFAULTS)
    trust = None if trust == "none" else trust
    settings_values = {key: getattr(settings, key) for key in SETTINGS_KEYS}
    return ReconParams(**settings_values, result_extension=extension, trust=trust)


#: the super-resolution task's ``config`` (see :data:`RECON_DEFAULTS`)
SR_DEFAULTS: Dict[str, Any] = {
    "scale": [2, 4],
    "degradation": ["kspace", "bicubic"],
    "evaluate": False,
    "slice_axis": 0,
    "result_extension": list(VOLUME_SUFFIXES),
    "trust": ["none", *TRUST_METHODS],
}


@dataclass(frozen=True)
class SRParams:
    """One super-resolution request: ``scale`` (2 / 4), ``degradation`` (``"kspace"`` / ``"bicubic"``: how the
    low-resolution image was made, which picks the weights), ``evaluate`` (the image is a high-resolution reference:
    degrade it first and score), ``slice_axis``, ``result_extension`` and ``trust`` as :class:`ReconParams`."""

    scale: int = 2
    degradation: str = "kspace"
    evaluate: bool = False
    slice_axis: int = 0
    result_extension: str = VOLUME_SUFFIXES[0]
    trust: Optional[str] = None

    def to_json(self) -> Dict[str, Any]:
        return asdict(self)


def _choice(request: Mapping[str, Any], key: str, defaults: Mapping[str, Any]) -> Any:
    """``request[key]`` (default: the config's first choice), one of the config's choices (digits may be text)."""
    choices = list(defaults[key])
    value = _default(request.get(key, choices))
    if all(isinstance(c, int) for c in choices) and not isinstance(value, bool):
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        elif isinstance(value, float) and value.is_integer():
            value = int(value)
    if isinstance(value, bool) or value not in choices:
        raise InvalidRequest(f"{key} must be one of {choices}, got {value!r}.")
    return value


def parse_sr_params(request: Mapping[str, Any], known: Iterable[str] = ()) -> SRParams:
    """Read and check the super-resolution keys of a MONAI Label request (config defaults merged with ``params``);
    any other key that is not MONAI Label's is refused.

    Raises:
        InvalidRequest: (422) naming the first bad key, its value and what is accepted.
    """
    check_keys(request, known, tuple(SR_DEFAULTS))
    try:
        settings = ReconSettings.from_mapping({"slice_axis": request.get("slice_axis", SR_DEFAULTS["slice_axis"]),
                                               "undersampled": request.get("evaluate", False)})  # fmt: skip
    except SettingsError as err:
        raise InvalidRequest(str(err).replace("undersampled", "evaluate")) from None
    raw = _default(request.get("result_extension", SR_DEFAULTS["result_extension"]))
    extension = f".{raw}" if isinstance(raw, str) and not raw.startswith(".") else raw
    if extension not in VOLUME_SUFFIXES:
        raise InvalidRequest(f"result_extension must be one of {list(VOLUME_SUFFIXES)}, got {raw!r}.")
    trust = _choice(request, "trust", SR_DEFAULTS)
    return SRParams(
        scale=_choice(request, "scale", SR_DEFAULTS),
        degradation=_choice(request, "degradation", SR_DEFAULTS),
        evaluate=settings.undersampled,
        slice_axis=settings.slice_axis,
        result_extension=extension,
        trust=None if trust == "none" else trust,
    )
