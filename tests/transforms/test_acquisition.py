"""Mask, undersampling and simulated-acquisition transforms (array and dictionary)."""

import numpy as np
import pytest
import torch
from monai.data import DataLoader, Dataset
from monai.transforms import Compose

from monai_chpnet.keys import ReconKeys as K
from monai_chpnet.kspace import complex_to_channels, fft2c, ifft2c
from monai_chpnet.transforms import (
    RandCartesianMask,
    RandCartesianMaskd,
    RandKspaceUndersample,
    RandKspaceUndersampled,
    RandSimulateAcquisition,
    RandSimulateAcquisitiond,
    ZeroFilledChannels,
    ZeroFilledChannelsd,
    undersample_kspace,
)


def _image(h=32, w=32, seed=0):
    return torch.rand(1, h, w, generator=torch.Generator().manual_seed(seed))


def _kspace(h=40, w=36, seed=0):
    return torch.randn(1, h, w, dtype=torch.complex64, generator=torch.Generator().manual_seed(seed))


def test_simulated_acquisition_values():
    image = _image()
    d = RandSimulateAcquisitiond(K.TARGET, seed=0)({K.TARGET: image.numpy()})  # numpy input is accepted
    assert d[K.KSPACE].dtype == d[K.KSPACE_MASKED].dtype == torch.complex64
    assert d[K.MASK].shape == (1, 1, 32) and d[K.MASK].dtype == torch.float32
    assert d[K.ZERO_FILLED].shape == d[K.TARGET].shape == (1, 32, 32) and d[K.ZERO_FILLED].dtype == torch.float32
    assert torch.equal(d[K.TARGET], image)
    assert torch.allclose(d[K.KSPACE], fft2c(image.to(torch.complex64)), atol=1e-6)
    assert torch.equal(d[K.KSPACE_MASKED], d[K.KSPACE] * d[K.MASK])
    assert torch.allclose(d[K.ZERO_FILLED], ifft2c(d[K.KSPACE_MASKED]).abs(), atol=1e-6)
    # unsampled columns are exactly zero, sampled ones untouched
    cols = d[K.MASK][0, 0].bool()
    assert torch.all(d[K.KSPACE_MASKED][..., ~cols] == 0)
    assert torch.equal(d[K.KSPACE_MASKED][..., cols], d[K.KSPACE][..., cols])
    pair = (d[K.ACCELERATION].item(), d[K.CENTER_FRACTION].item())
    assert pair in {(4.0, np.float32(0.08).item()), (8.0, np.float32(0.04).item())}


@pytest.mark.parametrize("complex_input", [False, True])
def test_fully_sampled_mask_zero_filled_equals_input(complex_input):
    image = _image(24, 20)
    if complex_input:
        image = image * torch.exp(1j * torch.rand(1, 24, 20)).to(torch.complex64)
    # acceleration 1: the random rule samples every column
    acq = RandSimulateAcquisition(accelerations=1, center_fractions=0.5, seed=0)(image)
    assert torch.all(acq.mask == 1)
    assert torch.allclose(acq.zero_filled, image.abs(), atol=1e-5)
    assert torch.allclose(acq.target, image.abs())
    assert torch.allclose(ifft2c(acq.kspace_masked), image.to(torch.complex64), atol=1e-5)


def test_kspace_undersampling_crops_zero_filled_to_target():
    kspace = _kspace(40, 36)
    t = RandKspaceUndersampled(K.KSPACE, seed=1, crop_to_key=K.TARGET)
    d = t({K.KSPACE: kspace, K.TARGET: torch.zeros(1, 32, 32)})
    assert d[K.ZERO_FILLED].shape == (1, 32, 32) and d[K.KSPACE_MASKED].shape == (1, 40, 36)
    full = ifft2c(kspace * d[K.MASK]).abs()
    assert torch.equal(d[K.ZERO_FILLED], full[:, 4:36, 2:34])
    # fixed crop size, array version
    acq = RandKspaceUndersample(crop_size=(16, 16), seed=1)(kspace)
    assert acq.zero_filled.shape == (1, 16, 16) and acq.target is None


