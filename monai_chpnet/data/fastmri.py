"""fastMRI single-coil HDF5 files: a lazy slice-level dataset, and the MONAI whole-volume loader.

A single-coil fastMRI file (``singlecoil_{train,val,test}/file*.h5``) holds::

    kspace               complex64 (slices, H, W)       e.g. 640 x 368 for knee (read-out oversampled)
    reconstruction_esc   float32   (slices, 320, 320)   absent in the test split
    ismrmrd_header       bytes                          ISMRMRD XML (a dataset, not an attribute)
    attrs: max, norm, acquisition, patient_id        max / norm: max and L2 norm of the target volume

:class:`FastMRISliceDataset` indexes the files once (array shapes and the small header only) and reads one
slice per item, opening the file inside ``__getitem__``: nothing is loaded per volume and no HDF5 handle is
shared across ``DataLoader`` worker processes.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import h5py
import numpy as np
import torch
from monai.apps.reconstruction.fastmri_reader import FastMRIReader
from monai.config import PathLike
from monai.transforms import LoadImaged, apply_transform
from monai.utils import FastMRIKeys
from torch.utils.data import Dataset

from monai_chpnet.keys import ReconKeys

__all__ = [
    "FASTMRI_SPLITS",
    "FastMRISliceDataset",
    "FastMRIVolume",
    "fastmri_volume_loader",
    "parse_ismrmrd_header",
    "read_fastmri_volume",
]

FASTMRI_SPLITS = ("train", "val", "test")
TARGET_KEY = "reconstruction_esc"
_ISMRMRD_NS = {"m": "http://www.ismrm.org/ISMRMRD"}
_ATTRS = ("max", "norm", "acquisition", "patient_id")


def parse_ismrmrd_header(xml: Union[bytes, str]) -> Dict[str, Any]:
    """Read the sizes fastMRI uses from an ISMRMRD header (what ``fastmri.data.SliceDataset`` reads).

    Returns a dict with whichever of these the header has:

    * ``encoding_size``: ``(x, y, z)`` of ``encoding/encodedSpace/matrixSize``;
    * ``recon_size``: ``(x, y, z)`` of ``encoding/reconSpace/matrixSize``; fastMRI crops the image to
      ``(recon_size[0], recon_size[1])`` rows x columns (320 x 320 for knee);
    * ``padding_left``, ``padding_right``: the k-space columns ``[padding_left, padding_right)`` that were
      acquired, from ``encodingLimits/kspace_encoding_step_1`` (columns outside are zero padding).

    Raises:
        ValueError: if the XML does not parse.
    """
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError as err:
        raise ValueError(f"ismrmrd_header is not valid XML: {err}") from None

    def size(*path: str) -> Optional[Tuple[int, int, int]]:
        node = root.find("/".join(f"m:{p}" for p in ("encoding", *path, "matrixSize")), _ISMRMRD_NS)
        if node is None:
            return None
        return tuple(int(node.findtext(f"m:{a}", "1", _ISMRMRD_NS)) for a in "xyz")  # type: ignore[return-value]

    meta: Dict[str, Any] = {}
    enc, rec = size("encodedSpace"), size("reconSpace")
    if enc is not None:
        meta["encoding_size"] = enc
    if rec is not None:
        meta["recon_size"] = rec
    limits = root.find("m:encoding/m:encodingLimits/m:kspace_encoding_step_1", _ISMRMRD_NS)
    if enc is not None and limits is not None:
        padding_left = enc[1] // 2 - int(limits.findtext("m:center", "0", _ISMRMRD_NS))
        meta["padding_left"] = padding_left
        meta["padding_right"] = padding_left + int(limits.findtext("m:maximum", "0", _ISMRMRD_NS)) + 1
    return meta


@dataclass(frozen=True)
class _Volume:
    """What indexing learns about one file: where it is, how many slices, and its per-file metadata."""

    path: Path
    num_slices: int
    has_target: bool
    metadata: Dict[str, Any]


def _index_file(path: Path) -> _Volume:
    """Open ``path`` once, check it is a single-coil fastMRI file and read its shapes, attributes and header."""
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise OSError(f"cannot read fastMRI file {path}: not a readable HDF5 file ({err}).") from None
    with f:
        if "kspace" not in f:
            raise KeyError(f"fastMRI file {path} has no 'kspace' dataset (keys: {sorted(f.keys())}).")
        kspace = f["kspace"]
        if kspace.ndim == 4:
            raise ValueError(
                f"multi-coil file {path} (kspace shape {kspace.shape} = slices x coils x H x W) given to the "
                "single-coil reader; it expects kspace of shape (slices, H, W)."
            )
        if kspace.ndim != 3:
            raise ValueError(f"fastMRI file {path}: 'kspace' must be (slices, H, W), got shape {kspace.shape}.")
        if kspace.dtype.kind != "c":
            raise TypeError(
                f"fastMRI file {path}: 'kspace' must be complex (complex64), got real dtype {kspace.dtype}."
            )
        has_target = TARGET_KEY in f
        if has_target and (f[TARGET_KEY].ndim != 3 or f[TARGET_KEY].shape[0] != kspace.shape[0]):
            raise ValueError(
                f"fastMRI file {path}: '{TARGET_KEY}' of shape {f[TARGET_KEY].shape} does not match "
                f"'kspace' of shape {kspace.shape} (expected (slices, h, w) with the same slice count)."
            )
        metadata = {k: _plain(f.attrs[k]) for k in _ATTRS if k in f.attrs}
        if "ismrmrd_header" in f:
            try:
                metadata.update(parse_ismrmrd_header(f["ismrmrd_header"][()]))
            except ValueError as err:
                raise ValueError(f"fastMRI file {path}: {err}") from None
        return _Volume(path, int(kspace.shape[0]), has_target, metadata)


def _plain(value: Any) -> Any:
    """HDF5 attribute -> Python scalar/str (numpy scalars and bytes do not collate or print nicely)."""
    if isinstance(value, bytes):
        return value.decode()
    return value.item() if isinstance(value, np.generic) else value


def _list_files(source: Union[PathLike, Sequence[PathLike]], split: Optional[str]) -> List[Path]:
    """Resolve the dataset's ``source``/``split`` arguments to a sorted list of ``.h5`` files."""
    if isinstance(source, (str, os.PathLike)):
        folder = Path(source)
        if split is None and folder.is_file():  # one file given by itself
            return [folder]
        if split is not None:
            if split not in FASTMRI_SPLITS:
                raise ValueError(f"split must be one of {FASTMRI_SPLITS}, got {split!r}.")
            folder = folder / f"singlecoil_{split}"
        if not folder.is_dir():
            raise FileNotFoundError(
                f"fastMRI folder {folder} does not exist; expected a folder of .h5 files"
                + (" (official layout: <root>/singlecoil_train, singlecoil_val, singlecoil_test)." if split else ".")
            )
        files = sorted(folder.glob("*.h5"))
        if not files:
            raise FileNotFoundError(f"no fastMRI .h5 files in {folder}.")
        return files
    if split is not None:
        raise ValueError("split= selects a folder under a root; it cannot be combined with a list of files.")
    files = [Path(p) for p in source]
    if not files:
        raise ValueError("FastMRISliceDataset was given an empty list of files.")
    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"fastMRI file(s) not found: {', '.join(missing[:5])}"
            + (f" and {len(missing) - 5} more." if len(missing) > 5 else ".")
        )
    return files


