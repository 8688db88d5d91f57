"""Where fastMRI 0.3.0 and monai-chpnet differed: a k-space narrower than its reconstruction size ("FLAIR 203") is
cropped as fastMRI crops it, and mask seeds outside [0, 2**32) are refused as fastMRI refuses them."""

import numpy as np
import pytest
import torch

from monai_chpnet.keys import ReconKeys
from monai_chpnet.kspace import center_crop_hw, fft2c
from monai_chpnet.transforms import (
    AcquiredKspaced,
    RandCartesianMask,
    RandKspaceUndersampled,
    RandomMaskFunc,
    create_mask_func,
    fastmri_crop_size,
)
from monai_chpnet.transforms.masks import EquispacedMaskFractionFunc, call_seed


def test_fastmri_crop_size_is_the_flair_203_rule():
    assert fastmri_crop_size(368, (320, 320)) == (320, 320)
    assert fastmri_crop_size(300, (320, 320)) == (300, 300)  # narrower than the reconstruction: (W, W)


def _narrow_sample():
    """A slice whose k-space (1, 640, 300) is narrower than its 320 x 320 target."""
    image = torch.rand(1, 640, 300) + 1.0
    return {ReconKeys.KSPACE: fft2c(image.to(torch.complex64)), ReconKeys.TARGET: torch.rand(1, 320, 320)}


@pytest.mark.parametrize(
    "transform",
    [RandKspaceUndersampled(crop_to_key=ReconKeys.TARGET, seed=0), AcquiredKspaced(crop_to_key=ReconKeys.TARGET)],
)
def test_a_kspace_narrower_than_its_target_crops_both_as_fastmri(transform):
    """fastMRI (UnetDataTransform): ``if image.shape[-2] < crop_size[1]: crop_size = (W, W)``, image and target."""
    sample = _narrow_sample()
    target = sample[ReconKeys.TARGET]
    out = transform(sample)
    assert out[ReconKeys.ZERO_FILLED].shape == (1, 300, 300)
    assert torch.equal(out[ReconKeys.TARGET], center_crop_hw(target, (300, 300)))


def test_without_a_target_the_header_size_is_cropped_as_fastmri():
    sample = _narrow_sample()
    del sample[ReconKeys.TARGET]
    sample["recon_size"] = (320, 320, 1)
    assert AcquiredKspaced()(sample)[ReconKeys.ZERO_FILLED].shape == (1, 300, 300)


@pytest.mark.parametrize("seed", [-1, 2**32, 2**40, 1.5, True])
def test_mask_seeds_outside_the_numpy_range_are_refused_not_wrapped(seed):
    for make in (
        lambda: RandomMaskFunc(seed=seed),
        lambda: EquispacedMaskFractionFunc(seed=seed),
        lambda: create_mask_func("random", seed=seed),
        lambda: RandCartesianMask(seed=seed),
        lambda: RandKspaceUndersampled(seed=seed),
    ):
        with pytest.raises(ValueError, match="seed must be an integer from 0 to 4294967295"):
            make()
    with pytest.raises(ValueError, match="seed must be an integer from 0 to 4294967295"):
        RandCartesianMask().set_random_state(seed=seed)
    if isinstance(seed, int) and not isinstance(seed, bool):
        with pytest.raises(ValueError, match="seed_key 'mask_seed' must be an integer from 0 to 4294967295"):
            call_seed(seed, "mask_seed")


def test_the_largest_seed_is_accepted_and_gives_numpys_masks():
    func = RandomMaskFunc(seed=2**32 - 1)
    rng = np.random.RandomState(2**32 - 1)  # fastMRI's MaskFunc draws from this state
    assert func.R.get_state()[1].tolist() == rng.get_state()[1].tolist()
