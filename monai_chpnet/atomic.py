"""The one way monai-chpnet writes a file: to a temporary sibling, checked, then renamed onto its final name.

A reader never sees a half-written file under a final name. Renaming alone is not enough: a writer that meets
a full disk may not say so -- ITK's NIfTI writer prints ``** ERROR: NWAD: wrote only 0 of ... bytes`` and
returns, leaving a short file that reads back as a volume with its last slices zeroed. So every file is checked
before the rename: its size when the bytes are known, and a format check otherwise (see :data:`VERIFIERS`; a
writer can pass its own, e.g. :func:`monai_chpnet.data.volumes.check_volume_file`). A failed write raises one
:class:`WriteError` (an ``OSError``) naming the file and leaves nothing behind: no temporary file, no final file.

Several files that belong together (a reconstruction, its zero-filled input, figure and metrics) are written as
one :class:`AtomicFiles` group: all are written and checked before the first is renamed, so an error in the last
leaves none of them.

Typical use::

    with atomic_path(out / "volume.nii.gz") as tmp:   # tmp ends in ".nii.gz", like the final name
        sitk.WriteImage(image, str(tmp), True)
    write_json(out / "metrics.json", report)           # strict JSON: NaN / inf become null
"""

from __future__ import annotations

import json
import math
import os
import uuid
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

__all__ = [
    "VERIFIERS",
    "AtomicFiles",
    "WriteError",
    "atomic_path",
    "check_name_fits",
    "json_safe",
    "write_bytes",
    "write_json",
    "write_text",
]

PathLike = Union[str, os.PathLike]
Verifier = Callable[[Path], None]  #: raises ``OSError`` when the file at the path is incomplete
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the IEND chunk every complete PNG ends with


def _png_complete(path: Path) -> None:
    with open(path, "rb") as f:
        f.seek(max(path.stat().st_size - len(_PNG_END), 0))
        if f.read() != _PNG_END:
            raise OSError("the PNG written has no end chunk (incomplete)")


def _zip_complete(path: Path) -> None:
    """PyTorch checkpoints are zip archives: their central directory is at the end of the file."""
    try:
        with zipfile.ZipFile(path):
            pass
    except zipfile.BadZipFile as err:
        raise OSError(f"the archive written is incomplete ({err})") from None


def _hdf5_complete(path: Path) -> None:
    import h5py

    try:
        with h5py.File(path, "r"):
            pass
    except OSError as err:
        raise OSError(f"the HDF5 file written is incomplete ({str(err).splitlines()[0]})") from None


#: format checks by final suffix, used when a writer passes none (files of other suffixes: non-empty)
VERIFIERS: Dict[str, Verifier] = {
    ".png": _png_complete,
    ".pt": _zip_complete,
    ".ts": _zip_complete,
    ".h5": _hdf5_complete,
    ".hdf5": _hdf5_complete,
}


def check_name_fits(folder: PathLike, name: str) -> None:
    """Refuse a file name the file system cannot hold (``NAME_MAX``, usually 255 bytes), before any work.

    Raises:
        OSError: naming the file and the limit.
    """
    try:
        limit = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    if len(os.fsencode(name)) > limit:
        raise OSError(
            f"cannot write {Path(folder) / name}: the file name has {len(os.fsencode(name))} bytes, more than the "
            f"{limit} the file system allows; use a shorter input name or stem."
        )


def _temporary_name(path: Path, suffix: str) -> Path:
    """A fresh hidden sibling of ``path`` ending in ``suffix`` (writers that choose a format by extension pick the
    final one) and short enough for any final name that fits."""
    base = path.name[: -len(suffix)] if suffix and path.name.endswith(suffix) else path.name
    return path.with_name(f".{base[:48]}.{uuid.uuid4().hex[:12]}.tmp{suffix}")


def _suffix_of(path: Path) -> str:
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


class WriteError(OSError, RuntimeError):
    """A file could not be written completely: one line naming it and why. An ``OSError``, and a ``RuntimeError``
    too, as SimpleITK's own write errors are, so callers catching either keep catching it."""


def _reason(err: BaseException) -> str:
    """The last line of an I/O error (SimpleITK's are multi-line ``RuntimeError``s)."""
    text = getattr(err, "strerror", None) or str(err).strip() or type(err).__name__
    return text.splitlines()[-1].strip()


