"""VolumeAcquisition: the evaluation recipes on a batch of slices give the numbers of the per-slice recipes."""

import numpy as np
import pytest
import torch

from monai_chpnet.data.synthetic import ellipse_phantom
from monai_chpnet.keys import ReconKeys
from monai_chpnet.kspace import fft2c
from monai_chpnet.transforms.masks import seed_from_name
from monai_chpnet.transforms.recipes import kspace_transform, simulation_transform
from monai_chpnet.transforms.volume import VolumeAcquisition

K = ReconKeys


def _slices(n=3, shape=(32, 40)):
    return torch.from_numpy(ellipse_phantom(n, shape).astype(np.float32))[:, None] * 100


def _close(a, b, rel=1e-5):
    a, b = torch.as_tensor(a), torch.as_tensor(b)
    assert a.shape == b.shape
    assert float((a - b).abs().max()) <= rel * max(float(b.abs().max()), 1e-12)


@pytest.mark.parametrize("phase", [False, True])
@pytest.mark.parametrize("mask_type", ["random", "equispaced"])
def test_simulated_batches_equal_the_per_slice_recipe(mask_type, phase):
    slices = _slices()
    acquisition = VolumeAcquisition(
        "simulate", 40, 4.0, 0.08, mask_type, mask_seed=7, phase_seed=(1, 2, 3) if phase else None
    )
    batch = acquisition(slices)
    recipe = simulation_transform(4.0, 0.08, mask_type, simulate_phase=phase)
    for i in range(slices.shape[0]):
        d = recipe({K.TARGET: slices[i], "mask_seed": 7, "phase_seed": (1, 2, 3)})
        _close(batch.image[i], d[K.IMAGE])
        _close(batch.kspace[i], d[K.KSPACE_MASKED])
        _close(batch.mask[i], d[K.MASK])
        _close(batch.zero_filled[i], d[K.ZERO_FILLED] * d[K.STD])
        _close(batch.scale[i].reshape(()), d[K.STD])


@pytest.mark.parametrize("acquired", [False, True])
def test_kspace_batches_equal_the_fastmri_recipe(acquired):
    image = _slices(2, (48, 40)).to(torch.complex64)
    kspace = fft2c(image)
    if acquired:
        kspace[..., 1::3] = 0
    target = image.abs()[..., 8:40, 4:36]
    mode = "acquired" if acquired else "kspace"
    batch = VolumeAcquisition(mode, 40, 4.0, 0.08, mask_seed=seed_from_name("file1.h5"), crop_size=(32, 32))(kspace)
    recipe = kspace_transform(None if acquired else 4.0, 0.08)
    for i in range(kspace.shape[0]):
        d = recipe({K.KSPACE: kspace[i], K.TARGET: target[i], "fname": "file1.h5"})
        _close(batch.image[i], d[K.IMAGE])
        _close(batch.kspace[i], d[K.KSPACE_MASKED])
        _close(batch.mask[i], d[K.MASK])
        _close(batch.zero_filled[i], d[K.ZERO_FILLED] * d[K.STD])


def test_undersampled_images_use_their_own_kspace_on_the_masks_columns():
    slices = _slices()
    acquisition = VolumeAcquisition("undersampled", 40, 4.0, 0.08, mask_seed=3)
    batch = acquisition(slices)
    assert torch.equal(batch.zero_filled, slices)
    assert torch.equal(batch.image[:, 1], torch.zeros_like(slices[:, 0]))
    unsampled = batch.mask[0, 0, 0] == 0
    assert float(batch.kspace[..., unsampled].abs().max()) == 0.0
    simulated = VolumeAcquisition("simulate", 40, 4.0, 0.08, mask_seed=3)
    assert torch.equal(acquisition.mask, simulated.mask)  # the acquisition's mask is the simulation's
    assert VolumeAcquisition.realised_acceleration(acquisition.mask) == pytest.approx(
        40 / float(acquisition.mask.sum())
    )


def test_a_kspace_too_narrow_for_the_mask_is_refused():
    with pytest.raises(ValueError, match="k-space width 6 is too small"):
        VolumeAcquisition("simulate", 6, 4.0, 0.08)
    with pytest.raises(ValueError, match="mode must be one of"):
        VolumeAcquisition("spiral", 32)
