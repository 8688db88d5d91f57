"""MR volumes through SimpleITK: read NIfTI / NRRD / MHA files and DICOM series, write results back in place.

:func:`read_volume` returns a float32 array ``(slices, H, W)`` -- the stack of 2-D images a slice-wise
reconstruction network works on -- and a :class:`Geometry` that remembers where the voxels sit in patient
space and which array axis was chosen as the slice axis; :func:`write_volume` inverts the re-ordering exactly
and writes the array with the input's spacing, origin and direction.

Axis convention: SimpleITK's NumPy view of an image with index ``(i, j, k)`` is ``array[k, j, i]``.
``slice_axis`` names an axis of that array (0: ``k``, 1: ``j``, 2: ``i``), which is moved to the front; the
other two keep their order. For a volume stored axially (most NIfTI files, axial DICOM series) 0 gives axial,
1 coronal and 2 sagittal slices. Spacing, origin and direction stay in SimpleITK's ``(i, j, k)`` order, LPS
patient coordinates in mm.

Only 3-D scalar images are accepted: a 2-D image is an error (use the image-folder datasets for 2-D
images; a single DICOM file is read by SimpleITK as a 3-D volume of one slice and is accepted).

A NIfTI file shorter than its header says (a truncated download or copy, a write that met a full disk) is
refused: ITK reads one without a word, filling the missing voxels with zeros. :func:`check_volume_file` checks it
from the header and, for ``.nii.gz``, the gzip trailer (no decompression); writes are checked the same way.
"""

from __future__ import annotations

import gzip
import shutil
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

import numpy as np
import SimpleITK as sitk
from monai.config import PathLike

from monai_chpnet.atomic import AtomicFiles

try:  # ISA-L's gzip: a standard stream, about 14x faster than zlib on float32 voxels (which barely compress)
    from isal import igzip as _gzip
except ImportError:  # pragma: no cover - isal is a dependency; zlib gives the same file, slower
    _gzip = gzip  # type: ignore[assignment]

__all__ = ["VOLUME_SUFFIXES", "Geometry", "check_volume_file", "read_volume", "write_volume"]

VOLUME_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha")  # single-file formats write_volume produces


@dataclass(frozen=True)
class Geometry:
    """Physical placement of a volume and the slice re-ordering applied by :func:`read_volume`.

    Attributes:
        spacing: voxel size in mm along SimpleITK's ``(i, j, k)``.
        origin: LPS position (mm) of voxel ``(0, 0, 0)``.
        direction: 3 x 3 direction cosines, row-major (SimpleITK's ``GetDirection()``).
        shape: shape of SimpleITK's array ``(k, j, i)``, before the slice axis was moved.
        slice_axis: the axis of that array that became axis 0 of the returned ``(slices, H, W)`` array.
    """

    spacing: Tuple[float, float, float]
    origin: Tuple[float, float, float]
    direction: Tuple[float, ...]
    shape: Tuple[int, int, int]
    slice_axis: int = 0

    @property
    def array_shape(self) -> Tuple[int, int, int]:
        """Shape ``(slices, H, W)`` of the arrays :func:`read_volume` returns and :func:`write_volume` takes."""
        return _slice_first(self.shape, self.slice_axis)

    @property
    def array_spacing(self) -> Tuple[float, float, float]:
        """Voxel size in mm along the ``(slices, H, W)`` axes (slice distance, row spacing, column spacing)."""
        return _slice_first(tuple(reversed(self.spacing)), self.slice_axis)


def _slice_first(values: Tuple, axis: int) -> Tuple:
    """``values`` (one per axis of the ``(k, j, i)`` array) re-ordered like ``np.moveaxis(array, axis, 0)``."""
    rest = list(values)
    return (rest.pop(axis), *rest)


