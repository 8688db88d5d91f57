"""Helpers for values that reach bundle configs from the command line."""

from __future__ import annotations

from typing import Any

__all__ = ["flag"]

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
