"""Synthetic fastMRI-format HDF5 files: valid inputs for tests, demos and benchmarks without the real data.

A file written here has the layout of a fastMRI knee file (``singlecoil_*`` by default)::

    kspace               complex64 (slices, H, W)        centred, orthonormal: fft2c of a complex image
    reconstruction_esc   float32   (slices, h, w)        |ifft2c(kspace)| centre-cropped to the recon size
    ismrmrd_header       bytes                           minimal ISMRMRD XML (encodedSpace, reconSpace, limits)
    attrs: max, norm, acquisition, patient_id

``num_coils=C`` writes the multi-coil layout instead (``kspace`` ``(slices, C, H, W)``,
``reconstruction_rss``), which the single-coil reader must reject.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence, Tuple

import h5py
import numpy as np
import torch
from monai.config import PathLike

from monai_chpnet.atomic import atomic_path
from monai_chpnet.kspace import center_crop_hw, fft2c, ifft2c
from monai_chpnet.transforms.phase import RandSmoothPhase

__all__ = ["ellipse_phantom", "write_fastmri_h5"]

# Modified Shepp-Logan (Toft 1996): intensity, semi-axes (a, b), centre (x0, y0), rotation (degrees).
_SHEPP_LOGAN = (
    (1.0, 0.69, 0.92, 0.0, 0.0, 0.0),
    (-0.8, 0.6624, 0.874, 0.0, -0.0184, 0.0),
    (-0.2, 0.11, 0.31, 0.22, 0.0, -18.0),
    (-0.2, 0.16, 0.41, -0.22, 0.0, 18.0),
    (0.1, 0.21, 0.25, 0.0, 0.35, 0.0),
    (0.1, 0.046, 0.046, 0.0, 0.1, 0.0),
    (0.1, 0.046, 0.046, 0.0, -0.1, 0.0),
    (0.1, 0.046, 0.023, -0.08, -0.605, 0.0),
    (0.1, 0.023, 0.023, 0.0, -0.606, 0.0),
    (0.1, 0.023, 0.046, 0.06, -0.605, 0.0),
)

_HEADER = """<?xml version="1.0" encoding="utf-8"?>
<ismrmrdHeader xmlns="http://www.ismrm.org/ISMRMRD">
  <experimentalConditions><H1resonanceFrequency_Hz>127740000</H1resonanceFrequency_Hz></experimentalConditions>
  <encoding>
    <encodedSpace>
      <matrixSize><x>{ex}</x><y>{ey}</y><z>1</z></matrixSize>
      <fieldOfView_mm><x>{ex}</x><y>{ey}</y><z>1</z></fieldOfView_mm>
    </encodedSpace>
    <reconSpace>
      <matrixSize><x>{rx}</x><y>{ry}</y><z>1</z></matrixSize>
      <fieldOfView_mm><x>{rx}</x><y>{ry}</y><z>1</z></fieldOfView_mm>
    </reconSpace>
    <encodingLimits>
      <kspace_encoding_step_1>
        <minimum>0</minimum><maximum>{kmax}</maximum><center>{kc}</center>
      </kspace_encoding_step_1>
    </encodingLimits>
    <trajectory>cartesian</trajectory>
  </encoding>
