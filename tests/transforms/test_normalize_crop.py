"""Instance normalisation (meanstd / scale), its inverse, and the centre crop."""

import pytest
import torch
from monai.data import list_data_collate

from monai_chpnet.keys import ReconKeys as K
from monai_chpnet.kspace import apply_mask, ifft2c
from monai_chpnet.transforms import (
    ALL_SCALED_KEYS,
    CenterCropHW,
    CenterCropHWd,
    NormalizeInstance,
    NormalizeInstanced,
    RandSimulateAcquisitiond,
    denormalize,
)


def _sample(seed=0):
    image = 2.0 + 5.0 * torch.rand(1, 32, 32, generator=torch.Generator().manual_seed(seed))
    return RandSimulateAcquisitiond(K.TARGET, seed=seed)({K.TARGET: image})


def test_meanstd_is_fastmri_normalize_instance_and_round_trips():
    d = _sample()
    zf, target = d[K.ZERO_FILLED], d[K.TARGET]
    out = NormalizeInstanced((K.ZERO_FILLED, K.TARGET), mode="meanstd")(d)
    mean, std = zf.mean(), zf.std()  # fastMRI: torch's (unbiased) std of the zero-filled image
    assert out[K.MEAN] == pytest.approx(mean.item()) and out[K.STD] == pytest.approx(std.item() + 1e-11)
    assert torch.allclose(out[K.ZERO_FILLED], (zf - mean) / (std + 1e-11), atol=1e-6)
    assert torch.allclose(out[K.TARGET], (target - mean) / (std + 1e-11), atol=1e-6)
    assert out[K.ZERO_FILLED].mean().abs() < 1e-5 and out[K.ZERO_FILLED].std() == pytest.approx(1.0, rel=1e-5)
    assert torch.allclose(denormalize(out[K.TARGET], out[K.MEAN], out[K.STD]), target, atol=1e-5)
    assert torch.equal(out[K.KSPACE], d[K.KSPACE])  # not listed, untouched


def test_scale_mode_keeps_kspace_consistency_and_round_trips():
    d = _sample()
    out = NormalizeInstanced(ALL_SCALED_KEYS, mode="scale")(d)
    std = d[K.ZERO_FILLED].std() + 1e-11
    assert out[K.MEAN] == 0 and out[K.STD] == pytest.approx(std.item())
    for key in ALL_SCALED_KEYS:
        assert out[key].dtype == d[key].dtype
        assert torch.allclose(out[key], d[key] / std, atol=1e-6)
        assert torch.allclose(denormalize(out[key], out[K.MEAN], out[K.STD]), d[key], rtol=1e-6, atol=1e-6)
    # still a consistent acquisition: masked k-space is the mask of k-space, zero-filled its magnitude image
    assert torch.allclose(out[K.KSPACE_MASKED], apply_mask(out[K.KSPACE], out[K.MASK]), atol=1e-7)
    assert torch.allclose(ifft2c(out[K.KSPACE_MASKED]).abs(), out[K.ZERO_FILLED], atol=1e-5)


def test_denormalize_batched_statistics():
    samples = [NormalizeInstanced((K.ZERO_FILLED, K.TARGET))(_sample(i)) for i in range(3)]
    originals = torch.stack([_sample(i)[K.TARGET] for i in range(3)])
    batch = list_data_collate(samples)
    assert batch[K.MEAN].shape == (3,)
    assert torch.allclose(denormalize(batch[K.TARGET], batch[K.MEAN], batch[K.STD]), originals, atol=1e-5)


def test_clamp_and_array_version():
    x = torch.zeros(1, 10, 10)
    x[0, 0, 0] = 100.0
    out = NormalizeInstance("meanstd", clamp=6.0)(x)
    assert out.max() == 6.0
    mean, std = NormalizeInstance("scale").stats(x)
    assert mean == 0 and std == pytest.approx(x.std().item())
    assert torch.allclose(NormalizeInstance("scale")(x), x / std)


def test_normalize_bad_inputs():
    d = _sample()
    with pytest.raises(ValueError, match="cannot normalise the complex entry 'kspace'"):
        NormalizeInstanced((K.ZERO_FILLED, K.KSPACE), mode="meanstd")(d)
    with pytest.raises(ValueError, match="needs mode='meanstd'"):
        NormalizeInstance("scale", clamp=6.0)
    with pytest.raises(ValueError, match="mode must be one of"):
        NormalizeInstance("minmax")
    with pytest.raises(KeyError, match="reference 'zero_filled'"):
        NormalizeInstanced(K.TARGET)({K.TARGET: torch.rand(1, 4, 4)})
    with pytest.raises(TypeError, match="reference 'kspace' must be a real"):
        NormalizeInstanced(K.TARGET, ref_key=K.KSPACE)(d)
    with pytest.raises(ValueError, match="give both mean and std"):
        NormalizeInstance()(torch.rand(1, 4, 4), mean=0.0)
    # allow_missing_keys: prospective data has no target
    out = NormalizeInstanced((K.ZERO_FILLED, K.TARGET), allow_missing_keys=True)({K.ZERO_FILLED: d[K.ZERO_FILLED]})
    assert K.TARGET not in out and K.MEAN in out
    with pytest.raises(KeyError):
        NormalizeInstanced((K.ZERO_FILLED, K.TARGET))({K.ZERO_FILLED: d[K.ZERO_FILLED]})


def test_center_crop():
    x = torch.arange(7 * 6, dtype=torch.float32).view(1, 7, 6)
    assert torch.equal(CenterCropHW((3, 2))(x), x[:, 2:5, 2:4])
    d = {K.ZERO_FILLED: x, K.TARGET: torch.zeros(1, 5, 4), K.KSPACE: torch.ones(1, 7, 6, dtype=torch.complex64)}
    out = CenterCropHWd((K.ZERO_FILLED, K.KSPACE), size_key=K.TARGET)(d)
    assert torch.equal(out[K.ZERO_FILLED], x[:, 1:6, 1:5]) and out[K.KSPACE].shape == (1, 5, 4)
    assert CenterCropHWd("missing", roi_size=(2, 2), allow_missing_keys=True)({"a": 1}) == {"a": 1}
    with pytest.raises(KeyError):
        CenterCropHWd("missing", roi_size=(2, 2))({"a": 1})
    with pytest.raises(ValueError, match="cannot centre-crop 'zero_filled' of shape \\(1, 7, 6\\) to \\(8, 8\\)"):
        CenterCropHWd(K.ZERO_FILLED, roi_size=(8, 8))(d)
    with pytest.raises(ValueError, match="exactly one of roi_size and size_key"):
        CenterCropHWd(K.ZERO_FILLED)
    with pytest.raises(KeyError, match="size_key 'target'"):
        CenterCropHWd(K.ZERO_FILLED, size_key=K.TARGET)({K.ZERO_FILLED: x})
