"""Helpers for the bundle configs run from the command line: switches given as strings, one-line errors."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

__all__ = ["flag", "number", "whole", "install_error_hook"]

_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def flag(value: Any, name: str = "flag") -> bool:
    """A boolean config switch from a bool or a command-line string.

    ``python -m monai.bundle run ... --feature_kd false`` passes the *string* ``'false'`` (fire parses only
    Python's ``False`` as a bool), which is truthy: every switch goes through this instead of ``if @switch``.

    Raises:
        ValueError: for anything but a bool, 0/1 or true/false/yes/no/on/off (any case), naming ``name``.
    """
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{name} must be true or false, got {value!r}.")


def number(value: Any, name: str = "value") -> float:
    """A float config setting from a number or numeric string (``'0.3'``), naming ``name`` when it is neither."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number, got {value!r}.")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}.") from None


def whole(value: Any, name: str = "value") -> int:
    """An integer config setting from an integral number or string (``3``, ``3.0``, ``'3'``), naming ``name``."""
    as_float = number(value, name)
    if not as_float.is_integer():
        raise ValueError(f"{name} must be an integer, got {value!r}.")
    return int(as_float)


class _EngineTermination(logging.Filter):
    """Drops Ignite's "run is terminating due to exception: <message>" log lines: the error hook reports the same
    error, by its root cause (MONAI's message there is "applying transform <object at 0x...>")."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name.startswith("ignite.engine") and "terminating due to exception" in record.getMessage())


def install_error_hook() -> None:
    """Report uncaught errors as one line naming their root cause (``error: FileNotFoundError: network weights
    not found: ...``) instead of the config parser's chained traceback, and exit with status 2; Ignite's own
    report of the error (two log lines naming MONAI's wrapper) is left out. The bundle configs call this in
    ``initialize``; set ``MONAI_CHPNET_DEBUG=1`` for the full traceback and every log line."""
    if os.environ.get("MONAI_CHPNET_DEBUG"):
        return
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _EngineTermination) for f in handler.filters):
            handler.addFilter(_EngineTermination())

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
