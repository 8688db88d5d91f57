"""Pick a training/validation dataset by name: what the bundle's ``dataset`` override selects.

=============  ===============================================================================================
``sample``     the shipped images (MNI T1 slices in three planes + photographs, 1:1), default; no download
``fastmri``    fastMRI single-coil ``singlecoil_train`` / ``singlecoil_val`` folders under ``root``
``brain_tumor`` Brain Tumor MRI folders ``Training/<class>/*.jpg`` / ``Testing/<class>/*.jpg`` under ``root``
``natural``    any folder of PNG/JPEG/BMP photographs (Flickr2K, DIV2K, Set5, ...) under ``root``
=============  ===============================================================================================

Image kinds yield ``{"target": (1, H, W)}`` passed through ``image_transform``; ``fastmri`` yields k-space slices
passed through ``kspace_transform``. The sample's validation split (every 9th template slice, every 5th
photograph) is disjoint from its training split; the held-out evaluation volume is in neither.

:func:`unlabelled_dataset` picks inputs without a reference for distillation (``DistillationTrainer``'s
``unlabelled_data_loader``): ``sample`` (the shipped ``unlabelled/`` photographs, in neither split above),
``natural`` (a folder of images), ``heldout`` (the even slices of the shipped held-out volumes with at least two
slices: in-domain inputs without a reference, the odd slices being the ones to score, see
:func:`~monai_chpnet.data.sample.heldout_unlabelled_slices`), ``fastmri`` (a folder of fully-sampled ``.h5`` files,
undersampled like the training data) or ``fastmri_acquired`` (a folder of prospectively undersampled ``.h5`` files
such as fastMRI's ``singlecoil_test``: pass ``kspace_transforms(acquired=True)`` as ``kspace_transform`` so their
k-space is taken as acquired, never masked again); every item goes through its transforms, then its truth
(``target`` and the fully-sampled ``kspace``) is deleted, so only what an undersampled acquisition gives reaches the
trainer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional, Sequence, Union

from torch.utils.data import Dataset

from monai_chpnet.data.fastmri import FastMRISliceDataset
from monai_chpnet.data.folders import BrainTumorMRIDataset, ImageFileDataset, MixedDataset, NaturalImageDataset
from monai_chpnet.data.sample import (
    SAMPLE_DIR,
    heldout_unlabelled_slices,
    sample_training_files,
    sample_unlabelled_files,
)
from monai_chpnet.keys import ReconKeys

__all__ = [
    "DATASET_KINDS",
    "UNLABELLED_KINDS",
    "training_dataset",
    "validation_dataset",
    "unlabelled_dataset",
    "drop_reference",
]

DATASET_KINDS = ("sample", "fastmri", "brain_tumor", "natural")
UNLABELLED_KINDS = ("sample", "heldout", "fastmri", "fastmri_acquired", "natural")


def _every(files, k: int, val: bool):
    return [f for i, f in enumerate(files) if (i % k == 0) == val]


def training_dataset(
    kind: str = "sample",
    split: str = "train",
    root: Optional[Union[str, Path]] = None,
    image_transform: Optional[Callable] = None,
    kspace_transform: Optional[Callable] = None,
    natural_ratio: float = 1.0,
    seed: int = 0,
) -> Dataset:
    """The ``split`` (``"train"`` or ``"val"``) of dataset ``kind`` (see the module docstring).

    Raises:
        ValueError: unknown ``kind`` / ``split``, or ``root`` missing for a kind that needs one.
    """
    if kind not in DATASET_KINDS:
        raise ValueError(f"unknown dataset kind {kind!r}; choose one of {DATASET_KINDS}.")
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}.")
    val = split == "val"
    if kind == "sample":
        files = sample_training_files()
        base = SAMPLE_DIR / "train"
        mri = ImageFileDataset(_every(files["mri"], 9, val), root=base, transform=image_transform)
        natural = ImageFileDataset(_every(files["natural"], 5, val), root=base, transform=image_transform)
        return MixedDataset(mri, natural, ratio=natural_ratio, seed=seed) if not val else _concat(mri, natural)
    if root is None:
        raise ValueError(f"dataset kind {kind!r} needs its root folder (the bundle's dataset_dir).")
    if kind == "fastmri":
        return FastMRISliceDataset(root, split="val" if val else "train", transform=kspace_transform, seed=seed)
    if kind == "brain_tumor":
        return BrainTumorMRIDataset(root, split="Testing" if val else "Training", transform=image_transform)
    files = sorted(NaturalImageDataset(root).files)
    return ImageFileDataset(_every(files, 10, val), root=root, transform=image_transform)


def validation_dataset(
    kind: str = "sample",
    root: Optional[Union[str, Path]] = None,
    image_transforms: Sequence[Callable] = (),
    kspace_transform: Optional[Callable] = None,
) -> Dataset:
    """The validation split of ``kind`` once per entry of ``image_transforms`` for image kinds (e.g. magnitude and
    phase-bearing acquisitions at 4x and 8x, so the best checkpoint is chosen on all of them); fastMRI's split once,
    through ``kspace_transform`` (its k-space already carries its phase).

    Raises:
        ValueError: as :func:`training_dataset`, or no ``image_transforms`` for an image kind.
    """
    if kind == "fastmri":
        return training_dataset(kind, "val", root, kspace_transform=kspace_transform)
    if not image_transforms:
        raise ValueError(f"validation of dataset kind {kind!r} needs at least one image transform.")
    return _concat(*[training_dataset(kind, "val", root, image_transform=t) for t in image_transforms])


def _concat(*datasets: Dataset) -> Dataset:
    from torch.utils.data import ConcatDataset

    return ConcatDataset(list(datasets))


def drop_reference(transform: Optional[Callable]) -> Callable:
    """``transform`` followed by deleting the truth (``target``, fully-sampled ``kspace``): MONAI ``DeleteItemsd``."""
    from monai.transforms import Compose, DeleteItemsd

    truth = DeleteItemsd(keys=[ReconKeys.TARGET, ReconKeys.KSPACE])
    return Compose([transform, truth]) if transform is not None else truth


def unlabelled_dataset(
    kind: Optional[str] = None,
    root: Optional[Union[str, Path]] = None,
    image_transform: Optional[Callable] = None,
    kspace_transform: Optional[Callable] = None,
    seed: int = 0,
) -> Optional[Dataset]:
    """Inputs without a reference of ``kind`` (see the module docstring); ``None`` for ``kind=None``.

    Raises:
        ValueError: unknown ``kind``, or ``root`` missing for a kind that needs one.
    """
    if kind is None:
        return None
    if kind not in UNLABELLED_KINDS:
        raise ValueError(f"unknown unlabelled dataset kind {kind!r}; choose one of {UNLABELLED_KINDS} or None.")
    if kind == "sample":
        files, root = sample_unlabelled_files(), SAMPLE_DIR / "unlabelled"
    elif kind == "heldout":
        from monai.data import Dataset as MonaiDataset

        return MonaiDataset(heldout_unlabelled_slices(), transform=drop_reference(image_transform))
    elif root is None:
        raise ValueError(f"unlabelled dataset kind {kind!r} needs its folder (the bundle's unlabelled_dir).")
    elif kind in ("fastmri", "fastmri_acquired"):
        if kind == "fastmri_acquired" and kspace_transform is None:
            raise ValueError(
                "unlabelled dataset kind 'fastmri_acquired' needs the acquired k-space pipeline: "
                "kspace_transform=monai_chpnet.transforms.recipes.kspace_transforms(acquired=True)."
            )
        return FastMRISliceDataset(root, transform=drop_reference(kspace_transform), seed=seed)
    else:
        files = sorted(NaturalImageDataset(root).files)
    return ImageFileDataset(files, root=root, transform=drop_reference(image_transform))