def _nifti_expected_size(header: bytes) -> Optional[int]:
    """Bytes a single-file NIfTI-1 / NIfTI-2 image holds according to its header (``vox_offset`` + data), or
    ``None`` when ``header`` is not one (too short, an Analyze pair, an unknown layout)."""
    for order in "<>":
        if len(header) >= 348 and struct.unpack(order + "i", header[:4])[0] == 348 and header[344:347] == b"n+1":
            dims = struct.unpack(order + "8h", header[40:56])
            bitpix = struct.unpack(order + "h", header[72:74])[0]
            offset = int(struct.unpack(order + "f", header[108:112])[0])
            break
        if len(header) >= 540 and struct.unpack(order + "i", header[:4])[0] == 540 and header[4:7] == b"n+2":
            dims = struct.unpack(order + "8q", header[16:80])
            bitpix = struct.unpack(order + "h", header[14:16])[0]
            offset = struct.unpack(order + "q", header[168:176])[0]
            break
    else:
        return None
    if not 1 <= dims[0] <= 7 or bitpix <= 0 or any(d < 0 for d in dims[1 : dims[0] + 1]):
        return None
    voxels = 1
    for d in dims[1 : dims[0] + 1]:
        voxels *= max(int(d), 1)
    return offset + voxels * bitpix // 8


def _gzip_length(path: Path) -> Optional[int]:
    """Uncompressed length of a gzip file read to its end, ``None`` when the stream stops early (truncated)."""
    total = 0
    try:
        with gzip.open(path, "rb") as f:
            while chunk := f.read(1 << 22):
                total += len(chunk)
    except (EOFError, zlib.error, gzip.BadGzipFile):
        return None
    return total


def _nifti_shortfall(path: Path) -> Optional[Tuple[str, int]]:
    """``(what the file holds, bytes its header announces)`` when a NIfTI file holds fewer bytes than its header
    announces, else ``None`` (complete, not NIfTI, or not readable as such: its reader names the problem).

    ``.nii``: the file size. ``.nii.gz``: the gzip trailer's uncompressed length (the file's last 4 bytes, modulo
    2**32), which a stream cut short does not end with; only if it differs (several gzip members, or a truncated
    file) is the stream read to its end to tell which.
    """
    name = path.name.lower()
    if not name.endswith((".nii", ".nii.gz")) or not path.is_file():
        return None
    packed = name.endswith(".gz")
    try:
        with gzip.open(path, "rb") if packed else open(path, "rb") as f:
            expected = _nifti_expected_size(f.read(540))
    except (OSError, EOFError, zlib.error):
        return None
    if expected is None:
        return None
    if not packed:
        size: Optional[int] = path.stat().st_size
    else:
        with open(path, "rb") as f:
            f.seek(-4, 2)
            if int.from_bytes(f.read(4), "little") == expected % 2**32:
                return None
        size = _gzip_length(path)
    if size is not None and size >= expected:
        return None
    return ("a gzip stream that stops early" if size is None else f"{size} bytes"), expected


def check_volume_file(path: Path) -> None:
    """Refuse a NIfTI file (``.nii`` / ``.nii.gz``) that holds fewer bytes than its header announces (a truncated
    download or copy, a write that met a full disk); other formats are left to their readers, which refuse a
    truncated file themselves.

    Raises:
        OSError: naming the file, what it holds and the bytes its header announces.
    """
    short = _nifti_shortfall(Path(path))
    if short is not None:
        raise OSError(f"volume {path} is incomplete: it holds {short[0]}, its header announces {short[1]} bytes.")


