"""Image-folder datasets: Brain Tumor MRI (grayscale), natural images (luminance), and their 1:1 mix.

Every dataset here yields ``{"target": float32 tensor (1, H, W) in [0, 1], "fname": str}`` (then the optional
``transform``), the magnitude-image input of image mode: the transforms turn ``target`` into k-space.
Images are read with SimpleITK (a core dependency), which reads PNG, JPEG and BMP. Colour images become
ITU-R BT.601 luma ``Y = 0.299 R + 0.587 G + 0.114 B``; a grayscale image, or a colour image whose channels
are equal (as in the Brain Tumor MRI JPEGs), keeps its value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import SimpleITK as sitk
import torch
from monai.config import PathLike
from monai.transforms import apply_transform
from torch.utils.data import Dataset

from monai_chpnet.keys import ReconKeys

__all__ = [
    "BRAIN_TUMOR_CLASSES",
    "IMAGE_SUFFIXES",
    "BrainTumorMRIDataset",
    "ImageFileDataset",
    "MixedDataset",
    "NaturalImageDataset",
    "read_grayscale",
    "rgb_to_luma",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
BRAIN_TUMOR_CLASSES = ("glioma", "meningioma", "notumor", "pituitary")
BRAIN_TUMOR_SPLITS = ("Training", "Testing")
_BT601 = np.array([0.299, 0.587, 0.114])
# SwinIR / MATLAB rgb2ycbcr "studio swing": Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255 for R, G, B in [0, 1]
_BT601_STUDIO = np.array([65.481, 128.553, 24.966]) / 255.0


def rgb_to_luma(rgb: np.ndarray, studio_swing: bool = False) -> np.ndarray:
    """ITU-R BT.601 luma of an RGB image ``(..., 3)`` with values in ``[0, 1]``.

    Args:
        rgb: array whose last axis is R, G, B in ``[0, 1]``.
        studio_swing: ``False``: full range, ``Y = 0.299 R + 0.587 G + 0.114 B`` in ``[0, 1]``.
            ``True``: the ``[16, 235] / 255`` range of MATLAB's ``rgb2ycbcr`` that SwinIR and the SR
            literature evaluate PSNR on (use it to compare with published Set5 figures).

    Returns:
        float32 array of shape ``rgb.shape[:-1]``.
    """
    if rgb.shape[-1] != 3:
        raise ValueError(f"rgb_to_luma expects a last axis of size 3 (R, G, B), got shape {rgb.shape}.")
    if studio_swing:
        return (16.0 / 255.0 + rgb @ _BT601_STUDIO).astype(np.float32)
    return (rgb @ _BT601).astype(np.float32)


def read_grayscale(path: PathLike, studio_swing: bool = False, min_size: int = 2) -> np.ndarray:
    """Read a PNG/JPEG/BMP image as float32 ``(1, H, W)`` in ``[0, 1]`` (luma for colour images).

    Integer pixels are divided by the maximum of their type (255 for 8-bit, 65535 for 16-bit); an alpha
    channel is dropped.

    Args:
        path: image file.
        studio_swing: luma range for colour images, see :func:`rgb_to_luma`; grayscale images are unaffected.
        min_size: smallest accepted height and width.

    Raises:
        OSError: the file cannot be read as an image (the message names it).
        ValueError: the image is smaller than ``min_size`` along an axis, is not 2-D, or has a non-integer or
            unsupported pixel type.
    """
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as err:
        raise OSError(f"cannot read image {path}: {str(err).strip().splitlines()[-1]}") from None
    array = sitk.GetArrayFromImage(image)
    channels = image.GetNumberOfComponentsPerPixel()
    if image.GetDimension() != 2 or channels not in (1, 3, 4):
        raise ValueError(
            f"image {path} must be a 2-D grayscale or RGB(A) image, got a {image.GetDimension()}-D image "
            f"with {channels} channel(s) (array shape {array.shape})."
        )
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"image {path} has pixel type {array.dtype}; expected 8- or 16-bit integer pixels.")
    h, w = array.shape[:2]
    if h < min_size or w < min_size:
        raise ValueError(f"image {path} is {h} x {w} pixels; images must be at least {min_size} x {min_size}.")
    scaled = array.astype(np.float64) / np.iinfo(array.dtype).max
    gray = scaled if channels == 1 else rgb_to_luma(scaled[..., :3], studio_swing)
    return np.clip(gray, 0.0, 1.0).astype(np.float32)[None]


def _image_files(folder: Path, layout: str) -> List[Path]:
    """All image files under ``folder`` (recursive, sorted); ``FileNotFoundError`` naming ``layout`` if none."""
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder {folder} does not exist; expected layout: {layout}.")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}; expected layout: {layout}.")
    return files


class ImageFileDataset(Dataset):
    """Dataset over image files, read lazily as grayscale ``{"target": (1, H, W) in [0, 1], "fname": str}``.

    Args:
        files: image paths (PNG, JPEG, BMP).
        root: if given, ``fname`` is the path relative to it (else the file name).
        transform: callable applied to each item dict with :func:`monai.transforms.apply_transform`.
        studio_swing: luma range for colour images, see :func:`rgb_to_luma`.
        min_size: smallest accepted height and width (see :func:`read_grayscale`).
    """

    def __init__(
        self,
        files: Sequence[PathLike],
        root: Optional[PathLike] = None,
        transform: Optional[Callable] = None,
        studio_swing: bool = False,
        min_size: int = 2,
    ) -> None:
        self.files = [Path(p) for p in files]
        if not self.files:
            raise ValueError(f"{type(self).__name__} was given an empty list of image files.")
        self.root = Path(root) if root is not None else None
        self.transform = transform
        self.studio_swing = studio_swing
        self.min_size = min_size

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> Any:
        path = self.files[index]
        image = read_grayscale(path, self.studio_swing, self.min_size)
        fname = path.relative_to(self.root).as_posix() if self.root is not None else path.name
        item: Dict[str, Any] = {ReconKeys.TARGET: torch.from_numpy(image), "fname": fname}
        return apply_transform(self.transform, item) if self.transform is not None else item


class BrainTumorMRIDataset(ImageFileDataset):
    """The Brain Tumor MRI dataset (Kaggle, Nickparvar 2021): ``<root>/<split>/<class>/*.jpg``, as grayscale.

    ``split`` is ``"Training"`` or ``"Testing"``; ``classes`` selects class folders (default: glioma,
    meningioma, notumor, pituitary); ``fname`` is ``"<class>/<file>"``. Other arguments as
    :class:`ImageFileDataset`.

    Raises:
        FileNotFoundError: a missing split/class folder or a class folder without images, naming the folder
            and the expected layout.
    """

    def __init__(
        self,
        root: PathLike,
        split: str = "Training",
        classes: Sequence[str] = BRAIN_TUMOR_CLASSES,
        transform: Optional[Callable] = None,
        min_size: int = 2,
    ) -> None:
        if split not in BRAIN_TUMOR_SPLITS:
            raise ValueError(f"split must be one of {BRAIN_TUMOR_SPLITS}, got {split!r}.")
        folder = Path(root) / split
        layout = f"<root>/{{{','.join(BRAIN_TUMOR_SPLITS)}}}/{{{','.join(classes)}}}/*.jpg"
        files = [f for c in classes for f in _image_files(folder / c, layout)]
        super().__init__(files, root=folder, transform=transform, min_size=min_size)


class NaturalImageDataset(ImageFileDataset):
    """Natural images (Flickr2K, DIV2K, Set5, ...): every PNG/JPEG/BMP under ``root`` (recursive), as luma.

    ``fname`` is the path relative to ``root``. Other arguments as :class:`ImageFileDataset`.

    Raises:
        FileNotFoundError: ``root`` is missing or holds no image, naming it.
    """

    def __init__(
        self,
        root: PathLike,
        transform: Optional[Callable] = None,
        studio_swing: bool = False,
        min_size: int = 2,
    ) -> None:
        files = _image_files(Path(root), "<root>/**/*.png (or .jpg, .jpeg, .bmp)")
        super().__init__(files, root=root, transform=transform, studio_swing=studio_swing, min_size=min_size)


