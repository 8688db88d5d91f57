"""Cartesian mask functions: sampling rates, centre block, seeding, validation, fastMRI semantics."""

import contextlib
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from monai_chpnet.transforms import (
    EquispacedMaskFractionFunc,
    RandomMaskFunc,
    create_mask_func,
    seed_from_name,
)

PAIRS = {4: 0.08, 8: 0.04}


@pytest.mark.parametrize("mask_type", ["random", "equispaced"])
@pytest.mark.parametrize("acceleration", [4, 8])
@pytest.mark.parametrize("width", [368, 320])
def test_realised_sampling_fraction(mask_type, acceleration, width):
    """Averaged over 400 draws the sampled fraction is 1/acceleration within +-1.5 % (relative)."""
    func = create_mask_func(mask_type, acceleration, PAIRS[acceleration], seed=1234)
    fractions = [float(func(width).mask.mean()) for _ in range(400)]
    assert np.mean(fractions) == pytest.approx(1 / acceleration, rel=0.015)


@pytest.mark.parametrize("mask_type", ["random", "equispaced"])
@pytest.mark.parametrize("width", [368, 320, 41])
def test_centre_block_fully_sampled(mask_type, width):
    func = create_mask_func(mask_type, seed=0)
    for _ in range(20):
        sample = func(width)
        n = round(width * sample.center_fraction)
        pad = (width - n + 1) // 2
        assert sample.num_low_frequencies == n
        assert sample.mask.shape == (width,) and sample.mask.dtype == torch.float32
        assert torch.all(sample.mask[pad : pad + n] == 1)
        assert set(sample.mask.unique().tolist()) <= {0.0, 1.0}
        assert (sample.acceleration, sample.center_fraction) in PAIRS.items()


def test_pair_drawn_uniformly_from_lists():
    func = RandomMaskFunc((4, 8), (0.08, 0.04), seed=3)
    drawn = [func(320).acceleration for _ in range(400)]
    assert drawn.count(4.0) / 400 == pytest.approx(0.5, abs=0.08)
    assert set(drawn) == {4.0, 8.0}


@pytest.mark.parametrize("cls, distinct", [(RandomMaskFunc, 10), (EquispacedMaskFractionFunc, 5)])
def test_same_seed_same_mask_different_seed_different_mask(cls, distinct):
    assert torch.equal(cls(seed=7)(368).mask, cls(seed=7)(368).mask)
    # 10 seeds: random masks never repeat; equispaced ones have 5 (4x) + 10 (8x) possible offsets
    assert len({tuple(cls(seed=s)(368).mask.tolist()) for s in range(10)}) >= distinct


def test_per_call_seed_is_fixed_and_restores_the_stream():
    func = RandomMaskFunc(seed=0)
    seed = seed_from_name("file1000001.h5")
    first = func(368, seed=seed).mask
    stream_a = func(368).mask
    again = func(368, seed=seed).mask
    assert torch.equal(first, again)
    # the seeded call did not advance the unseeded stream (fastMRI's temp_seed)
    reference = RandomMaskFunc(seed=0)
    assert torch.equal(reference(368).mask, stream_a)
    assert not torch.equal(func(368, seed=seed_from_name("file1000002.h5")).mask, first)


def test_seed_from_name_is_fastmri_and_location_independent():
    assert seed_from_name("file1000001.h5") == tuple(map(ord, "file1000001.h5"))
    assert seed_from_name(Path("/data/singlecoil_val/file1000001.h5")) == seed_from_name("file1000001.h5")
    with pytest.raises(ValueError, match="empty"):
        seed_from_name("")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(accelerations=(0.5,), center_fractions=(0.08,)), "acceleration must be .* >= 1, got 0.5"),
        (dict(accelerations=(4,), center_fractions=(0.0,)), r"center_fraction must lie in \(0, 1\), got 0.0"),
        (dict(accelerations=(4,), center_fractions=(1.2,)), "got 1.2"),
        (dict(accelerations=(4, 8), center_fractions=(0.08,)), "same length"),
        (dict(accelerations=(), center_fractions=()), "non-empty"),
        (dict(accelerations=(8,), center_fractions=(0.2,)), "centre block alone"),
        (dict(accelerations=(float("nan"),), center_fractions=(0.08,)), "got nan"),
    ],
)
def test_bad_parameters_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RandomMaskFunc(**kwargs)


def test_unknown_mask_type_and_too_small_width_raise():
    with pytest.raises(ValueError, match="mask_type must be one of"):
        create_mask_func("poisson")
    with pytest.raises(ValueError, match="width 10 is too small"):
        RandomMaskFunc(8, 0.04)(10)  # round(0.4) = 0 centre columns
    with pytest.raises(ValueError, match="width 8 is too small"):
        RandomMaskFunc(4, 0.2)(8)  # cf * acc = 0.8, but round(1.6) = 2 centre columns already hold 8 / 4


