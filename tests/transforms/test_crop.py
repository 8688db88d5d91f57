import pytest
import torch


def test_signal_crop_never_returns_background_when_signal_exists():
    from monai_chpnet.transforms import RandSignalSpatialCrop, RandSignalSpatialCropd

    image = torch.zeros(1, 64, 64)
    image[0, 50:54, 8:12] = 1.0  # a small object in a sea of background
    crop = RandSignalSpatialCropd("target", roi_size=(16, 16), max_tries=200)
    crop.set_random_state(0)
    plain = RandSignalSpatialCropd("target", roi_size=(16, 16), max_tries=1)
    plain.set_random_state(0)
    empties_plain = sum(not plain({"target": image})["target"].any() for _ in range(50))
    assert empties_plain > 10  # the plain random crop mostly misses the object
    assert all(crop({"target": image})["target"].any() for _ in range(50))
    array = RandSignalSpatialCrop(roi_size=(16, 16), max_tries=200)
    array.set_random_state(1)
    assert all(array(image).any() for _ in range(20))
    assert array(image).shape == (1, 16, 16)
    with pytest.raises(ValueError, match="max_tries"):
        RandSignalSpatialCrop(roi_size=(4, 4), max_tries=0)
