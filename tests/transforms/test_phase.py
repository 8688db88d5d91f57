"""Smooth random phase transform: seeded, smooth, magnitude-preserving, and it breaks the real-image symmetry."""

import math

import numpy as np
import pytest
import torch

from monai_chpnet.keys import ReconKeys as K
from monai_chpnet.kspace import fft2c, ifft2c
from monai_chpnet.transforms.phase import RandSmoothPhase, RandSmoothPhased
from monai_chpnet.transforms.recipes import eval_transforms, train_transforms


def _magnitude(h=64, w=48, seed=0):
    return torch.rand(1, h, w, generator=torch.Generator().manual_seed(seed)) + 0.1


def _hermitian_residual(image: torch.Tensor) -> float:
    """Energy of k-space outside the conjugate symmetry K(-k) = conj K(k) of a real image, relative to the total
    (odd sizes, so that the centred grid is symmetric about the DC sample)."""
    k = fft2c(image.to(torch.complex64))[0]
    mirrored = torch.flip(k, dims=(-2, -1)).conj()
    return float((k - mirrored).abs().pow(2).sum() / (2 * k.abs().pow(2).sum()))


def test_same_seed_same_phase_and_magnitude_kept_exactly():
    image = _magnitude()
    t = RandSmoothPhase(seed=1)
    a = t(image, seed=(7, 8))
    other = t(image)  # the stream moves on; the per-call seed does not disturb it
    b = t(image, seed=(7, 8))
    assert a.dtype == torch.complex64 and a.shape == image.shape
    assert torch.equal(a, b) and not torch.allclose(a, other)
    assert torch.allclose(a.abs(), image, rtol=1e-6, atol=0)
    # a seeded transform gives the same stream twice
    assert torch.equal(RandSmoothPhase(seed=3)(image), RandSmoothPhase(seed=3)(image))


@pytest.mark.parametrize("size", [64, 256])
def test_phase_is_smooth(size):
    """Neighbouring pixels differ by at most 50 / N radians (the documented bound is about 45 / N) over many draws,
    and the phase spans radians, not hundredths of one (it is there)."""
    t = RandSmoothPhase(seed=0)
    steps, spans = [], []
    for _ in range(50):
        t.randomize()
        phase = t.phase((size, size))
        steps.append(
            max(float((phase[1:] - phase[:-1]).abs().max()), float((phase[:, 1:] - phase[:, :-1]).abs().max()))
        )
        spans.append(float(phase.max() - phase.min()))
    assert max(steps) < 50.0 / size
    assert np.mean(spans) > math.pi


def test_phase_breaks_hermitian_symmetry():
    image = _magnitude(63, 47)
    assert _hermitian_residual(image) < 1e-10  # a real image's k-space is Hermitian
    phased = RandSmoothPhase(seed=0)(image)
    assert _hermitian_residual(phased) > 0.05


def test_prob_zero_keeps_zero_phase_as_complex():
    image = _magnitude()
    out = RandSmoothPhase(prob=0.0, seed=0)(image)
    assert out.dtype == torch.complex64 and torch.equal(out.real, image) and torch.all(out.imag == 0)


def test_prob_mixes_phase_free_and_phase_bearing():
    t = RandSmoothPhase(prob=0.5, seed=0)
    with_phase = [bool(t(_magnitude(16, 16)).imag.abs().max() > 0) for _ in range(200)]
    assert 0.4 < np.mean(with_phase) < 0.6


def test_dict_version_seeds_per_volume_and_feeds_the_acquisition():
    image = _magnitude()
    t = RandSmoothPhased(K.TARGET, seed_key="fname", seed=0)
    a = t({K.TARGET: image, "fname": "vol1.nii.gz"})[K.TARGET]
    b = t({K.TARGET: image, "fname": "vol1.nii.gz"})[K.TARGET]
    c = t({K.TARGET: image, "fname": "vol2.nii.gz"})[K.TARGET]
    assert torch.equal(a, b) and not torch.allclose(a, c)
    # the evaluation recipe: the target stays the magnitude, the measured k-space is the phase-bearing image's
    d = eval_transforms(4.0, 0.08, seed_key="fname", phase_seed_key="fname")({K.TARGET: image, "fname": "vol1.nii.gz"})
    plain = eval_transforms(4.0, 0.08, seed_key="fname")({K.TARGET: image, "fname": "vol1.nii.gz"})
    assert torch.allclose(d[K.TARGET] * d[K.STD], image, atol=1e-6)
    assert torch.equal(d[K.MASK], plain[K.MASK])  # same mask: only the phase differs
    assert not torch.allclose(d[K.KSPACE_MASKED], plain[K.KSPACE_MASKED])


def test_training_recipe_phase_prob():
    """phase_prob=1 gives every sample a phase; a vanishing one none, with the same crops and masks (the phase
    transform draws the same random numbers either way), so only the phase differs."""
    image = {K.TARGET: _magnitude(96, 96)}
    never = train_transforms(patch_size=32, phase_prob=1e-12, augment=False)
    always = train_transforms(patch_size=32, phase_prob=1.0, augment=False)
    never.set_random_state(0)
    always.set_random_state(0)
    a, b = never(dict(image)), always(dict(image))
    assert torch.allclose(a[K.TARGET] * a[K.STD], b[K.TARGET] * b[K.STD], atol=1e-5)
    assert torch.equal(a[K.MASK], b[K.MASK])
    full_a, full_b = ifft2c(a[K.KSPACE]), ifft2c(b[K.KSPACE])
    assert float(full_a.imag.abs().max()) < 1e-4 * float(full_a.abs().max())  # phase-free: a real image
    assert float(full_b.imag.abs().mean()) > 0.1 * float(full_b.abs().mean())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"linear": -1.0}, "linear"),
        ({"quadratic": float("nan")}, "quadratic"),
        ({"field": float("inf")}, "field"),
        ({"field_cycles": 0}, "field_cycles"),
        ({"prob": 1.5}, "prob"),
    ],
)
def test_bad_parameters_name_the_parameter(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RandSmoothPhase(**kwargs)


def test_complex_input_is_refused():
    image = _magnitude().to(torch.complex64)
    with pytest.raises(TypeError, match="already complex"):
        RandSmoothPhase()(image)
    with pytest.raises(TypeError, match="'target' is already complex"):
        RandSmoothPhased(K.TARGET)({K.TARGET: image})