def test_undersample_kspace_is_mask_then_zero_filled():
    kspace, mask = _kspace(), (torch.arange(36) % 3 == 0).float().view(1, 1, 36)
    masked, zf = undersample_kspace(kspace, mask)
    assert torch.equal(masked, kspace * mask)
    assert torch.allclose(zf, ifft2c(kspace * mask).abs())


def test_per_volume_seed_gives_every_slice_the_same_mask():
    t = RandKspaceUndersampled(K.KSPACE, seed_key="fname", seed=0)
    other = RandKspaceUndersampled(K.KSPACE, seed_key="fname", seed=99)  # another worker / random state
    slices = [{K.KSPACE: _kspace(seed=i), "fname": "file1000001.h5"} for i in range(5)]
    masks = [t(s)[K.MASK] for s in slices] + [other(slices[2])[K.MASK]]
    assert all(torch.equal(m, masks[0]) for m in masks)
    assert not torch.equal(t({K.KSPACE: _kspace(), "fname": "file1000002.h5"})[K.MASK], masks[0])
    # the mask-only transform uses the same seed -> the same mask
    assert torch.equal(RandCartesianMaskd(K.KSPACE, seed_key="fname")(slices[0])[K.MASK], masks[0])
    # without seed_key, consecutive slices get different masks
    free = RandKspaceUndersampled(K.KSPACE, seed=0)
    assert not torch.equal(free(slices[0])[K.MASK], free(slices[1])[K.MASK])


def test_per_volume_seed_across_dataloader_workers():
    data = [{K.TARGET: _image(seed=i), "fname": f"vol{i % 2}.h5"} for i in range(8)]
    ds = Dataset(data, RandSimulateAcquisitiond(K.TARGET, seed_key="fname"))
    masks = {}
    for batch in DataLoader(ds, batch_size=2, num_workers=2):
        for name, mask in zip(batch["fname"], batch[K.MASK]):
            masks.setdefault(name, []).append(mask)
    assert sorted(masks) == ["vol0.h5", "vol1.h5"]
    for ms in masks.values():
        assert len(ms) == 4 and all(torch.equal(m, ms[0]) for m in ms)
    assert not torch.equal(masks["vol0.h5"][0], masks["vol1.h5"][0])


def test_set_random_state_reproduces_and_compose_propagates():
    x = {K.TARGET: _image()}
    a = RandSimulateAcquisitiond(K.TARGET, mask_type="equispaced").set_random_state(5)
    b = RandSimulateAcquisitiond(K.TARGET, mask_type="equispaced").set_random_state(5)
    assert all(torch.equal(a(x)[K.MASK], b(x)[K.MASK]) for _ in range(5))
    c1 = Compose([RandKspaceUndersampled(K.KSPACE)]).set_random_state(3)
    c2 = Compose([RandKspaceUndersampled(K.KSPACE)]).set_random_state(3)
    y = {K.KSPACE: _kspace()}
    assert all(torch.equal(c1(y)[K.MASK], c2(y)[K.MASK]) for _ in range(5))


def test_array_mask_and_randomize_false():
    t = RandCartesianMask(mask_type="random", accelerations=4, center_fractions=0.08, seed=0)
    first = t(_kspace())
    assert first.shape == (1, 1, 36) and first.dtype == torch.float32
    assert torch.equal(t(_kspace(seed=1), randomize=False), first)
    assert t.sample.acceleration == 4.0 and t.sample.center_fraction == 0.08
    with pytest.raises(ValueError, match="last mask has 36 columns"):
        t(_kspace(40, 40), randomize=False)


def test_zero_filled_channels():
    d = RandKspaceUndersampled(K.KSPACE, seed=0)({K.KSPACE: _kspace()})
    d = ZeroFilledChannelsd()(d)
    assert d["image"].shape == (2, 40, 36) and d["image"].dtype == torch.float32
    assert torch.equal(d["image"], complex_to_channels(ifft2c(d[K.KSPACE_MASKED])))
    assert torch.allclose(torch.linalg.vector_norm(d["image"], dim=0, keepdim=True), d[K.ZERO_FILLED], atol=1e-6)
    assert torch.equal(ZeroFilledChannels()(d[K.KSPACE_MASKED]), d["image"])


