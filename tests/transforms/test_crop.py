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
    grey = image + 0.5  # the same object in a uniform grey border: flat patches are drawn again too
    crop.set_random_state(0)
    assert all(crop({"target": grey})["target"].std() > 0 for _ in range(50))


def test_training_pipeline_keeps_a_flat_patch_instead_of_inverting_it_to_zero():
    """A flat, non-zero patch (a uniform region or a grey border) must reach the acquisition: the pipeline's
    intensity inversion (``max - x``) would make it all zero, and the acquisition refuses an all-zero image."""
    from monai_chpnet.transforms.recipes import _invert, train_transforms

    flat = torch.full((1, 8, 8), 0.3)
    assert torch.equal(_invert(flat), flat)
    ramp = torch.linspace(0, 1, 64).reshape(1, 8, 8)
    assert torch.allclose(_invert(ramp), 1 - ramp)
    pipeline = train_transforms(patch_size=16)
    pipeline.set_random_state(0)
    image = torch.full((1, 200, 200), 0.5)  # a picture in a wide flat grey border
    image[:, 30:170, 30:170] = torch.rand(1, 140, 140, generator=torch.Generator().manual_seed(0))
    for _ in range(40):  # inversion has probability 0.2: it is drawn several times here
        out = pipeline({"target": image.clone()})
        assert float(out["target"].std()) > 0  # flat border patches are drawn again
        assert float(out["image"].abs().max()) < 1e3  # a flat patch would be divided by its zero spread


def test_training_pipeline_pads_an_image_zoomed_below_a_third_of_the_patch():
    """The default 96-pixel patch on a 96-pixel-wide slice zoomed out by 0.25-0.33: the pad to the patch size is
    wider than the zoomed image, which reflect padding cannot do (it stopped the default bundle configs)."""
    from monai_chpnet.transforms.recipes import train_transforms

    pipeline = train_transforms(patch_size=96, zoom_prob=1.0, min_zoom=0.25)
    pipeline.set_random_state(0)
    image = torch.rand(1, 130, 96, generator=torch.Generator().manual_seed(1))
    for _ in range(30):  # zoom below 1/3 has probability 1/9 per draw
        out = pipeline({"target": image.clone()})
        assert out["target"].shape == (1, 96, 96) and torch.isfinite(out["image"]).all()
