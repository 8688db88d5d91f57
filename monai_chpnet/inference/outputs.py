"""What a reconstruction writes, and the checks that come before any work: ``<stem>_recon.nii.gz`` (with the
input's geometry), ``<stem>_zero_filled.nii.gz``, ``<stem>_figure.png``, ``<stem>_metrics.json`` and, when a trust
map was computed, ``<stem>_trust.nii.gz`` (same geometry).

The files are one :class:`~monai_chpnet.atomic.AtomicFiles` group: written, checked, then renamed together,
so a failure (a full disk included) leaves none of them. :func:`plan_outputs` checks a list of inputs before
anything is reconstructed: the output folder is writable, no two inputs share output names, every output name
fits the file system.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from monai_chpnet.atomic import AtomicFiles, check_name_fits, json_safe, write_json
from monai_chpnet.data.volumes import VOLUME_SUFFIXES, Geometry, write_volume
from monai_chpnet.figures import save_png_row, to_uint8
from monai_chpnet.inference.results import ReconstructionResult

__all__ = [
    "OUTPUT_SUFFIXES",
    "check_output_dir",
    "check_stem",
    "output_geometry",
    "volume_geometry",
    "output_paths",
    "output_stem",
    "plan_outputs",
    "result_report",
    "write_outputs",
]

PathLike = Union[str, os.PathLike]
#: what each output is called after its stem
OUTPUT_SUFFIXES = {
    "reconstruction": "_recon.nii.gz",
    "zero_filled": "_zero_filled.nii.gz",
    "figure": "_figure.png",
    "metrics": "_metrics.json",
}
TRUST_SUFFIX = "_trust.nii.gz"  #: the trust map's file, written only when one was computed
_FIGURE_TITLES = ("zero-filled", "reconstruction", "reference", "|error| x5")


def check_output_dir(output_dir: PathLike) -> Path:
    """Create ``output_dir`` if needed and check it is a writable folder; raise a one-line error otherwise."""
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"output directory {out} exists and is a file.")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-"):
            pass
    except OSError as e:
        raise PermissionError(f"output directory {out} is not writable ({e.strerror}).") from None
    return out


def output_stem(source: PathLike) -> str:
    """The stem of an input's outputs: its file (or folder) name without a volume / fastMRI / DICOM suffix."""
    name = Path(source).name or "volume"
    for suffix in (*VOLUME_SUFFIXES, ".h5", ".hdf5", ".dcm"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)] or "volume"
    return name


def check_stem(stem: str) -> str:
    """``stem`` if it names files inside the output folder: a plain, non-hidden file name (no folder, no ``..``).

    Raises:
        ValueError: naming the stem.
    """
    if not isinstance(stem, str) or not stem or stem.startswith(".") or Path(stem).name != stem or "\\" in stem:
        raise ValueError(
            f"stem {stem!r} must be a plain file name (no folder, no leading dot): outputs stay in the output folder."
        )
    return stem


def output_paths(output_dir: PathLike, stem: str) -> Dict[str, Path]:
    """``{"reconstruction", "zero_filled", "figure", "metrics", "trust"}`` paths of ``stem``, each name checked to
    fit."""
    out = Path(output_dir)
    suffixes = {**OUTPUT_SUFFIXES, "trust": TRUST_SUFFIX}
    paths = {kind: out / f"{check_stem(stem)}{suffix}" for kind, suffix in suffixes.items()}
    for path in paths.values():
        check_name_fits(out, path.name)
    return paths


def plan_outputs(
    inputs: Union[PathLike, Sequence[Union[PathLike, Mapping[str, Any]]]], output_dir: PathLike
) -> List[Dict[str, str]]:
    """Check the inputs (a path, or a list of paths or dicts with an ``"image"`` path) before reconstructing any; return
    them as MONAI data dicts ``{"image": path}``.

    Raises:
        ValueError: no inputs; two inputs whose outputs would have the same names (``a/brain.nii.gz`` and
            ``b/brain.nii.gz``).
        FileNotFoundError: an input that does not exist.
        NotADirectoryError / PermissionError / OSError: an output folder that is a file or is not writable, an
            output name longer than the file system allows.
    """
    items = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs or [])
    paths = [str(item["image"] if isinstance(item, Mapping) else item) for item in items]
    if not paths:
        raise ValueError("no input to reconstruct: the dataset is empty (give input_path, or a non-empty dataset).")
    check_output_dir(output_dir)
    first: Dict[str, int] = {}
    for i, path in enumerate(paths):
        if not Path(path).exists():
            raise FileNotFoundError(f"input not found: {path}")
        stem = output_stem(path)
        j = first.setdefault(stem, i)
        if j != i:
            raise ValueError(
                f"inputs {paths[j]} and {path} would both be written as {stem}_*: rename one or reconstruct them "
                "into different output directories."
            )
        output_paths(output_dir, stem)
    return [{"image": path} for path in paths]