# ---------------------------------------------------------------------------------------------------------------
# fastMRI semantics. Reference: a literal transcription of fastMRI 0.3.0, ``fastmri/data/subsample.py``
# (https://github.com/facebookresearch/fastMRI/blob/v0.3.0/fastmri/data/subsample.py; Copyright (c) Facebook, Inc.
# and its affiliates, MIT licence): ``temp_seed``, ``MaskFunc.__call__``/``sample_mask``/``choose_acceleration``/
# ``calculate_center_mask`` and the two ``calculate_acceleration_mask`` rules. Only the k-space layout differs:
# fastMRI masks axis -2 of ``(..., H, W, 2)`` tensors, so it is called with ``shape = (1, W, 1)``.
# The transcription was checked against the real package (``pip download --no-deps fastmri==0.3.0``) with
# ``test_matches_installed_fastmri``, which runs whenever ``fastmri`` is importable.
# ---------------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def fastmri_temp_seed(rng, seed):
    if seed is None:
        try:
            yield
        finally:
            pass
    else:
        state = rng.get_state()
        rng.seed(seed)
        try:
            yield
        finally:
            rng.set_state(state)


class FastMRIMaskFunc:
    def __init__(self, center_fractions, accelerations, seed=None):
        self.center_fractions = center_fractions
        self.accelerations = accelerations
        self.rng = np.random.RandomState(seed)

    def __call__(self, shape, offset=None, seed=None):
        with fastmri_temp_seed(self.rng, seed):
            center_mask, accel_mask, num_low_frequencies = self.sample_mask(shape, offset)
        return torch.max(center_mask, accel_mask), num_low_frequencies

    def sample_mask(self, shape, offset):
        num_cols = shape[-2]
        center_fraction, acceleration = self.choose_acceleration()
        num_low_frequencies = round(num_cols * center_fraction)
        center_mask = self.reshape_mask(self.calculate_center_mask(shape, num_low_frequencies), shape)
        acceleration_mask = self.reshape_mask(
            self.calculate_acceleration_mask(num_cols, acceleration, offset, num_low_frequencies), shape
        )
        return center_mask, acceleration_mask, num_low_frequencies

    def reshape_mask(self, mask, shape):
        num_cols = shape[-2]
        mask_shape = [1 for _ in shape]
        mask_shape[-2] = num_cols
        return torch.from_numpy(mask.reshape(*mask_shape).astype(np.float32))

    def calculate_center_mask(self, shape, num_low_freqs):
        num_cols = shape[-2]
        mask = np.zeros(num_cols, dtype=np.float32)
        pad = (num_cols - num_low_freqs + 1) // 2
        mask[pad : pad + num_low_freqs] = 1
        assert mask.sum() == num_low_freqs
        return mask

    def choose_acceleration(self):
        choice = self.rng.randint(len(self.center_fractions))
        return self.center_fractions[choice], self.accelerations[choice]


class FastMRIRandomMaskFunc(FastMRIMaskFunc):
    def calculate_acceleration_mask(self, num_cols, acceleration, offset, num_low_frequencies):
        prob = (num_cols / acceleration - num_low_frequencies) / (num_cols - num_low_frequencies)
        return self.rng.uniform(size=num_cols) < prob


class FastMRIEquispacedMaskFractionFunc(FastMRIMaskFunc):
    def calculate_acceleration_mask(self, num_cols, acceleration, offset, num_low_frequencies):
        adjusted_accel = (acceleration * (num_low_frequencies - num_cols)) / (
            num_low_frequencies * acceleration - num_cols
        )
        if offset is None:
            offset = self.rng.randint(0, high=round(adjusted_accel))
        mask = np.zeros(num_cols)
        accel_samples = np.arange(offset, num_cols - 1, adjusted_accel)
        accel_samples = np.around(accel_samples).astype(np.uint)
        mask[accel_samples] = 1.0
        return mask


REFERENCES = {"random": FastMRIRandomMaskFunc, "equispaced": FastMRIEquispacedMaskFractionFunc}


def _assert_same_masks(ours_cls, ref_cls, width):
    ours = ours_cls((4, 8), (0.08, 0.04), seed=42)
    ref = ref_cls([0.08, 0.04], [4, 8], seed=42)
    for i in range(30):  # the stream, then per-call seeds as fastMRI's validation transform uses them
        seed = None if i % 3 else tuple(map(ord, f"file{i}.h5"))
        expected, num_low = ref((1, width, 1), seed=seed)
        sample = ours(width, seed=seed)
        assert torch.equal(sample.mask, expected.flatten()), (i, width)
        assert sample.num_low_frequencies == num_low


@pytest.mark.parametrize("mask_type", ["random", "equispaced"])
@pytest.mark.parametrize("width", [368, 320, 372, 41])
def test_matches_fastmri_transcription(mask_type, width):
    _assert_same_masks(type(create_mask_func(mask_type)), REFERENCES[mask_type], width)


def _installed_fastmri_subsample():
    """``fastmri.data.subsample`` loaded by file path: fastMRI's package ``__init__`` needs yaml, pandas, etc."""
    spec = importlib.util.find_spec("fastmri")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("fastmri is not installed (optional: pip install --no-deps fastmri==0.3.0)")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "subsample.py"
    module_spec = importlib.util.spec_from_file_location("fastmri_subsample_reference", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("mask_type", ["random", "equispaced"])
def test_matches_installed_fastmri(mask_type):
    subsample = _installed_fastmri_subsample()
    ref = {"random": subsample.RandomMaskFunc, "equispaced": subsample.EquispacedMaskFractionFunc}[mask_type]
    for width in (368, 320, 41):
        _assert_same_masks(type(create_mask_func(mask_type)), ref, width)
