"""Atomic file writing shared by the data writers: write a temporary sibling, then ``os.replace`` it."""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def atomic_path(path: Path, suffix: str) -> Iterator[Path]:
    """Yield a fresh temporary path next to ``path`` ending in ``suffix``; when the block succeeds, move it onto
    ``path`` with ``os.replace`` (readers never see a half-written file), otherwise delete it.

    The suffix is kept so that writers that choose their format by extension (SimpleITK) pick the right one;
    the file is created by the writer itself, so it gets the usual permissions (unlike ``tempfile.mkstemp``).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    stem = path.name[: -len(suffix)] if path.name.lower().endswith(suffix) else path.name
    tmp = path.with_name(f".{stem}.{uuid.uuid4().hex[:12]}.tmp{suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