@pytest.mark.parametrize(
    "transform",
    [
        RandCartesianMaskd(K.KSPACE, allow_missing_keys=True),
        RandKspaceUndersampled(K.KSPACE, allow_missing_keys=True),
        RandSimulateAcquisitiond(K.TARGET, allow_missing_keys=True),
        ZeroFilledChannelsd(allow_missing_keys=True),
    ],
)
def test_allow_missing_keys(transform):
    assert transform({"other": 1}) == {"other": 1}
    transform.allow_missing_keys = False
    with pytest.raises(KeyError):
        transform({"other": 1})


def _nan_kspace():
    k = _kspace()
    k[0, 3, 4] = complex(float("nan"), 0)
    return k


def _inf_kspace():
    k = _kspace()
    k[0, 1, 1] = complex(0, float("inf"))
    return k


@pytest.mark.parametrize(
    "value, error, match",
    [
        (_kspace().real, TypeError, "k-space 'raw' must be complex.*real dtype torch.float32"),
        (_nan_kspace(), ValueError, "k-space 'raw' of shape .* has 1 NaN/inf"),
        (_inf_kspace(), ValueError, "k-space 'raw' .* has 1 NaN/inf"),
        (torch.zeros(1, 40, 36, dtype=torch.complex64), ValueError, "k-space 'raw' .* is all zero"),
        (torch.ones(2, 40, 36, dtype=torch.complex64), ValueError, r"'raw' must have shape \(1, H, W\), got \(2, 40"),
        (torch.ones(40, 36, dtype=torch.complex64), ValueError, r"'raw' must have shape \(1, H, W\)"),
        (torch.ones(1, 1, 36, dtype=torch.complex64), ValueError, "'raw' of shape \\(1, 1, 36\\) is too small"),
    ],
)
def test_bad_kspace_raises_naming_the_key(value, error, match):
    for transform in (RandKspaceUndersampled("raw"), RandCartesianMaskd("raw")):
        with pytest.raises(error, match=match):
            transform({"raw": value})


@pytest.mark.parametrize(
    "value, match",
    [
        (torch.rand(1, 1, 1), r"image 'img' of shape \(1, 1, 1\) is too small"),
        (torch.zeros(1, 16, 16), "image 'img' .* is all zero"),
        (torch.full((1, 16, 16), float("nan")), "image 'img' .* has 256 NaN/inf"),
        (torch.rand(3, 16, 16), r"image 'img' must have shape \(1, H, W\)"),
    ],
)
def test_bad_image_raises_naming_the_key(value, match):
    with pytest.raises(ValueError, match=match):
        RandSimulateAcquisitiond("img")({"img": value})


def test_bad_configuration_raises():
    with pytest.raises(ValueError, match="one key"):
        RandKspaceUndersampled((K.KSPACE, "other"))
    with pytest.raises(ValueError, match="crop_size or crop_to_key"):
        RandKspaceUndersampled(crop_size=(8, 8), crop_to_key=K.TARGET)
    with pytest.raises(KeyError, match="seed_key 'fname'"):
        RandKspaceUndersampled(seed_key="fname")({K.KSPACE: _kspace()})
    with pytest.raises(TypeError, match="seed_key 'fname' must hold a file name or an integer"):
        RandKspaceUndersampled(seed_key="fname")({K.KSPACE: _kspace(), "fname": 1.5})
    with pytest.raises(KeyError, match="crop_to_key 'target'"):
        RandKspaceUndersampled(crop_to_key=K.TARGET)({K.KSPACE: _kspace()})
    with pytest.raises(ValueError, match="cannot centre-crop"):
        RandKspaceUndersample(crop_size=(64, 64))(_kspace())
    with pytest.raises(ValueError, match="acceleration must be"):
        RandSimulateAcquisitiond(accelerations=0.5, center_fractions=0.08)
