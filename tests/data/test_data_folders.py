"""Image-folder datasets: grayscale / luma reading, Brain Tumor MRI and natural layouts, the 1:1 mix, bad input."""

from collections import Counter

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from monai_chpnet.data import (
    BRAIN_TUMOR_CLASSES,
    BrainTumorMRIDataset,
    ImageFileDataset,
    MixedDataset,
    NaturalImageDataset,
    read_grayscale,
    rgb_to_luma,
)
from monai_chpnet.keys import ReconKeys


def _save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(sitk.GetImageFromArray(array, isVector=array.ndim == 3), str(path))
    return path


def _gray(h=5, w=6, offset=0):
    return ((np.arange(h * w).reshape(h, w) * 7 + offset) % 256).astype(np.uint8)


def test_grayscale_png_is_scaled_exactly(tmp_path):
    gray = _gray()
    image = read_grayscale(_save(tmp_path / "g.png", gray))
    assert image.shape == (1, 5, 6) and image.dtype == np.float32
    assert np.array_equal(image[0], (gray / 255.0).astype(np.float32))
    g16 = (np.arange(12).reshape(3, 4) * 5000).astype(np.uint16)
    assert np.allclose(read_grayscale(_save(tmp_path / "g16.png", g16))[0], g16 / 65535.0, atol=1e-7)


def test_colour_is_bt601_luma_on_a_known_pixel(tmp_path):
    rgb = np.zeros((3, 4, 3), np.uint8)
    rgb[1, 2] = (200, 100, 50)
    rgb[0, 0] = (255, 255, 255)
    for name in ("rgb.png", "rgb.bmp"):
        y = read_grayscale(_save(tmp_path / name, rgb))
        assert y.shape == (1, 3, 4)
        assert y[0, 1, 2] == pytest.approx((0.299 * 200 + 0.587 * 100 + 0.114 * 50) / 255, abs=1e-6)  # 0.487059
        assert y[0, 0, 0] == pytest.approx(1.0, abs=1e-6) and y[0, 2, 3] == 0.0
    studio = read_grayscale(tmp_path / "rgb.png", studio_swing=True)
    assert studio[0, 1, 2] == pytest.approx((16 + (65.481 * 200 + 128.553 * 100 + 24.966 * 50) / 255) / 255, abs=1e-6)
    assert studio[0, 2, 3] == pytest.approx(16 / 255) and studio[0, 0, 0] == pytest.approx(235 / 255, abs=1e-5)
    rgba = np.concatenate([rgb, np.full((3, 4, 1), 7, np.uint8)], axis=-1)  # alpha is dropped
    assert np.array_equal(read_grayscale(_save(tmp_path / "rgba.png", rgba)), read_grayscale(tmp_path / "rgb.png"))
    # equal channels (how many MRI JPEGs are stored) keep the gray value
    same = np.repeat(_gray()[..., None], 3, axis=-1)
    assert np.allclose(read_grayscale(_save(tmp_path / "same.png", same))[0], _gray() / 255.0, atol=1e-6)
    with pytest.raises(ValueError, match="last axis of size 3"):
        rgb_to_luma(np.zeros((2, 2, 4)))