</ismrmrdHeader>
"""


def ellipse_phantom(num_slices: int, size: Tuple[int, int]) -> np.ndarray:
    """A 3-D phantom made of the modified Shepp-Logan ellipses, each extended to an ellipsoid.

    Slice ``s`` cuts the ellipsoids at height ``z = 1.6 * (s + 0.5) / num_slices - 0.8``, so the slices of a
    volume differ like the slices of a scan (the outer ellipses shrink towards both ends).

    Args:
        num_slices: number of slices (>= 1).
        size: in-plane ``(H, W)``.

    Returns:
        float32 ``(num_slices, H, W)`` with values in ``[0, 1]``.
    """
    h, w = int(size[0]), int(size[1])
    if num_slices < 1 or h < 2 or w < 2:
        raise ValueError(f"ellipse_phantom needs num_slices >= 1 and size >= (2, 2), got {num_slices}, {size}.")
    y, x = np.meshgrid(np.linspace(1, -1, h), np.linspace(-1, 1, w), indexing="ij")
    out = np.zeros((num_slices, h, w), dtype=np.float64)
    for s in range(num_slices):
        z = 1.6 * (s + 0.5) / num_slices - 0.8
        for value, a, b, x0, y0, degrees in _SHEPP_LOGAN:
            c = max(a, b)  # third semi-axis of the ellipsoid
            shrink = 1.0 - (z / c) ** 2 if abs(z) < c else 0.0
            if shrink <= 0:
                continue
            t = np.deg2rad(degrees)
            xr = (x - x0) * np.cos(t) + (y - y0) * np.sin(t)
            yr = -(x - x0) * np.sin(t) + (y - y0) * np.cos(t)
            out[s][(xr / a) ** 2 + (yr / b) ** 2 <= shrink] += value
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _coil_sensitivities(num_coils: int, shape: Tuple[int, int]) -> np.ndarray:
    """Smooth complex coil maps ``(C, H, W)`` around a circle, normalised so ``sum_c |S_c|^2 == 1``."""
    y, x = np.meshgrid(np.linspace(-1, 1, shape[0]), np.linspace(-1, 1, shape[1]), indexing="ij")
    angles = 2 * np.pi * np.arange(num_coils) / num_coils
    maps = np.stack(
        [np.exp(-((x - 1.5 * np.cos(t)) ** 2 + (y - 1.5 * np.sin(t)) ** 2) / 2) * np.exp(1j * t) for t in angles]
    )
    return maps / np.sqrt((np.abs(maps) ** 2).sum(axis=0, keepdims=True))


def _pad_to(image: np.ndarray, shape: Tuple[int, int]) -> np.ndarray:
    """Zero-pad the last two axes symmetrically (fastMRI's centring: extra row/column after) to ``shape``."""
    h, w = image.shape[-2:]
    if h > shape[0] or w > shape[1]:
        raise ValueError(f"image of in-plane size {(h, w)} does not fit in the k-space grid {tuple(shape)}.")
    top, left = (shape[0] - h) // 2, (shape[1] - w) // 2
    pad = [(0, 0)] * (image.ndim - 2) + [(top, shape[0] - h - top), (left, shape[1] - w - left)]
    return np.pad(image, pad)


def write_fastmri_h5(
    path: PathLike,
    image: np.ndarray,
    *,
    kspace_shape: Optional[Sequence[int]] = (640, 368),
    recon_size: Sequence[int] = (320, 320),
    num_coils: Optional[int] = None,
    acquisition: str = "CORPD_FBK",
    patient_id: str = "synthetic",
    seed: int = 0,
) -> Path:
    """Write a fastMRI-format HDF5 file whose k-space is the centred orthonormal FFT of ``image``.

    A real ``image`` gets a random smooth phase (seeded; the training recipe's phase model,
    :class:`~monai_chpnet.transforms.phase.RandSmoothPhase`), so that, as in real scans, its image is complex, its
    k-space is not Hermitian-symmetric and a reader that drops the imaginary part is caught. The image is zero-padded to
    ``kspace_shape`` (the knee default 640 x 368 mimics read-out oversampling); the target is
    ``|ifft2c(kspace)|`` of the stored complex64 k-space, centre-cropped to ``recon_size``. The file appears
    atomically (temporary file in the same folder, then ``os.replace``).

    Args:
        path: destination ``.h5`` file; parent folders are created.
        image: ``(slices, h, w)`` real or complex volume (e.g. :func:`ellipse_phantom` or an MRI volume).
        kspace_shape: in-plane k-space ``(H, W)`` >= ``(h, w)``; ``None`` keeps ``(h, w)``.
        recon_size: in-plane size of the target, <= ``(H, W)`` (fastMRI: 320 x 320).
        num_coils: ``None`` for the single-coil layout; an int writes the multi-coil layout
            (``kspace (slices, C, H, W)``, ``reconstruction_rss``) with smooth synthetic coil maps.
        acquisition: ``acquisition`` attribute (fastMRI knee: ``CORPD_FBK`` or ``CORPDFS_FBK``).
        patient_id: ``patient_id`` attribute.
        seed: seed of the phase map.

    Returns:
        the path written.
    """
    path = Path(path)
    volume = np.asarray(image)
    if volume.ndim != 3:
        raise ValueError(f"image must be a volume (slices, h, w), got shape {volume.shape}.")
    grid = tuple(int(s) for s in (kspace_shape if kspace_shape is not None else volume.shape[-2:]))
    rh, rw = (int(s) for s in recon_size)
    if rh > grid[0] or rw > grid[1]:
        raise ValueError(f"recon_size {(rh, rw)} is larger than the k-space grid {grid}.")
    padded = _pad_to(volume, grid).astype(np.complex128)
    if not np.iscomplexobj(volume):
        phaser = RandSmoothPhase(seed=seed)
        phaser.randomize()
        padded = padded * np.exp(1j * phaser.phase(grid).double().numpy())
    if num_coils is not None:
        padded = padded[:, None] * _coil_sensitivities(num_coils, grid)[None]
    kspace = fft2c(torch.from_numpy(padded.astype(np.complex64)))
    coil_images = ifft2c(kspace).abs()
    magnitude = coil_images if num_coils is None else coil_images.pow(2).sum(dim=1).sqrt()
    target = center_crop_hw(magnitude, (rh, rw)).numpy().astype(np.float32)
    header = _HEADER.format(ex=grid[0], ey=grid[1], rx=rh, ry=rw, kmax=grid[1] - 1, kc=grid[1] // 2)

    with atomic_path(path, ".h5") as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("kspace", data=kspace.numpy())
        f.create_dataset("reconstruction_esc" if num_coils is None else "reconstruction_rss", data=target)
        f.create_dataset("ismrmrd_header", data=header.encode())
        f.attrs["max"] = float(target.max())
        f.attrs["norm"] = float(np.linalg.norm(target))
        f.attrs["acquisition"] = acquisition
        f.attrs["patient_id"] = patient_id
    return path
