"""Shipped sample data: present, small, loadable, with the documented shapes, geometry and train/eval split."""

from collections import Counter

import numpy as np
import pytest
import SimpleITK as sitk

from monai_chpnet.data import (
    heldout_evaluation_files,
    read_volume,
    sample_training_dataset,
    sample_training_files,
    sample_volume_path,
)
from monai_chpnet.data.sample import sample_unlabelled_files
from monai_chpnet.data.selection import unlabelled_dataset
from monai_chpnet.data.sample import SAMPLE_DIR
from monai_chpnet.keys import ReconKeys


def test_total_size_is_small():
    files = [p for p in SAMPLE_DIR.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert sum(p.stat().st_size for p in files) < 4 * 2**20
    readme = (SAMPLE_DIR / "README.md").read_text()
    assert "scripts/make_sample_data.py" in readme and "McGill University" in readme and "MR_small" in readme


def test_demo_volume_shape_and_geometry():
    volume, geometry = read_volume(sample_volume_path())
    assert volume.shape == (20, 256, 256) and volume.dtype == np.float32
    assert sitk.ReadImage(str(sample_volume_path())).GetPixelID() == sitk.sitkUInt16
    assert geometry.spacing == (1.0, 1.0, 2.0) and geometry.array_spacing == (2.0, 1.0, 1.0)
    assert geometry.direction == (-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0)  # the template's RAS, in LPS
    assert geometry.origin == (127.0, 145.0, 24.0)  # MNI (-127, -145, 24) mm: axial index 96 of the template
    assert volume.min() == 0 and 200 <= volume.max() <= 255
    brain = (volume > 0).mean(axis=(1, 2))
    assert brain.min() > 0.1 and brain[0] > brain[-1]  # every slice has brain; it shrinks towards the vertex


def test_heldout_sources_are_real_mr_of_other_anatomies_and_contrasts():
    files = heldout_evaluation_files()
    assert set(files) == {"t1_demo", "mr_small", "abdomen_mr", "epi_brain", "phantom_gre"}
    assert files["t1_demo"] == sample_volume_path()
    expected = {  # (slices, H, W), in-plane spacing (mm)
        "mr_small": ((1, 64, 64), (0.3125, 0.3125)),
        "abdomen_mr": ((1, 300, 484), (0.7231, 0.7231)),
        "epi_brain": ((12, 96, 128), (2.0, 2.0)),
    }
    for name, (shape, spacing) in expected.items():
        image, geometry = read_volume(files[name])
        assert image.shape == shape and geometry.spacing[:2] == pytest.approx(spacing, abs=1e-4), name
        assert image.min() >= 0 and image.max() > 100 and (image > 0.1 * image.max()).mean() > 0.1, name


def test_heldout_raw_kspace_carries_the_scanners_phase():
    """phantom_gre.h5: one fully-sampled 160 x 160 single-coil slice whose image is complex, with a smooth phase."""
    import h5py
    import torch

    from monai_chpnet.kspace import ifft2c

    with h5py.File(heldout_evaluation_files()["phantom_gre"], "r") as f:
        kspace, target = f["kspace"][()], f["reconstruction_esc"][()]
    assert kspace.shape == (1, 160, 160) and kspace.dtype == np.complex64 and target.shape == (1, 160, 160)
    image = ifft2c(torch.from_numpy(kspace))[0].numpy()
    assert np.allclose(np.abs(image), target[0], atol=1e-6) and target.max() == pytest.approx(1.0)
    inside = target[0] > 0.3
    assert 0.3 < inside.mean() < 0.8
    assert np.abs(image.imag[inside]).mean() > 0.2 * np.abs(image[inside]).mean()  # not a real image
    # smooth: neighbouring pixels inside the object differ in phase by little (median of the wrapped steps)
    steps = np.abs(np.angle(image[:, 1:] * np.conj(image[:, :-1])))[inside[:, 1:] & inside[:, :-1]]
    assert np.median(steps) < 0.15


def test_training_files_and_mix():
    files = sample_training_files()
    assert len(files["mri"]) >= 50 and len(files["natural"]) == 10
    planes = Counter(p.name.split("_")[2] for p in files["mri"])
    assert set(planes) == {"axial", "sagittal", "coronal"} and min(planes.values()) >= 15
    training = {p.resolve() for group in files.values() for p in group}
    assert not training & {p.resolve() for p in heldout_evaluation_files().values()}
    sizes = [sitk.ReadImage(str(p)).GetSize() for group in files.values() for p in group]
    assert min(min(s) for s in sizes) >= 96

    dataset = sample_training_dataset(seed=1)
    assert len(dataset) == 2 * len(files["mri"])
    sources = Counter(dataset.source(i) for i in range(len(dataset)))
    assert sources == {"mri": len(files["mri"]), "natural": len(files["mri"])}
    for i in range(4):
        item = dataset[i]
        target = item[ReconKeys.TARGET]
        assert target.ndim == 3 and target.shape[0] == 1 and 0 <= target.min() and target.max() <= 1
        assert item["fname"].startswith(f"{dataset.source(i)}/")


def test_unlabelled_inputs_are_other_pictures_and_reach_the_trainer_without_their_truth():
    from monai_chpnet.transforms.recipes import train_transforms

    files = sample_unlabelled_files()
    assert [p.stem for p in files] == sorted(
        ["cell", "hubble_deep_field", "immunohistochemistry", "microaneurysms", "retina", "shepp_logan_phantom", "text"]
    )
    training = {p.stem for group in sample_training_files().values() for p in group}
    assert not training & {p.stem for p in files}
    assert all(min(sitk.ReadImage(str(p)).GetSize()) >= 96 for p in files)  # the bundle's default patch fits
    ds = unlabelled_dataset("sample", image_transform=train_transforms(patch_size=64))
    assert len(ds) == 7
    item = ds[0]
    assert ReconKeys.TARGET not in item and ReconKeys.KSPACE not in item  # the truth never reaches the trainer
    assert item["image"].shape == (2, 64, 64) and item[ReconKeys.MASK].shape == (1, 1, 64)
    mask = item[ReconKeys.MASK].flatten()
    assert mask[32] == 1 and 0 < float(mask.float().mean()) < 0.45  # undersampled, with its k-space centre
    assert unlabelled_dataset(None) is None
    with pytest.raises(ValueError, match="unknown unlabelled dataset kind 'brain_tumor'"):
        unlabelled_dataset("brain_tumor")
    with pytest.raises(ValueError, match="needs its folder"):
        unlabelled_dataset("natural")


def test_heldout_volumes_split_into_unlabelled_even_slices_and_scored_odd_slices(tmp_path):
    from monai_chpnet.data.sample import heldout_slice_halves, heldout_unlabelled_slices, write_heldout_scored_half
    from monai_chpnet.transforms.recipes import train_transforms

    assert heldout_slice_halves(5) == ([0, 2, 4], [1, 3]) and heldout_slice_halves(1) == ([], [])
    items = heldout_unlabelled_slices()
    volumes = {s: read_volume(p)[0] for s, p in heldout_evaluation_files().items() if s in ("t1_demo", "epi_brain")}
    assert [i["fname"] for i in items] == [f"t1_demo_{k:03d}" for k in range(0, 20, 2)] + [
        f"epi_brain_{k:03d}" for k in range(0, 12, 2)
    ]  # the single-slice sources and the raw phantom are not split
    for item in items:
        source, k = item["fname"].rsplit("_", 1)
        volume = volumes[source]
        assert np.allclose(item["target"][0], volume[int(k)] / volume.max())
    scored = write_heldout_scored_half(tmp_path)
    assert sorted(scored) == ["epi_brain", "t1_demo"]
    for source, path in scored.items():
        half, geometry = read_volume(path)
        assert np.array_equal(half, volumes[source][1::2])  # the other half, exactly
        assert geometry.array_spacing[0] == 2 * read_volume(heldout_evaluation_files()[source])[1].array_spacing[0]
    dataset = unlabelled_dataset("heldout", image_transform=train_transforms(patch_size=32))
    sample = dataset[0]
    assert len(dataset) == 16 and ReconKeys.TARGET not in sample and ReconKeys.KSPACE not in sample
    assert sample["image"].shape == (2, 32, 32)
