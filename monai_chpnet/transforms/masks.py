"""Cartesian column-mask functions with fastMRI's semantics (``fastmri/data/subsample.py``, fastMRI 0.3.0).

A mask function is a small seeded object: called with the number of k-space columns ``W`` it draws one
``(acceleration, center_fraction)`` pair from its lists, then a column mask, and returns a :class:`MaskSample`.
Its random state is a ``np.random.RandomState`` (MONAI's :attr:`Randomizable.R`), consumed in the same order
as fastMRI's ``MaskFunc``: ``randint`` for the pair, then ``uniform`` (random) or ``randint`` (equispaced offset)
for the columns. The same integer seed therefore gives the same masks as fastMRI, and a per-call ``seed``
(fastMRI's ``temp_seed``: the state is re-seeded for the call and restored afterwards) gives every slice of a
volume the same mask, e.g. ``seed=seed_from_name(fname)``.

MONAI's :class:`monai.apps.reconstruction.transforms.array.RandomKspaceMask` implements the same random rule
but applies the mask itself, cannot be seeded per call and does not return the mask alone, hence these.
"""

from __future__ import annotations

import math
import os
from abc import ABC, abstractmethod
from contextlib import contextmanager
from typing import Any, Dict, Hashable, Iterator, NamedTuple, Optional, Sequence, Tuple, Type, Union

import numpy as np
import torch
from monai.transforms import Randomizable
from monai.utils import ensure_tuple
from torch import Tensor

__all__ = [
    "MAX_SEED",
    "check_seed",
    "MaskSample",
    "CartesianMaskFunc",
    "RandomMaskFunc",
    "EquispacedMaskFractionFunc",
    "MASK_FUNCS",
    "create_mask_func",
    "seed_from_name",
    "call_seed",
]

#: a per-call seed: an integer, or a tuple of integers as fastMRI derives from a file name
CallSeed = Union[int, Tuple[int, ...]]
#: the largest seed: NumPy's ``RandomState`` (which fastMRI's mask functions seed) takes ``[0, 2**32)``
MAX_SEED = 2**32 - 1


def check_seed(seed: Any, what: str = "seed") -> int:
    """``seed`` as an int, refused outside ``[0, 2**32)`` as fastMRI refuses it (MONAI's ``set_random_state``
    would silently wrap it modulo ``2**32``, giving another seed's masks).

    Raises:
        ValueError: naming ``what`` and the value.
    """
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"{what} must be an integer from 0 to {MAX_SEED}, got {seed!r}.")
    return int(seed)


class MaskSample(NamedTuple):
    """One drawn column mask and the parameters it was drawn with."""

    mask: Tensor  #: float32 ``(W,)``, 1 where a column is acquired
    acceleration: float
    center_fraction: float
    num_low_frequencies: int  #: width of the fully sampled centre block


def seed_from_name(name: Union[str, os.PathLike]) -> Tuple[int, ...]:
    """fastMRI's per-volume seed ``tuple(map(ord, fname))`` of the file's base name (location independent)."""
    base = os.path.basename(os.fspath(name))
    if not base:
        raise ValueError(f"cannot derive a mask seed from the empty file name {name!r}.")
    return tuple(map(ord, base))


def call_seed(value: Any, seed_key: Hashable) -> CallSeed:
    """The per-call seed held by a sample's ``seed_key`` entry: :func:`seed_from_name` of a file name, an integer
    or a tuple of integers as it is (masks and phases of one volume are drawn from it)."""
    if isinstance(value, (str, os.PathLike)):
        return seed_from_name(value)
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return check_seed(value, f"seed_key {seed_key!r}")
    if isinstance(value, tuple) and value and all(isinstance(v, (int, np.integer)) for v in value):
        return tuple(int(v) for v in value)
    raise TypeError(f"seed_key {seed_key!r} must hold a file name or an integer, got {type(value).__name__}.")


