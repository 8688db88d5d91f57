"""Sample data shipped with the package (about 3.6 MB, nothing is downloaded): see ``README.md`` in this folder.

Training and evaluation sources are kept apart:

* :func:`sample_training_files` / :func:`sample_training_dataset`: MNI T1 template slices (axial, sagittal,
  coronal; below the demo slab) and scikit-image photographs as luma -- the only files meant for training;
* :func:`heldout_evaluation_files`: the demo volume (:func:`sample_volume_path`, 20 axial slices whose voxels
  appear in no training image), three real MR sources from other scanners (a brain and an abdominal DICOM
  slice, an EPI brain volume) and raw complex k-space of a phantom -- never train on these;
* :func:`sample_unlabelled_files`: pictures in neither split, for distillation on inputs without a reference
  (their truth is never read);
* :func:`heldout_unlabelled_slices` / :func:`write_heldout_scored_half`: the held-out volumes with at least two
  slices split in two halves -- even slice indices as in-domain inputs without a reference (what a site has in
  bulk: its own acquisitions, no fully-sampled truth), odd ones scored -- so a method distilled on the first
  half is compared with the others on the second alone.

Re-create the files with ``scripts/make_sample_data.py``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from monai_chpnet.data.folders import ImageFileDataset, MixedDataset

__all__ = [
    "SAMPLE_DIR",
    "heldout_evaluation_files",
    "heldout_slice_halves",
    "heldout_unlabelled_slices",
    "sample_training_dataset",
    "sample_training_files",
    "sample_unlabelled_files",
    "sample_volume_path",
    "write_heldout_scored_half",
]

SAMPLE_DIR = Path(__file__).resolve().parent


def sample_volume_path() -> Path:
    """The demo volume ``sample_t1_brain.nii.gz``: MNI ICBM152 T1, 20 axial slices of 256 x 256, uint16,
    1 x 1 x 2 mm, with the template's LPS geometry. Read it with :func:`monai_chpnet.data.read_volume`."""
    return SAMPLE_DIR / "sample_t1_brain.nii.gz"


def heldout_evaluation_files() -> Dict[str, Path]:
    """Evaluation-only sources, never trained on: ``"t1_demo"`` (the demo volume, in-distribution), three real
    MR sources from other scanners, subjects, anatomies and contrasts (out-of-distribution):
    ``"mr_small"`` (a 64 x 64 brain DICOM slice, pydicom's ``MR_small.dcm`` from NEMA's WG04 set),
    ``"abdomen_mr"`` (a 300 x 484 Siemens abdominal DICOM slice) and ``"epi_brain"`` (12 slices of a 128 x 96
    T2*-weighted EPI brain volume), which :func:`~monai_chpnet.data.read_volume` reads as ``(slices, H, W)``
    magnitude volumes, and ``"phantom_gre"``: raw complex k-space of a phantom (one 160 x 160 Siemens gradient-echo
    slice, fastMRI single-coil ``.h5``), the one real acquisition with the scanner's own phase."""
    held = SAMPLE_DIR / "heldout"
    return {
        "t1_demo": sample_volume_path(),
        "mr_small": held / "MR_small.dcm",
        "abdomen_mr": held / "abdomen_mr.dcm",
        "epi_brain": held / "epi_brain.nii.gz",
        "phantom_gre": held / "phantom_gre.h5",
    }


def sample_training_files() -> Dict[str, List[Path]]:
    """The training images: ``{"mri": [template slices], "natural": [photographs]}``, sorted PNG paths
    (grayscale uint8, smallest side 96 px)."""
    return {kind: sorted((SAMPLE_DIR / "train" / kind).glob("*.png")) for kind in ("mri", "natural")}


def sample_unlabelled_files() -> List[Path]:
    """Inputs without a reference for distillation: sorted PNG paths of the ``unlabelled/`` photographs (grayscale
    uint8; scikit-image pictures in neither the training nor the validation split, and unlike the held-out MR).
    Their pixels are only ever used to simulate an undersampled acquisition; training never reads them as a
    target (:func:`monai_chpnet.data.selection.unlabelled_dataset`)."""
    return sorted((SAMPLE_DIR / "unlabelled").glob("*.png"))


def sample_training_dataset(transform: Optional[Callable] = None, ratio: float = 1.0, seed: int = 0) -> MixedDataset:
    """The shipped training images as a :class:`~monai_chpnet.data.MixedDataset` (MRI : natural = 1 : ``ratio``
    per epoch), items ``{"target": (1, H, W) in [0, 1], "fname": str}`` passed through ``transform``."""
    files = sample_training_files()
    root = SAMPLE_DIR / "train"
    mri = ImageFileDataset(files["mri"], root=root, transform=transform)
    natural = ImageFileDataset(files["natural"], root=root, transform=transform)
    return MixedDataset(mri, natural, ratio=ratio, seed=seed)


def heldout_slice_halves(num_slices: int) -> Tuple[List[int], List[int]]:
    """``(unlabelled, scored)`` slice indices of a held-out volume: the even and the odd ones (both empty for a
    single slice, which is not split: it would leave nothing to score)."""
    if num_slices < 2:
        return [], []
    return list(range(0, num_slices, 2)), list(range(1, num_slices, 2))


def _split_volumes() -> Dict[str, Tuple[np.ndarray, Any]]:
    """The held-out image volumes with at least two slices: ``{source: (array (slices, H, W), geometry)}``."""
    from monai_chpnet.data.volumes import read_volume

    volumes = {}
    for source, path in heldout_evaluation_files().items():
        if path.suffix.lower() in (".h5", ".hdf5"):
            continue  # raw k-space of one slice
        array, geometry = read_volume(path)
        if array.shape[0] >= 2:
            volumes[source] = (array, geometry)
    return volumes


def heldout_unlabelled_slices() -> List[Dict[str, Any]]:
    """The unlabelled half of the held-out volumes (:func:`heldout_slice_halves`): items
    ``{"target": float32 (1, H, W) in [0, 1] (divided by the volume's maximum), "fname": "<source>_<index>"}``, to be
    passed through a training recipe and then stripped of their truth
    (:func:`monai_chpnet.data.selection.unlabelled_dataset` ``"heldout"``): only the simulated undersampled
    acquisition is ever used."""
    items = []
    for source, (array, _) in _split_volumes().items():
        scale = float(array.max()) or 1.0
        for i in heldout_slice_halves(array.shape[0])[0]:
            items.append({"target": (array[i : i + 1] / scale).astype(np.float32), "fname": f"{source}_{i:03d}"})
    return items


def write_heldout_scored_half(folder) -> Dict[str, Path]:
    """Write the scored half (odd slices) of each split held-out volume to ``folder/<source>_scored.nii.gz``
    (the volume's geometry, slice spacing doubled) and return ``{source: path}``, for
    :func:`monai_chpnet.inference.evaluate_files`."""
    from monai_chpnet.data.volumes import write_volume

    folder = Path(folder)
    written = {}
    for source, (array, geometry) in _split_volumes().items():
        scored = array[heldout_slice_halves(array.shape[0])[1]]
        shape = list(geometry.shape)
        shape[geometry.slice_axis] = scored.shape[0]
        spacing = list(geometry.spacing)
        spacing[2 - geometry.slice_axis] *= 2  # (i, j, k) order; slice_axis indexes (k, j, i)
        half = replace(geometry, shape=tuple(shape), spacing=tuple(spacing))
        written[source] = write_volume(scored, half, folder / f"{source}_scored.nii.gz")
    return written