class MixedDataset(Dataset):
    """MRI and natural images mixed at a fixed ratio per epoch (the paper trains on a 1:1 mix).

    An epoch holds every MRI item once and ``round(ratio * len(mri))`` (at least one) natural items, drawn
    without replacement from a fresh permutation of ``natural`` (cycling through further permutations if the
    natural set is smaller), in a shuffled order. The epoch's draw depends only on ``(seed, epoch)``: call
    :meth:`set_epoch` at the start of each epoch, as with ``DistributedSampler`` (with
    ``persistent_workers=True`` the workers keep the epoch they were started with).

    Args:
        mri: dataset of MRI items.
        natural: dataset of natural-image items.
        ratio: natural items per MRI item, > 0 (1.0 = the paper's 1:1).
        seed: seed of the draws.
    """

    SOURCES = ("mri", "natural")

    def __init__(self, mri: Dataset, natural: Dataset, ratio: float = 1.0, seed: int = 0) -> None:
        if ratio <= 0:
            raise ValueError(f"ratio must be > 0 natural items per MRI item, got {ratio}.")
        sizes = (len(mri), len(natural))  # type: ignore[arg-type]
        if min(sizes) == 0:
            raise ValueError(f"MixedDataset needs non-empty datasets, got {sizes[0]} MRI and {sizes[1]} natural items.")
        self.datasets = (mri, natural)
        self.ratio = ratio
        self.seed = seed
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Draw the natural images and the order of epoch ``epoch`` (deterministic given ``seed``)."""
        rng = np.random.default_rng((self.seed, epoch))
        num_mri, num_natural = (len(d) for d in self.datasets)  # type: ignore[arg-type]
        wanted = max(1, int(round(self.ratio * num_mri)))
        natural = np.concatenate([rng.permutation(num_natural) for _ in range(-(-wanted // num_natural))])[:wanted]
        plan = [(0, i) for i in range(num_mri)] + [(1, int(j)) for j in natural]
        self.epoch = epoch
        self.plan: List[Tuple[int, int]] = [plan[k] for k in rng.permutation(len(plan))]

    def source(self, index: int) -> str:
        """``"mri"`` or ``"natural"``: where item ``index`` of the current epoch comes from."""
        return self.SOURCES[self.plan[index][0]]

    def __len__(self) -> int:
        return len(self.plan)

    def __getitem__(self, index: int) -> Any:
        which, i = self.plan[index]
        return self.datasets[which][i]