class CartesianMaskFunc(Randomizable, ABC):
    """Base class: draw an ``(acceleration, center_fraction)`` pair, a centred fully sampled block of
    ``round(W * center_fraction)`` columns starting at ``(W - num_low + 1) // 2``, and the outer columns chosen by
    :meth:`outer_columns` (the subclass's rule).

    Args:
        accelerations: undersampling factors (each >= 1); one is drawn per call, uniformly.
        center_fractions: fraction of columns in the fully sampled centre, each in (0, 1), paired with
            ``accelerations`` (same length).
        seed: seed of the random state (``None``: from OS entropy), in ``[0, 2**32)``; see :meth:`set_random_state`.

    Raises:
        ValueError: empty or mismatched lists, an acceleration < 1, a centre fraction outside (0, 1), a pair
            whose centre block alone reaches ``1 / acceleration`` of the columns, or a seed outside ``[0, 2**32)``.
    """

    def __init__(
        self,
        accelerations: Union[float, Sequence[float]] = (4, 8),
        center_fractions: Union[float, Sequence[float]] = (0.08, 0.04),
        seed: Optional[int] = None,
    ) -> None:
        self.accelerations = tuple(float(a) for a in ensure_tuple(accelerations))
        self.center_fractions = tuple(float(c) for c in ensure_tuple(center_fractions))
        if not self.accelerations or not self.center_fractions:
            raise ValueError(
                f"accelerations {self.accelerations} and center_fractions {self.center_fractions} must be non-empty."
            )
        if len(self.accelerations) != len(self.center_fractions):
            raise ValueError(
                f"accelerations {self.accelerations} and center_fractions {self.center_fractions} must have the same "
                f"length ({len(self.accelerations)} != {len(self.center_fractions)}): they are drawn in pairs."
            )
        for acc, cf in zip(self.accelerations, self.center_fractions):
            if not (math.isfinite(acc) and acc >= 1):
                raise ValueError(f"acceleration must be a finite number >= 1, got {acc}.")
            if not 0 < cf < 1:
                raise ValueError(f"center_fraction must lie in (0, 1), got {cf}.")
            if cf * acc >= 1:
                raise ValueError(
                    f"center_fraction {cf} with acceleration {acc}: the centre block alone would reach 1/{acc} of "
                    "the columns; use a smaller centre fraction."
                )
        self.set_random_state(seed)
        self._sample: Optional[MaskSample] = None

    def set_random_state(
        self, seed: Optional[int] = None, state: Optional[np.random.RandomState] = None
    ) -> "CartesianMaskFunc":
        """Seed the random state; a seed outside ``[0, 2**32)`` is refused (:func:`check_seed`), not wrapped."""
        super().set_random_state(None if seed is None else check_seed(seed), state)
        return self

    @abstractmethod
    def outer_columns(self, num_cols: int, acceleration: float, num_low: int) -> np.ndarray:
        """Boolean ``(W,)`` selection outside the centre block (it may overlap it), drawn from :attr:`R`."""

    def randomize(self, data: int) -> None:
        """Draw a pair and a mask for ``data`` (= ``W``) columns; the result is kept for :meth:`__call__`.

        Raises:
            ValueError: if ``W`` is too small for the drawn pair (no centre column, or the centre block alone
                already holds ``W / acceleration`` columns).
        """
        num_cols = int(data)
        choice = self.R.randint(len(self.accelerations))
        acceleration, center_fraction = self.accelerations[choice], self.center_fractions[choice]
        num_low = round(num_cols * center_fraction)
        if num_low < 1 or num_low * acceleration >= num_cols:
            raise ValueError(
                f"k-space width {num_cols} is too small for acceleration {acceleration} with center_fraction "
                f"{center_fraction}: the centre block has {num_low} column(s), it needs at least 1 and fewer than "
                f"{num_cols / acceleration:g}."
            )
        mask = self.outer_columns(num_cols, acceleration, num_low).astype(np.float32)
        pad = (num_cols - num_low + 1) // 2
        mask[pad : pad + num_low] = 1.0
        self._sample = MaskSample(torch.from_numpy(mask), acceleration, center_fraction, num_low)

    def __call__(self, num_cols: int, seed: Optional[CallSeed] = None) -> MaskSample:
        """Draw a mask for ``num_cols`` columns.

        Args:
            num_cols: k-space width ``W``.
            seed: if given, the random state is seeded with it for this call only and then restored
                (fastMRI's ``temp_seed``), so equal seeds give equal masks without disturbing the stream.

        Returns:
            :class:`MaskSample` with a float32 ``(W,)`` mask.
        """
        with self._temp_seed(seed):
            self.randomize(num_cols)
        assert self._sample is not None
        return self._sample

    @contextmanager
    def _temp_seed(self, seed: Optional[CallSeed]) -> Iterator[None]:
        if seed is None:
            yield
            return
        state = self.R.get_state()
        self.R.seed(seed)
        try:
            yield
        finally:
            self.R.set_state(state)


class RandomMaskFunc(CartesianMaskFunc):
    """fastMRI ``RandomMaskFunc``: outer columns drawn independently with probability
    ``(W / acceleration - num_low) / (W - num_low)``, so that ``W / acceleration`` columns are expected."""

    def outer_columns(self, num_cols: int, acceleration: float, num_low: int) -> np.ndarray:
        prob = (num_cols / acceleration - num_low) / (num_cols - num_low)
        return self.R.uniform(size=num_cols) < prob


class EquispacedMaskFractionFunc(CartesianMaskFunc):
    """fastMRI ``EquispacedMaskFractionFunc``: outer columns every ``adjusted_accel`` columns (rounded), from a
    random offset in ``[0, round(adjusted_accel))``, with ``adjusted_accel = acc (num_low - W) / (num_low acc - W)``
    chosen so that centre plus outer columns number about ``W / acceleration``."""

    def outer_columns(self, num_cols: int, acceleration: float, num_low: int) -> np.ndarray:
        adjusted_accel = (acceleration * (num_low - num_cols)) / (num_low * acceleration - num_cols)
        offset = self.R.randint(0, high=round(adjusted_accel))
        selected = np.zeros(num_cols, dtype=bool)
        selected[np.around(np.arange(offset, num_cols - 1, adjusted_accel)).astype(np.int64)] = True
        return selected


#: mask functions by ``mask_type`` name
MASK_FUNCS: Dict[str, Type[CartesianMaskFunc]] = {
    "random": RandomMaskFunc,
    "equispaced": EquispacedMaskFractionFunc,
}


def create_mask_func(
    mask_type: str,
    accelerations: Union[float, Sequence[float]] = (4, 8),
    center_fractions: Union[float, Sequence[float]] = (0.08, 0.04),
    seed: Optional[int] = None,
) -> CartesianMaskFunc:
    """Mask function by name: ``"random"`` (fastMRI knee) or ``"equispaced"`` (fastMRI brain)."""
    if mask_type not in MASK_FUNCS:
        raise ValueError(f"mask_type must be one of {sorted(MASK_FUNCS)}, got {mask_type!r}.")
    return MASK_FUNCS[mask_type](accelerations, center_fractions, seed=seed)