def _check_series_positions(path: Path, reader: sitk.ImageSeriesReader, count: int) -> None:
    """Refuse a DICOM series whose ``count`` files are not one stack of parallel, evenly spaced slices.

    Several echoes, phases or planes can share one SeriesInstanceUID; stacked together they would give a volume
    with repeated or interleaved slices and a wrong slice spacing, silently (ITK only warns). Reads the per-file
    tags that ``reader`` kept while reading (``MetaDataDictionaryArrayUpdateOn``); files without
    ImagePositionPatient / ImageOrientationPatient are not checked.
    """
    if count < 2:
        return
    keys = ("0020|0032", "0020|0037")  # ImagePositionPatient, ImageOrientationPatient
    if not all(reader.HasMetaDataKey(i, k) for i in range(count) for k in keys):
        return
    positions, orient = (
        np.array([[float(v) for v in reader.GetMetaData(i, k).split("\\")] for i in range(count)]) for k in keys
    )
    if orient.shape[1] != 6 or np.abs(orient - orient[0]).max() > 1e-3:
        raise ValueError(
            f"DICOM series in {path} mixes slice orientations: several planes share one series; "
            "put each plane's files in its own folder."
        )
    normal = np.cross(orient[0, :3], orient[0, 3:])
    gaps = np.diff(np.sort(positions @ normal))
    repeated = int((gaps < 1e-3).sum())
    if repeated:
        raise ValueError(
            f"DICOM series in {path}: {count} files at only {count - repeated} slice positions -- several "
            "echoes, phases or acquisitions share one series; put each one's files in its own folder."
        )
    if gaps.max() - gaps.min() > max(0.01 * float(gaps.mean()), 1e-3):
        raise ValueError(
            f"DICOM series in {path} has uneven slice spacing ({gaps.min():.4g} to {gaps.max():.4g} mm): missing "
            "slices? A volume needs one spacing."
        )


def _read_image(path: Path, series_id: Optional[str]) -> sitk.Image:
    """A file through ``sitk.ReadImage``, a folder as a DICOM series; errors name the path."""
    if not path.exists():
        raise FileNotFoundError(f"volume {path} does not exist.")
    check_volume_file(path)
    try:
        if not path.is_dir():
            return sitk.ReadImage(str(path))
        ids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(path))
        if not ids:
            raise FileNotFoundError(f"no DICOM series in folder {path} (a folder is read as one DICOM series).")
        if series_id is None and len(ids) > 1:
            raise ValueError(
                f"folder {path} holds {len(ids)} DICOM series {list(ids)}; choose one with series_id "
                "(command line --series-id, bundle --series_id) or give each series its own folder."
            )
        if series_id is not None and series_id not in ids:
            raise ValueError(f"DICOM series {series_id!r} is not in folder {path} (it holds {list(ids)}).")
        files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(path), series_id or ids[0])
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(files)
        reader.MetaDataDictionaryArrayUpdateOn()  # each file's tags, read in the same pass, for the check below
        image = reader.Execute()
    except RuntimeError as err:
        raise OSError(f"cannot read volume {path}: {str(err).strip().splitlines()[-1]}") from None
    _check_series_positions(path, reader, len(files))
    return image


def read_volume(path: PathLike, slice_axis: int = 0, series_id: Optional[str] = None) -> Tuple[np.ndarray, Geometry]:
    """Read a 3-D MR volume as float32 ``(slices, H, W)`` and its :class:`Geometry`.

    Args:
        path: a NIfTI / NRRD / MHA / single DICOM file (anything ``SimpleITK.ReadImage`` reads), or a folder
            holding a DICOM series.
        slice_axis: which axis of SimpleITK's ``(k, j, i)`` array to slice along (see the module docstring).
        series_id: the DICOM SeriesInstanceUID to read when the folder holds several series.

    Returns:
        ``(array, geometry)``; ``write_volume(array, geometry, out)`` writes it back in the same place.

    Raises:
        FileNotFoundError: missing path, or a folder without a DICOM series.
        OSError: a file SimpleITK cannot read (the message names it).
        ValueError: a 2-D or 4-D image, a multi-component (e.g. RGB) image, a bad ``slice_axis``, or an
            ambiguous DICOM folder.
    """
    if slice_axis not in (0, 1, 2):
        raise ValueError(f"slice_axis must be 0, 1 or 2 (an axis of the (k, j, i) array), got {slice_axis}.")
    path = Path(path)
    image = _read_image(path, series_id)
    if image.GetDimension() != 3:
        raise ValueError(
            f"volume {path} is {image.GetDimension()}-D with size {image.GetSize()}; read_volume expects one 3-D "
            + ("volume (select a single volume of the series first)." if image.GetDimension() > 3 else "volume.")
        )
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise ValueError(
            f"volume {path} has {image.GetNumberOfComponentsPerPixel()} components per voxel; expected a scalar image."
        )
    array = sitk.GetArrayViewFromImage(image).astype(np.float32)  # one copy of the voxels, not two
    geometry = Geometry(
        spacing=tuple(image.GetSpacing()),  # type: ignore[arg-type]
        origin=tuple(image.GetOrigin()),  # type: ignore[arg-type]
        direction=tuple(image.GetDirection()),
        shape=tuple(array.shape),  # type: ignore[arg-type]
        slice_axis=slice_axis,
    )
    del image  # the file's own buffer, before the re-ordering below may copy the voxels again
    return np.ascontiguousarray(np.moveaxis(array, slice_axis, 0)), geometry


