"""fastMRI single-coil reading: synthetic files, the lazy slice dataset, the MONAI loader, and bad files."""

import h5py
import numpy as np
import pytest
import torch
from monai.apps.reconstruction.fastmri_reader import FastMRIReader
from monai.transforms import Lambdad, LoadImaged
from torch.utils.data import DataLoader

from monai_chpnet.data import (
    FastMRISliceDataset,
    ellipse_phantom,
    fastmri_volume_loader,
    parse_ismrmrd_header,
    write_fastmri_h5,
)
from monai_chpnet.keys import ReconKeys
from monai_chpnet.kspace import center_crop_hw, ifft2c

GRID, RECON = (16, 12), (8, 8)


def _write(path, num_slices=4, seed=0, **kwargs):
    image = ellipse_phantom(num_slices, (10, 10)) * (1 + seed)
    return write_fastmri_h5(path, image, kspace_shape=GRID, recon_size=RECON, seed=seed, **kwargs)


@pytest.fixture
def folder(tmp_path):
    for i in range(3):
        _write(tmp_path / f"file{i}.h5", seed=i, patient_id=f"p{i}")
    return tmp_path


def test_synthetic_file_layout_and_values(tmp_path):
    image = ellipse_phantom(3, (10, 10))
    path = write_fastmri_h5(tmp_path / "a.h5", image, kspace_shape=GRID, recon_size=RECON)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.h5"]  # no temporary left behind
    with h5py.File(path, "r") as f:
        kspace, target = f["kspace"][()], f["reconstruction_esc"][()]
        assert kspace.dtype == np.complex64 and kspace.shape == (3, *GRID)
        assert target.dtype == np.float32 and target.shape == (3, *RECON)
        assert f.attrs["max"] == pytest.approx(target.max())
        assert f.attrs["norm"] == pytest.approx(np.linalg.norm(target))
        assert f.attrs["acquisition"] == "CORPD_FBK" and f.attrs["patient_id"] == "synthetic"
        header = parse_ismrmrd_header(f["ismrmrd_header"][()])
    assert header == {"encoding_size": (16, 12, 1), "recon_size": (8, 8, 1), "padding_left": 0, "padding_right": 12}
    # the image carries a phase, as a scanner's raw data do (a real image would have a zero imaginary part), and its
    # magnitude is the padded input
    complex_image = ifft2c(torch.from_numpy(kspace))
    inside = torch.from_numpy(np.pad(image, [(0, 0), (3, 3), (1, 1)]) > 0.05)
    assert float(complex_image.imag.abs()[inside].mean()) > 0.2 * float(complex_image.abs()[inside].mean())
    magnitude = complex_image.abs()
    expected = np.pad(image, [(0, 0), (3, 3), (1, 1)])
    assert np.allclose(magnitude.numpy(), expected, atol=1e-5)
    assert np.allclose(center_crop_hw(magnitude, RECON).numpy(), target, atol=1e-6)
    assert np.allclose(target, image[:, 1:9, 1:9], atol=1e-5)


def test_ellipse_phantom_varies_along_slices():
    volume = ellipse_phantom(5, (32, 24))
    assert volume.shape == (5, 32, 24) and volume.dtype == np.float32
    assert volume.min() == 0.0 and volume.max() == pytest.approx(1.0)
    assert not np.array_equal(volume[0], volume[2])
    assert np.array_equal(volume, ellipse_phantom(5, (32, 24)))


def test_dataset_reads_slice_by_slice_exactly(folder):
    ds = FastMRISliceDataset(folder)
    assert len(ds) == 12
    item = ds[5]  # file1, slice 1
    assert item[ReconKeys.KSPACE].dtype == torch.complex64 and item[ReconKeys.KSPACE].shape == (1, *GRID)
    assert item[ReconKeys.TARGET].dtype == torch.float32 and item[ReconKeys.TARGET].shape == (1, *RECON)
    with h5py.File(folder / "file1.h5", "r") as f:
        assert torch.equal(item[ReconKeys.KSPACE][0], torch.from_numpy(f["kspace"][1]))
        assert torch.equal(item[ReconKeys.TARGET][0], torch.from_numpy(f["reconstruction_esc"][1]))
        assert item["max"] == f.attrs["max"] and item["norm"] == f.attrs["norm"]
    assert (item["fname"], item["slice_num"], item["patient_id"], item["acquisition"]) == (
        "file1.h5",
        1,
        "p1",
        "CORPD_FBK",
    )
    assert item["recon_size"] == (8, 8, 1) and item["encoding_size"] == (16, 12, 1)
    assert [ds[i]["slice_num"] for i in range(4)] == [0, 1, 2, 3]