def volume_geometry(geometry: Optional[Geometry], shape: Sequence[int]) -> Geometry:
    """The geometry to write a ``(slices, h, w)`` volume with: ``geometry``, or -- for inputs without one (fastMRI
    k-space) or on another grid -- 1 mm isotropic voxels at the origin, identity direction."""
    if geometry is None or geometry.array_shape != tuple(shape):
        n, h, w = (int(s) for s in shape)
        geometry = Geometry(
            spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0), direction=tuple(np.eye(3).ravel()), shape=(n, h, w)
        )
    return geometry


def output_geometry(result: ReconstructionResult) -> Geometry:
    """The geometry ``result``'s volumes are written with (:func:`volume_geometry`)."""
    return volume_geometry(result.geometry, result.reconstruction.shape)


def result_report(result: ReconstructionResult) -> Dict[str, Any]:
    """The metrics JSON of a result: source, realised acceleration, slices, seconds, metrics, warnings (strict
    JSON values: an undefined metric is ``None``)."""
    return json_safe(
        {
            "source": result.source,
            "acceleration": result.acceleration,
            "slices": int(result.reconstruction.shape[0]),
            "seconds": result.seconds,
            "metrics": result.metrics,
            "warnings": list(result.warnings),
            **(
                {"trust": {"method": result.trust_method, "seconds": result.trust_seconds}}
                if result.trust is not None
                else {}
            ),
        }
    )


def write_outputs(
    result: ReconstructionResult,
    output_dir: PathLike,
    stem: Optional[str] = None,
    figure_slice: Optional[int] = None,
) -> Dict[str, Path]:
    """Write ``<stem>_recon.nii.gz`` (with the input's geometry when known), ``<stem>_zero_filled.nii.gz``,
    ``<stem>_figure.png`` (zero-filled | reconstruction | reference | |error| x5 | trust, titled, for
    ``figure_slice``, default the middle slice), ``<stem>_metrics.json`` and, with a trust map,
    ``<stem>_trust.nii.gz``: all or none (see the module docstring).

    Returns:
        ``{"reconstruction", "zero_filled", "figure", "metrics"}`` paths, and ``"trust"`` with a trust map.

    Raises:
        ValueError: a ``stem`` that is not a plain file name, a ``figure_slice`` outside the volume.
        OSError: the folder or a file cannot be written (nothing of this result is left behind).
    """
    out = check_output_dir(output_dir)
    paths = output_paths(out, stem if stem is not None else output_stem(result.source))
    if result.trust is None:
        del paths["trust"]
    slices = result.reconstruction.shape[0]
    k = slices // 2 if figure_slice is None else int(figure_slice)
    if not 0 <= k < slices:
        raise ValueError(f"figure_slice {figure_slice} is outside the volume's {slices} slices.")
    panels = [result.zero_filled[k], result.reconstruction[k]]
    if result.reference is not None:
        panels += [result.reference[k], np.abs(result.reference[k] - result.reconstruction[k]) * 5.0]
    vmax = float(max(p.max() for p in panels[:3]))
    images = [to_uint8(p, vmax) for p in panels]
    titles = list(_FIGURE_TITLES[: len(panels)])
    if result.trust is not None:
        images.append(to_uint8(result.trust[k], 1.0))
        titles.append(f"trust ({result.trust_method})")
    geometry = output_geometry(result)
    with AtomicFiles() as files:
        write_volume(result.reconstruction, geometry, paths["reconstruction"], files)
        write_volume(result.zero_filled, geometry, paths["zero_filled"], files)
        if result.trust is not None:
            write_volume(result.trust, geometry, paths["trust"], files)
        save_png_row(images, paths["figure"], titles=titles, files=files)
        write_json(paths["metrics"], result_report(result), files=files)
    return paths