def test_brain_tumor_layout(tmp_path):
    for split in ("Training", "Testing"):
        for i, cls in enumerate(BRAIN_TUMOR_CLASSES):
            _save(tmp_path / split / cls / f"{split[:2]}-{cls[:2]}_{i}.jpg", _gray(8, 9, offset=40 * i))
    ds = BrainTumorMRIDataset(tmp_path)
    assert len(ds) == 4
    item = ds[0]
    assert item["fname"] == "glioma/Tr-gl_0.jpg"
    assert item[ReconKeys.TARGET].shape == (1, 8, 9) and item[ReconKeys.TARGET].dtype == torch.float32
    assert 0.0 <= item[ReconKeys.TARGET].min() and item[ReconKeys.TARGET].max() <= 1.0
    # JPEG is lossy: close to the written values, not equal
    assert torch.allclose(item[ReconKeys.TARGET][0], torch.from_numpy(_gray(8, 9) / 255.0).float(), atol=0.1)
    testing = BrainTumorMRIDataset(tmp_path, split="Testing", classes=("notumor",), transform=lambda d: d["fname"])
    assert [testing[i] for i in range(len(testing))] == ["notumor/Te-no_2.jpg"]
    (tmp_path / "Training" / "pituitary" / "Tr-pi_3.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"no images .* in .*Training/pituitary; expected layout: <root>/"):
        BrainTumorMRIDataset(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"Testing/tumour does not exist; expected layout"):
        BrainTumorMRIDataset(tmp_path, split="Testing", classes=("glioma", "tumour"))
    with pytest.raises(ValueError, match="split must be one of"):
        BrainTumorMRIDataset(tmp_path, split="Train")


def test_natural_folder_is_recursive_luma(tmp_path):
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[..., 1] = 255  # pure green -> Y = 0.587
    _save(tmp_path / "Set5" / "green.png", rgb)
    _save(tmp_path / "flickr" / "a.bmp", _gray(4, 4))
    (tmp_path / "flickr" / "notes.txt").write_text("not an image")
    ds = NaturalImageDataset(tmp_path)
    assert [ds[i]["fname"] for i in range(len(ds))] == ["Set5/green.png", "flickr/a.bmp"]
    assert torch.allclose(ds[0][ReconKeys.TARGET], torch.full((1, 4, 4), 0.587), atol=1e-6)


def test_bad_images_are_named(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no images \(.png, .jpg, .jpeg, .bmp\) in .*empty; expected layout"):
        NaturalImageDataset(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="missing does not exist"):
        NaturalImageDataset(tmp_path / "missing")
    with pytest.raises(ValueError, match="empty list of image files"):
        ImageFileDataset([])
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(OSError, match="cannot read image .*broken.png"):
        ImageFileDataset([tmp_path / "broken.png"])[0]
    for shape in ((1, 1), (1, 7)):
        _save(tmp_path / "dot.png", np.zeros(shape, np.uint8))
        with pytest.raises(ValueError, match=rf"dot.png is {shape[0]} x {shape[1]} pixels; .* at least 2 x 2"):
            read_grayscale(tmp_path / "dot.png")
    _save(tmp_path / "small.png", _gray(8, 8))
    with pytest.raises(ValueError, match="small.png is 8 x 8 pixels; images must be at least 16 x 16"):
        read_grayscale(tmp_path / "small.png", min_size=16)
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((3, 3), np.float32)), str(tmp_path / "float.tif"))
    with pytest.raises(ValueError, match="float.tif has pixel type float32"):
        read_grayscale(tmp_path / "float.tif")


class _Named(torch.utils.data.Dataset):
    def __init__(self, prefix, n):
        self.items = [f"{prefix}{i}" for i in range(n)]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def test_mixed_dataset_is_one_to_one_and_deterministic():
    mixed = MixedDataset(_Named("mri", 6), _Named("nat", 4), seed=3)
    assert len(mixed) == 12
    items = [mixed[i] for i in range(len(mixed))]
    assert Counter(mixed.source(i) for i in range(12)) == {"mri": 6, "natural": 6}
    assert all(item.startswith("mri" if mixed.source(i) == "mri" else "nat") for i, item in enumerate(items))
    assert sorted(i for i in items if i.startswith("mri")) == [f"mri{i}" for i in range(6)]
    counts = Counter(i for i in items if i.startswith("nat"))
    assert sorted(counts.values()) == [1, 1, 2, 2]  # a full permutation, then 2 of the next one
    assert items != sorted(items)  # interleaved, not MRI first
    again = MixedDataset(_Named("mri", 6), _Named("nat", 4), seed=3)
    assert [again[i] for i in range(12)] == items
    mixed.set_epoch(1)
    assert mixed.epoch == 1 and [mixed[i] for i in range(12)] != items
    mixed.set_epoch(0)
    assert [mixed[i] for i in range(12)] == items
    natural_heavy = MixedDataset(_Named("mri", 4), _Named("nat", 40), ratio=2.0)
    assert Counter(natural_heavy.source(i) for i in range(len(natural_heavy))) == {"mri": 4, "natural": 8}
    with pytest.raises(ValueError, match="ratio must be > 0"):
        MixedDataset(_Named("mri", 2), _Named("nat", 2), ratio=0)
    with pytest.raises(ValueError, match="non-empty datasets, got 2 MRI and 0 natural"):
        MixedDataset(_Named("mri", 2), _Named("nat", 0))