class AtomicFiles:
    """Files written together: :meth:`write` (or :meth:`stage`) writes each one to a temporary path; leaving the
    ``with`` block without an error checks every file and renames them all into place, an error deletes them all.

    Raises (on exit):
        WriteError: ``cannot write <final path>: <reason>``, one line; nothing of the group is left.
    """

    def __init__(self) -> None:
        self._staged: List[Tuple[Path, Path, Optional[Verifier], Optional[int]]] = []

    def stage(
        self,
        path: PathLike,
        suffix: Optional[str] = None,
        verify: Optional[Verifier] = None,
        size: Optional[int] = None,
    ) -> Path:
        """The temporary path to write ``path``'s content to (parent folders are created).

        Args:
            path: the final name.
            suffix: the ending the temporary name keeps (default: the final name's, ``.nii.gz`` counted whole).
            verify: the format check (default: :data:`VERIFIERS` by suffix, else non-empty).
            size: the exact size in bytes the file must have, when the writer knows it.
        """
        final = Path(path)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise WriteError(f"cannot write {final}: {_reason(err)}") from None
        check_name_fits(final.parent, final.name)
        suffix = _suffix_of(final) if suffix is None else suffix
        tmp = _temporary_name(final, suffix)
        self._staged.append((final, tmp, verify if verify is not None else VERIFIERS.get(suffix), size))
        return tmp

    def write(
        self,
        path: PathLike,
        writer: Callable[[Path], Any],
        suffix: Optional[str] = None,
        verify: Optional[Verifier] = None,
        size: Optional[int] = None,
    ) -> Path:
        """Stage ``path`` (as :meth:`stage`) and call ``writer(temporary path)``; its I/O errors (``OSError``, and the
        ``RuntimeError`` SimpleITK raises) become one :class:`WriteError` naming ``path``. Returns ``path``."""
        tmp = self.stage(path, suffix, verify, size)
        try:
            writer(tmp)
        except (OSError, RuntimeError) as err:
            raise WriteError(f"cannot write {path}: {_reason(err)}") from None
        return Path(path)

    @staticmethod
    def _check(tmp: Path, verify: Optional[Verifier], size: Optional[int]) -> None:
        if not tmp.is_file():
            raise OSError("nothing was written")
        actual = tmp.stat().st_size
        if size is not None and actual != size:
            raise OSError(f"{actual} of {size} bytes were written (disk full?)")
        if size is None and actual == 0:
            raise OSError("an empty file was written (disk full?)")
        if verify is not None:
            verify(tmp)

    def commit(self) -> None:
        """Check every staged file, then rename them all; on an error delete them all and raise it."""
        try:
            for final, tmp, verify, size in self._staged:
                try:
                    self._check(tmp, verify, size)
                except OSError as err:
                    raise WriteError(f"cannot write {final}: {_reason(err)}") from None
            for final, tmp, _, _ in self._staged:
                os.replace(tmp, final)
        finally:
            self.discard()

    def discard(self) -> None:
        """Delete every staged temporary file that is still there."""
        for _, tmp, _, _ in self._staged:
            tmp.unlink(missing_ok=True)
        self._staged.clear()

    def __enter__(self) -> "AtomicFiles":
        return self

    def __exit__(self, exc_type: Any, exc: Optional[BaseException], tb: Any) -> None:
        if exc is None:
            self.commit()
        else:
            self.discard()  # the error itself goes on to the caller


@contextmanager
def atomic_path(
    path: PathLike, suffix: Optional[str] = None, verify: Optional[Verifier] = None, size: Optional[int] = None
) -> Iterator[Path]:
    """A temporary path to write ``path`` through, for writers that need a ``with`` block (``h5py.File``,
    ``torch.save``): a group of one (see :class:`AtomicFiles`); the block's I/O errors name ``path``."""
    with AtomicFiles() as files:
        tmp = files.stage(path, suffix, verify, size)
        try:
            yield tmp
        except (OSError, RuntimeError) as err:
            raise WriteError(f"cannot write {path}: {_reason(err)}") from None


def write_bytes(path: PathLike, data: bytes, files: Optional[AtomicFiles] = None) -> Path:
    """Write ``data`` to ``path`` atomically, checked to hold exactly ``len(data)`` bytes (in ``files`` if given)."""
    if files is not None:
        return files.write(path, lambda tmp: tmp.write_bytes(data), size=len(data))
    with AtomicFiles() as group:
        group.write(path, lambda tmp: tmp.write_bytes(data), size=len(data))
    return Path(path)


def write_text(path: PathLike, text: str, files: Optional[AtomicFiles] = None) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`write_bytes`)."""
    return write_bytes(path, text.encode("utf-8"), files)


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float replaced by ``None``: strict JSON has no NaN or Infinity, so an
    undefined metric (the PSNR of a perfect reconstruction, an SSIM of a too-small slice) is ``null``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def write_json(path: PathLike, payload: Any, indent: int = 2, files: Optional[AtomicFiles] = None) -> Path:
    """Write ``payload`` as strict JSON (:func:`json_safe`; ``allow_nan=False`` guards the rest) atomically."""
    return write_text(path, json.dumps(json_safe(payload), indent=indent, allow_nan=False) + "\n", files)