def test_dataloader_workers_and_transform(folder):
    double = Lambdad(keys=ReconKeys.TARGET, func=lambda t: 2 * t)
    ds = FastMRISliceDataset(folder, transform=double)
    batches = list(DataLoader(ds, batch_size=4, num_workers=2))
    assert len(batches) == 3
    batch = batches[1]
    assert batch[ReconKeys.KSPACE].shape == (4, 1, *GRID) and batch[ReconKeys.KSPACE].dtype == torch.complex64
    assert batch["fname"] == ["file1.h5"] * 4 and batch["slice_num"].tolist() == [0, 1, 2, 3]
    with h5py.File(folder / "file1.h5", "r") as f:
        assert torch.equal(batch[ReconKeys.TARGET][:, 0], 2 * torch.from_numpy(f["reconstruction_esc"][()]))


def test_sample_rates_are_seeded(folder):
    half = FastMRISliceDataset(folder, sample_rate=0.5, seed=1)
    assert len(half) == 6
    assert half.slices == FastMRISliceDataset(folder, sample_rate=0.5, seed=1).slices
    assert half.slices != FastMRISliceDataset(folder, sample_rate=0.5, seed=2).slices
    one_volume = FastMRISliceDataset(folder, volume_sample_rate=0.34, seed=3)
    assert len(one_volume) == 4 and len(one_volume.volumes) == 1
    assert [one_volume[i]["slice_num"] for i in range(4)] == [0, 1, 2, 3]
    assert len({one_volume[i]["fname"] for i in range(4)}) == 1
    assert len(FastMRISliceDataset(folder, volume_sample_rate=2 / 3).volumes) == 2
    with pytest.raises(ValueError, match="either sample_rate or volume_sample_rate"):
        FastMRISliceDataset(folder, sample_rate=0.5, volume_sample_rate=0.5)
    with pytest.raises(ValueError, match=r"sample_rate must be in \(0, 1\]"):
        FastMRISliceDataset(folder, sample_rate=0.0)


def test_official_split_layout(tmp_path):
    for split in ("train", "val", "test"):
        _write(tmp_path / f"singlecoil_{split}" / f"{split}1.h5", num_slices=2)
    with h5py.File(tmp_path / "singlecoil_test" / "test1.h5", "a") as f:
        del f["reconstruction_esc"]  # the test split has no reference
    assert [FastMRISliceDataset(tmp_path, split=s)[0]["fname"] for s in ("train", "val")] == ["train1.h5", "val1.h5"]
    test_item = FastMRISliceDataset(tmp_path, split="test")[1]
    assert ReconKeys.TARGET not in test_item and test_item[ReconKeys.KSPACE].shape == (1, *GRID)
    files = sorted(tmp_path.glob("singlecoil_*/*.h5"))
    assert len(FastMRISliceDataset(files)) == 6
    with pytest.raises(ValueError, match="split must be one of"):
        FastMRISliceDataset(tmp_path, split="training")
    (tmp_path / "singlecoil_val" / "val1.h5").unlink()
    with pytest.raises(FileNotFoundError, match="no fastMRI .h5 files in .*singlecoil_val"):
        FastMRISliceDataset(tmp_path, split="val")
    with pytest.raises(FileNotFoundError, match="singlecoil_train, singlecoil_val, singlecoil_test"):
        FastMRISliceDataset(tmp_path / "singlecoil_val", split="train")


def test_bad_files_are_named(tmp_path):
    with h5py.File(tmp_path / "nokspace.h5", "w") as f:
        f.create_dataset("reconstruction_esc", data=np.zeros((1, 4, 4), np.float32))
    with pytest.raises(KeyError, match="nokspace.h5 has no 'kspace'"):
        FastMRISliceDataset([tmp_path / "nokspace.h5"])

    _write(tmp_path / "multi.h5", num_slices=2, num_coils=3)
    with h5py.File(tmp_path / "multi.h5", "r") as f:
        assert f["kspace"].shape == (2, 3, *GRID) and "reconstruction_rss" in f
    with pytest.raises(ValueError, match="multi-coil file .*multi.h5 .* given to the single-coil reader"):
        FastMRISliceDataset([tmp_path / "multi.h5"])

    with h5py.File(tmp_path / "real.h5", "w") as f:
        f.create_dataset("kspace", data=np.zeros((1, 4, 4), np.float32))
    with pytest.raises(TypeError, match="real.h5: 'kspace' must be complex .* float32"):
        FastMRISliceDataset([tmp_path / "real.h5"])

    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(OSError, match="cannot read fastMRI file .*text.h5: not a readable HDF5"):
        FastMRISliceDataset([tmp_path / "text.h5"])

    with h5py.File(tmp_path / "badxml.h5", "w") as f:
        f.create_dataset("kspace", data=np.zeros((1, 4, 4), np.complex64))
        f.create_dataset("ismrmrd_header", data=b"<unclosed")
    with pytest.raises(ValueError, match="badxml.h5: ismrmrd_header is not valid XML"):
        FastMRISliceDataset([tmp_path / "badxml.h5"])

    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no fastMRI .h5 files in .*empty"):
        FastMRISliceDataset(tmp_path / "empty")
    with pytest.raises(ValueError, match="empty list of files"):
        FastMRISliceDataset([])


