"""Where ``monai_chpnet`` comes from, and what the module installs on first use.

Three ways to provide ``monai_chpnet`` to Slicer's Python, tried in this order:

1. it is importable already (``pip install`` of a monai-chpnet checkout into Slicer's Python);
2. ``$MONAI_CHPNET_SOURCE`` names a monai-chpnet source checkout;
3. this module sits inside a monai-chpnet checkout (``<checkout>/slicer_extension/CHPNetRecon``), as it does when
   added with the Extension Wizard's "Add module path" -- the usual case.

For 2 and 3 the checkout is put on ``sys.path`` (and on the background worker's ``PYTHONPATH``); its third-party
needs (torch, MONAI, ...) are listed in ``Resources/requirements.txt`` and installed by the module's widget through
Slicer's packaging helpers, on first use only. The shipped bundle is then found beside the package
(``monai_chpnet.inference.default_bundle_dir``). Nothing here needs Qt or imports ``monai_chpnet``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, List, Optional, Tuple

__all__ = [
    "SOURCE_ENV",
    "MODULE_DIR",
    "REQUIREMENTS_FILE",
    "read_requirements",
    "missing_requirements",
    "is_source_checkout",
    "find_source_checkout",
    "monai_chpnet_importable",
    "ensure_source_on_path",
    "monai_chpnet_root",
]

SOURCE_ENV = "MONAI_CHPNET_SOURCE"
#: ``CHPNetRecon/``: the module folder (holds ``CHPNetRecon.py``, ``CHPNetReconLib/`` and ``Resources/``).
MODULE_DIR = Path(__file__).resolve().parents[1]
REQUIREMENTS_FILE = MODULE_DIR / "Resources" / "requirements.txt"


def read_requirements(path: Path = REQUIREMENTS_FILE) -> List[str]:
    """Requirement specifiers of a ``requirements.txt`` (comments and blank lines dropped)."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line]


def _parse(spec: str) -> Tuple[str, Any]:
    """``(distribution name, packaging SpecifierSet or None)`` of a requirement specifier."""
    try:
        from packaging.requirements import Requirement
    except ImportError:  # no 'packaging': check presence only
        return re.match(r"[A-Za-z0-9._-]+", spec.strip()).group(0), None  # type: ignore[union-attr]
    requirement = Requirement(spec)
    return requirement.name, requirement.specifier


def missing_requirements(requirements: List[str]) -> List[str]:
    """The specifiers whose distribution is not installed, or is installed at a version outside the specifier."""
    missing = []
    for spec in requirements:
        name, specifier = _parse(spec)
        try:
            installed = version(name)
        except PackageNotFoundError:
            missing.append(spec)
            continue
        if specifier is not None and not specifier.contains(installed, prereleases=True):
            missing.append(spec)
    return missing


def is_source_checkout(folder: Path) -> bool:
    """Whether ``folder`` is a monai-chpnet source checkout (``setup.py`` beside ``monai_chpnet/inference/``)."""
    return (folder / "setup.py").is_file() and (folder / "monai_chpnet" / "inference" / "__init__.py").is_file()


def find_source_checkout() -> Optional[Path]:
    """``$MONAI_CHPNET_SOURCE`` if it is a checkout, else the checkout this module lives in, else ``None``."""
    env = os.environ.get(SOURCE_ENV)
    candidates = [Path(env)] if env else []
    candidates += list(MODULE_DIR.parents)[:3]
    return next((c.resolve() for c in candidates if is_source_checkout(c)), None)


def monai_chpnet_importable() -> bool:
    """Whether ``import monai_chpnet`` would find the package (without importing it)."""
    return importlib.util.find_spec("monai_chpnet") is not None


def ensure_source_on_path() -> Optional[Path]:
    """Make ``monai_chpnet`` importable from a source checkout when it is not installed.

    Returns:
        the checkout put on ``sys.path`` (pass it to the background worker's ``PYTHONPATH`` too), or ``None``
        when the package is installed or no checkout was found.
    """
    if monai_chpnet_importable():
        return None
    checkout = find_source_checkout()
    if checkout is not None and str(checkout) not in sys.path:
        sys.path.insert(0, str(checkout))
        importlib.invalidate_caches()
    return checkout


def monai_chpnet_root() -> Optional[Path]:
    """The folder this process imports ``monai_chpnet`` from (a checkout, or site-packages), or ``None``.

    The background worker gets it on its ``PYTHONPATH``, so it reconstructs with the same package as the GUI.
    """
    spec = importlib.util.find_spec("monai_chpnet")
    if spec is None or not spec.origin:
        return None
    return Path(spec.origin).resolve().parents[1]