@dataclass
class FastMRIVolume:
    """A whole single-coil fastMRI file in memory (see :func:`read_fastmri_volume`).

    Attributes:
        kspace: complex64 ``(slices, H, W)``, centred.
        target: float32 ``(slices, h, w)`` ``reconstruction_esc``, or ``None`` (the test split has none).
        metadata: the file's attributes and header sizes, as :class:`FastMRISliceDataset` items carry them.
    """

    path: Path
    kspace: np.ndarray
    target: Optional[np.ndarray]
    metadata: Dict[str, Any]


def _count_non_finite(array: np.ndarray) -> int:
    """How many NaN / inf values ``array`` holds (one min/max pass when it has none)."""
    values = array.view(np.float32) if np.iscomplexobj(array) else array
    if values.size == 0 or np.isfinite(values.min()) and np.isfinite(values.max()):
        return 0
    return int(values.size - np.isfinite(values).sum())


def read_fastmri_volume(path: PathLike) -> FastMRIVolume:
    """Read a single-coil fastMRI file whole: k-space, target (if any) and metadata, checked.

    Raises:
        OSError: not a readable HDF5 file.
        ValueError: no ``kspace`` dataset, real-valued or multi-coil k-space, no slices, a target that does not
            match the k-space, or NaN / inf values in either -- each naming the file.
    """
    path = Path(path)
    try:
        volume = _index_file(path)
    except (KeyError, TypeError) as err:  # the format errors of the slice dataset, as the value errors they are
        raise ValueError(err.args[0] if err.args else str(err)) from None
    with h5py.File(path, "r") as f:
        shape = f["kspace"].shape
        if volume.num_slices == 0 or min(shape[1:]) < 1:
            raise ValueError(f"fastMRI file {path} has no k-space to reconstruct: 'kspace' has shape {shape}.")
        kspace = f["kspace"][()].astype(np.complex64, copy=False)
        target = f[TARGET_KEY][()].astype(np.float32, copy=False) if volume.has_target else None
    for name, array in (("kspace", kspace), (TARGET_KEY, target)):
        bad = _count_non_finite(array) if array is not None else 0
        if bad:
            raise ValueError(f"fastMRI file {path}: {name!r} of shape {array.shape} has {bad} NaN/inf value(s).")
    return FastMRIVolume(path, kspace, target, dict(volume.metadata))