@pytest.mark.filterwarnings("ignore:NvImgCodecPydicomReader")  # LoadImaged probes MONAI's optional readers
def test_monai_loader_keeps_the_imaginary_part(tmp_path):
    path = _write(tmp_path / "file.h5", num_slices=3)
    with h5py.File(path, "r") as f:
        stored = f["kspace"][()]
    loaded = fastmri_volume_loader()({"kspace": str(path)})["kspace"]
    assert loaded.dtype == torch.complex64 and tuple(loaded.shape) == (3, *GRID)
    assert np.array_equal(loaded.numpy(), stored)
    assert loaded.meta["patient_id"] == "synthetic" and loaded.meta["max"] == pytest.approx(1.0)
    # the pitfall this loader avoids: LoadImaged's default float dtype keeps only the real part
    with pytest.warns(np.exceptions.ComplexWarning):
        lossy = LoadImaged(keys="kspace", reader=FastMRIReader())({"kspace": str(path)})["kspace"]
    assert not torch.is_complex(lossy) and np.allclose(lossy.numpy(), stored.real)


def test_training_dataset_selects_the_official_fastmri_splits(tmp_path):
    from monai_chpnet.data.selection import training_dataset
    from monai_chpnet.transforms.recipes import kspace_transforms

    for split, n in (("train", 3), ("val", 2)):  # a grid wide enough for 8x masks' centre block
        write_fastmri_h5(
            tmp_path / f"singlecoil_{split}" / f"{split}1.h5",
            ellipse_phantom(n, (32, 32)),
            kspace_shape=(64, 64),
            recon_size=(32, 32),
        )
    train = training_dataset("fastmri", "train", root=tmp_path, kspace_transform=kspace_transforms(), seed=0)
    val = training_dataset("fastmri", "val", root=tmp_path, kspace_transform=kspace_transforms(), seed=0)
    assert (len(train), len(val)) == (3, 2)
    item = train[0]
    assert item["fname"] == "train1.h5" and val[0]["fname"] == "val1.h5"
    mask = item[ReconKeys.MASK].reshape(-1)
    assert tuple(item[ReconKeys.TARGET].shape[-2:]) == (32, 32) and 0 < float(mask.float().mean()) < 0.5  # 4x or 8x
    with pytest.raises(ValueError, match="needs its root folder"):
        training_dataset("fastmri", "train")


def _prospective(path, n=2, every=4):
    """A synthetic test-split file: k-space acquired on every ``every``-th column plus the centre, no reference."""
    write_fastmri_h5(path, ellipse_phantom(n, (32, 32)), kspace_shape=(64, 64), recon_size=(32, 32))
    with h5py.File(path, "a") as f:
        kspace = f["kspace"][()]
        keep = np.zeros(kspace.shape[-1], bool)
        keep[::every] = True
        keep[30:34] = True
        kspace[..., ~keep] = 0
        f["kspace"][...] = kspace
        del f["reconstruction_esc"]
    return keep


def test_prospectively_undersampled_files_are_taken_as_acquired_not_masked_again(tmp_path):
    from monai_chpnet.data.selection import unlabelled_dataset
    from monai_chpnet.transforms.recipes import kspace_transforms

    keep = _prospective(tmp_path / "test1.h5")
    with pytest.raises(ValueError, match=r"needs the acquired k-space pipeline: .*kspace_transforms\(acquired=True\)"):
        unlabelled_dataset("fastmri_acquired", tmp_path)
    item = unlabelled_dataset("fastmri_acquired", tmp_path, kspace_transform=kspace_transforms(acquired=True))[1]
    assert ReconKeys.TARGET not in item and ReconKeys.KSPACE not in item  # only the acquisition reaches the trainer
    assert torch.equal(item[ReconKeys.MASK].reshape(-1).bool(), torch.from_numpy(keep))  # its own mask, exactly
    assert item[ReconKeys.ACCELERATION] == pytest.approx(64 / keep.sum())
    assert tuple(item[ReconKeys.ZERO_FILLED].shape) == (1, 32, 32)  # the header's reconstruction size
    assert tuple(item[ReconKeys.IMAGE].shape) == (2, 64, 64)  # the network runs on the k-space grid
    # the retrospective kind would mask the already undersampled k-space again: refused, naming file and remedy
    with pytest.raises(RuntimeError) as info:
        unlabelled_dataset("fastmri", tmp_path, kspace_transform=kspace_transforms(), seed=0)[1]
    cause = info.value
    while cause.__cause__ is not None:
        cause = cause.__cause__
    assert isinstance(cause, KeyError) and "(test1.h5)" in str(cause) and "fastmri_acquired" in str(cause)


def test_one_file_by_itself_and_missing_listed_files(tmp_path):
    path = _write(tmp_path / "one.h5", num_slices=3)
    assert len(FastMRISliceDataset(str(path))) == 3 and len(FastMRISliceDataset(path)) == 3
    with pytest.raises(FileNotFoundError, match=r"fastMRI file\(s\) not found: .*gone.h5\."):
        FastMRISliceDataset([path, tmp_path / "gone.h5"])
