"""Smooth random phase: turn a magnitude image ``m`` into the complex image ``m · exp(iφ)`` a scanner would give.

A scanner's image carries a smooth phase: a constant from the receive chain, linear ramps from an off-centre
field of view or a shifted echo (a ramp of ``2π`` across the field of view moves the k-space peak by one
column), slow curvature and a low-frequency random part from B0 inhomogeneity (``φ = γ ΔB0 TE``: tens of Hz at
TE 5-20 ms give a few radians, more near air-tissue boundaries) and the coil's sensitivity. Over normalised
coordinates ``x, y ∈ [-1, 1]`` across the image::

    φ(y, x) = c + a_x x + a_y y + b_xx x² + b_xy x y + b_yy y² + f(y, x)

``c`` is uniform in ``[-π, π]``; each ramp and curvature coefficient is uniform in ``[-linear, linear]`` and
``[-quadratic, quadratic]``; ``f`` is Gaussian noise on a ``(field_cycles + 1)²`` grid over the image,
interpolated bicubically and scaled to a standard deviation uniform in ``[0, field]``. With the defaults
(``linear = quadratic = π``, ``field = π / 2``) the phase spans about 3π across the image on average (up to 6π)
and, for an image ``N`` pixels wide, changes by at most about ``45 / N`` radians from one pixel to the next
(0.18 rad at 256; ``20 / N`` on average).

Arrays ``(1, H, W)`` real in, complex64 out; the magnitude is kept exactly. Like the masks, the phase can be
drawn with a per-call seed (the dictionary version's ``seed_key``), so a volume gets the same phase in every
evaluation run.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Hashable, Mapping, Optional

import numpy as np
import torch
import torch.nn.functional as F
from monai.config import KeysCollection, NdarrayOrTensor
from monai.transforms import MapTransform, Randomizable, RandomizableTransform
from monai.utils import TransformBackends
from torch import Tensor

from monai_chpnet.transforms.masks import CallSeed, call_seed
from monai_chpnet.transforms.validation import check_image_sample

__all__ = ["RandSmoothPhase", "RandSmoothPhased", "smooth_phase"]

_SALT = (0x50, 0x48)  # appended to per-call seeds (b"PH")


def _check_amplitude(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"phase parameter {name} must be a finite number >= 0 (radians), got {value}.")
    return value


def smooth_phase(shape: tuple, coefficients: np.ndarray, field: np.ndarray, field_std: float) -> Tensor:
    """The phase map ``φ`` float32 ``(H, W)`` of the module docstring's formula.

    Args:
        shape: ``(H, W)``.
        coefficients: ``(c, a_x, a_y, b_xx, b_xy, b_yy)`` in radians.
        field: the random field's control grid ``(n, n)`` (unit-variance noise).
        field_std: the standard deviation the interpolated field is scaled to (radians).
    """
    h, w = shape
    y = torch.linspace(-1.0, 1.0, h, dtype=torch.float64)[:, None]
    x = torch.linspace(-1.0, 1.0, w, dtype=torch.float64)[None, :]
    c, ax, ay, bxx, bxy, byy = (float(v) for v in coefficients)
    phase = c + ax * x + ay * y + bxx * x * x + bxy * x * y + byy * y * y
    if field_std > 0:
        grid = torch.as_tensor(field, dtype=torch.float64)[None, None]
        f = F.interpolate(grid, size=(h, w), mode="bicubic", align_corners=True)[0, 0]
        f = f - f.mean()
        phase = phase + f * (field_std / float(f.std().clamp_min(1e-12)))
    return phase.float()


class RandSmoothPhase(RandomizableTransform):
    """Give a real magnitude image ``(1, H, W)`` a smooth random phase (see the module docstring).

    Args:
        prob: probability of adding a phase; otherwise the image is returned as complex64 with zero phase, so
            a mixed batch has one dtype.
        linear: largest ramp coefficient ``|a_x|, |a_y|`` (radians at the image edge).
        quadratic: largest curvature coefficient ``|b_xx|, |b_xy|, |b_yy|`` (radians).
        field: largest standard deviation of the low-frequency random part (radians).
        field_cycles: spatial scale of the random part: noise on a ``(field_cycles + 1)²`` grid across the image.
        seed: seed of the random state.

    Raises:
        ValueError: a negative or non-finite amplitude, ``field_cycles < 1``, ``prob`` outside ``[0, 1]``.
    """

    backend = [TransformBackends.TORCH]

    def __init__(
        self,
        prob: float = 1.0,
        linear: float = math.pi,
        quadratic: float = math.pi,
        field: float = math.pi / 2,
        field_cycles: int = 3,
        seed: Optional[int] = None,
    ) -> None:
        if not 0.0 <= float(prob) <= 1.0:
            raise ValueError(f"phase parameter prob must lie in [0, 1], got {prob}.")
        RandomizableTransform.__init__(self, prob)
        self.linear = _check_amplitude("linear", linear)
        self.quadratic = _check_amplitude("quadratic", quadratic)
        self.field = _check_amplitude("field", field)
        if isinstance(field_cycles, bool) or int(field_cycles) != field_cycles or field_cycles < 1:
            raise ValueError(f"phase parameter field_cycles must be an integer >= 1, got {field_cycles}.")
        self.field_cycles = int(field_cycles)
        self.set_random_state(seed)
        self._params: Optional[tuple] = None

    def randomize(self, data: Any = None, seed: Optional[CallSeed] = None) -> None:
        """Draw whether to add a phase and its parameters (with ``seed``: for this call only, as the masks do)."""
        state = None
        if seed is not None:  # salted, so a volume's phase is not drawn from the same stream as its mask
            state = self.R.get_state()
            self.R.seed((seed,) + _SALT if isinstance(seed, int) else tuple(seed) + _SALT)
        try:
            super().randomize(None)
            bounds = [math.pi, self.linear, self.linear, self.quadratic, self.quadratic, self.quadratic]
            coefficients = np.array([self.R.uniform(-b, b) for b in bounds])
            n = self.field_cycles + 1
            self._params = (coefficients, self.R.standard_normal((n, n)), self.R.uniform(0.0, self.field))
        finally:
            if state is not None:
                self.R.set_state(state)

    def phase(self, shape: tuple) -> Tensor:
        """The last drawn phase map, float32 ``(H, W)`` (zeros when no phase was drawn)."""
        if self._params is None or not self._do_transform:
            return torch.zeros(shape)
        return smooth_phase(shape, *self._params)

    def __call__(
        self, image: NdarrayOrTensor, seed: Optional[CallSeed] = None, randomize: bool = True, name: Hashable = "image"
    ) -> Tensor:
        """
        Args:
            image: real magnitude ``(1, H, W)``, not negative.
            seed: per-call seed: equal seeds give equal phases.
            randomize: ``False`` re-uses the last draw.
            name: how errors call the input (the dictionary version passes its key).

        Returns:
            complex64 ``(1, H, W)`` whose magnitude equals ``image``.

        Raises:
            TypeError: a complex image (it already has a phase).
        """
        if isinstance(image, (Tensor, np.ndarray)) and (
            torch.is_tensor(image) and torch.is_complex(image) or np.iscomplexobj(image)
        ):
            raise TypeError(f"RandSmoothPhase: image {name!r} is already complex; it takes a real magnitude image.")
        x = check_image_sample(image, name)
        if randomize or self._params is None:
            self.randomize(seed=seed)
        return torch.polar(x, self.phase(tuple(x.shape[-2:]))[None])


class RandSmoothPhased(Randomizable, MapTransform):
    """Dictionary version of :class:`RandSmoothPhase`: replaces each key's real ``(1, H, W)`` image by its complex
    version (one draw per sample, shared by all keys).

    Args:
        keys: image keys (default ``"target"``, before :class:`~.acquisition.RandSimulateAcquisitiond`, which keeps
            ``|image|`` as the target).
        prob, linear, quadratic, field, field_cycles, seed: as :class:`RandSmoothPhase`.
        seed_key: optional key of a per-volume seed (a file name or an integer), as for the masks.
        allow_missing_keys: skip absent keys.
    """

    backend = RandSmoothPhase.backend

    def __init__(
        self,
        keys: KeysCollection = "target",
        prob: float = 1.0,
        linear: float = math.pi,
        quadratic: float = math.pi,
        field: float = math.pi / 2,
        field_cycles: int = 3,
        seed_key: Optional[Hashable] = None,
        allow_missing_keys: bool = False,
        seed: Optional[int] = None,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        self.phaser = RandSmoothPhase(prob, linear, quadratic, field, field_cycles, seed=seed)
        self.R = self.phaser.R
        self.seed_key = seed_key

    def set_random_state(
        self, seed: Optional[int] = None, state: Optional[np.random.RandomState] = None
    ) -> "RandSmoothPhased":
        super().set_random_state(seed, state)
        self.phaser.set_random_state(state=self.R)
        return self

    def randomize(self, data: Any = None) -> None:
        """Draw the next phase (see :meth:`RandSmoothPhase.randomize`)."""
        self.phaser.randomize(data)

    def __call__(self, data: Mapping[Hashable, Any]) -> Dict[Hashable, Any]:
        d = dict(data)
        seed = None
        if self.seed_key is not None:
            if self.seed_key not in d:
                raise KeyError(f"seed_key {self.seed_key!r} is not in the sample (keys: {sorted(map(str, d))}).")
            seed = call_seed(d[self.seed_key], self.seed_key)
        first = True
        for key in self.key_iterator(d):
            d[key] = self.phaser(d[key], seed=seed, randomize=first, name=key)
            first = False
        return d