class FastMRISliceDataset(Dataset):
    """Slice-level dataset over fastMRI single-coil HDF5 files, read lazily.

    Each item is a dict (keys from :class:`~monai_chpnet.keys.ReconKeys` where they exist)::

        "kspace":      complex64 tensor (1, H, W)     the slice's fully-sampled, centred k-space
        "target":      float32 tensor (1, h, w)       reconstruction_esc (absent if the file has none)
        "fname":       str                            file name, e.g. "file1000001.h5"
        "slice_num":   int
        "max", "norm", "acquisition", "patient_id":    the file's attributes, where present
        "encoding_size", "recon_size", "padding_left", "padding_right":  from ismrmrd_header, where present

    then ``transform`` (e.g. a MONAI ``Compose`` of dictionary transforms) is applied with
    :func:`monai.transforms.apply_transform`.

    Args:
        source: a folder of ``.h5`` files, the root of the official layout (with ``split``), one ``.h5`` file or a list of files.
        split: ``"train"``, ``"val"`` or ``"test"``: read ``<source>/singlecoil_<split>``.
        transform: callable applied to each item dict.
        sample_rate: fraction of the slices to keep, drawn at random with ``seed`` (fastMRI's ``sample_rate``).
        volume_sample_rate: fraction of the volumes (files) to keep, whole, drawn with ``seed``; unchosen files
            are never opened. At most one of the two rates may be below 1; at least one slice/volume is kept.
        seed: seed of the sub-sampling draws.

    Raises:
        FileNotFoundError: missing or empty folder.
        OSError: a file that is not readable HDF5 (the message names it).
        KeyError: a file without ``kspace``.
        ValueError: a multi-coil file, or shapes that do not match.
        TypeError: real-valued k-space.
    """

    def __init__(
        self,
        source: Union[PathLike, Sequence[PathLike]],
        split: Optional[str] = None,
        transform: Optional[Callable] = None,
        sample_rate: float = 1.0,
        volume_sample_rate: float = 1.0,
        seed: int = 0,
    ) -> None:
        for name, rate in (("sample_rate", sample_rate), ("volume_sample_rate", volume_sample_rate)):
            if not 0.0 < rate <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {rate}.")
        if sample_rate < 1.0 and volume_sample_rate < 1.0:
            raise ValueError("give either sample_rate or volume_sample_rate, not both.")
        rng = np.random.default_rng(seed)
        files = _list_files(source, split)
        if volume_sample_rate < 1.0:
            keep = rng.choice(len(files), max(1, round(len(files) * volume_sample_rate)), replace=False)
            files = [files[i] for i in sorted(keep)]
        self.volumes: List[_Volume] = [_index_file(p) for p in files]
        self.slices: List[Tuple[int, int]] = [
            (v, s) for v, vol in enumerate(self.volumes) for s in range(vol.num_slices)
        ]
        if sample_rate < 1.0:
            keep = rng.choice(len(self.slices), max(1, round(len(self.slices) * sample_rate)), replace=False)
            self.slices = [self.slices[i] for i in sorted(keep)]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.slices)

    def __getitem__(self, index: int) -> Any:
        v, slice_num = self.slices[index]
        volume = self.volumes[v]
        with h5py.File(volume.path, "r") as f:  # opened per item: fork-safe with DataLoader workers
            kspace = torch.from_numpy(f["kspace"][slice_num].astype(np.complex64))[None]
            item: Dict[str, Any] = {ReconKeys.KSPACE: kspace}
            if volume.has_target:
                item[ReconKeys.TARGET] = torch.from_numpy(f[TARGET_KEY][slice_num].astype(np.float32))[None]
        item.update(fname=volume.path.name, slice_num=slice_num, **volume.metadata)
        return apply_transform(self.transform, item) if self.transform is not None else item


def fastmri_volume_loader(keys: Sequence[str] = (FastMRIKeys.KSPACE,)) -> LoadImaged:
    """The MONAI way to load a whole fastMRI volume: ``LoadImaged`` with ``FastMRIReader``, kept complex.

    ``FastMRIReader`` is passed explicitly because ``LoadImage`` never selects it by itself, and
    ``dtype=np.complex64`` because the default float dtype silently drops the imaginary part of k-space.
    Applied to ``{"kspace": "path/to/file.h5"}`` it gives a complex64 ``MetaTensor`` of shape
    ``(slices, H, W)`` (the whole volume: use :class:`FastMRISliceDataset` for training) whose ``meta`` holds
    the attributes ``max``, ``norm``, ``acquisition``, ``patient_id`` and ``filename``. ``FastMRIReader`` also
    puts a copy of the k-space and a zero ``mask`` of the same shape into ``meta``.
    """
    return LoadImaged(keys=list(keys), reader=FastMRIReader(), dtype=np.complex64)