def _check_written(path: Path) -> None:
    """The check a written volume passes before it is renamed: NIfTI by its header (see :func:`check_volume_file`),
    other formats by reading them back (their readers refuse a truncated file)."""
    if path.name.lower().endswith((".nii", ".nii.gz")):
        short = _nifti_shortfall(path)
        if short is not None:
            raise OSError(f"the volume written holds {short[0]}, its header announces {short[1]} bytes (disk full?)")
        return
    try:
        sitk.ReadImage(str(path))
    except RuntimeError as err:
        raise OSError(f"the volume written does not read back ({str(err).strip().splitlines()[-1]})") from None


def write_volume(array: np.ndarray, geometry: Geometry, path: PathLike, files: Optional[AtomicFiles] = None) -> Path:
    """Write a ``(slices, H, W)`` array with ``geometry`` (the inverse of :func:`read_volume`), atomically.

    The slice axis is moved back, spacing / origin / direction are set from ``geometry`` and the image is
    written to a temporary file in the destination folder (same suffix, so SimpleITK picks the same writer),
    checked to hold what its header announces, then moved into place (:mod:`monai_chpnet.atomic`). The pixel type
    is the array's dtype.

    Args:
        array: ``(slices, H, W)`` with ``geometry.array_shape``.
        geometry: from :func:`read_volume`.
        path: destination ending in one of :data:`VOLUME_SUFFIXES`; parent folders are created.
        files: a group of files being written together: the volume is staged in it and renamed with the others.

    Returns:
        the path written.

    Raises:
        ValueError: an unsupported suffix, or an array whose shape does not match the geometry.
        OSError: the file could not be written completely (nothing is left under its name).
    """
    path = Path(path)
    suffix = next((s for s in VOLUME_SUFFIXES if path.name.lower().endswith(s)), None)
    if suffix is None:
        raise ValueError(f"cannot write {path}: supported volume formats are {', '.join(VOLUME_SUFFIXES)}.")
    array = np.asarray(array)
    if array.shape != geometry.array_shape:
        raise ValueError(
            f"array of shape {array.shape} does not match the geometry's (slices, H, W) = {geometry.array_shape}."
        )
    image = sitk.GetImageFromArray(np.ascontiguousarray(np.moveaxis(array, 0, geometry.slice_axis)))
    image.SetSpacing(geometry.spacing)
    image.SetOrigin(geometry.origin)
    image.SetDirection(geometry.direction)

    def write(tmp: Path) -> None:
        if suffix != ".nii.gz":
            sitk.WriteImage(image, str(tmp), useCompression=True)
            return
        raw = tmp.with_name(
            tmp.name[: -len(".gz")]
        )  # ITK writes the NIfTI, ISA-L compresses it (ITK's gzip: 10x slower)
        try:
            sitk.WriteImage(image, str(raw), useCompression=False)
            with open(raw, "rb") as src, _gzip.open(tmp, "wb", compresslevel=1) as dst:
                shutil.copyfileobj(src, dst, 1 << 22)
        finally:
            raw.unlink(missing_ok=True)

    if files is not None:
        return files.write(path, write, suffix, verify=_check_written)
    with AtomicFiles() as group:
        group.write(path, write, suffix, verify=_check_written)
    return path
