"""Re-create the module icon ``CHPNetRecon/Resources/Icons/CHPNetRecon.png`` (128 x 128, 8-bit grey PNG).

The icon is what the module does, on the shipped sample: the middle slice of the MNI T1 demo volume undersampled
4x (left half: zero-filled) and reconstructed by the shipped bundle's student (right half), split by a white line.
Deterministic (mask seed 0); run from a monai-chpnet checkout with its environment::

    .venv/bin/python slicer_extension/Utilities/make_icon.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from monai_chpnet.data.sample import sample_volume_path
from monai_chpnet.data.volumes import read_volume
from monai_chpnet.inference import load_bundle_network, reconstruct_volume

ICON = Path(__file__).resolve().parents[1] / "CHPNetRecon" / "Resources" / "Icons" / "CHPNetRecon.png"
SIZE = 128


CROP = slice(40, 216)  # the head fills this 176 x 176 centre of the 256 x 256 slice


def _thumbnail(image: np.ndarray, vmax: float) -> np.ndarray:
    """Centre crop of a ``(256, 256)`` slice, resampled (linear) to ``(128, 128)`` uint8 on ``[0, vmax]``."""
    crop = sitk.GetImageFromArray(np.ascontiguousarray(image[CROP, CROP], dtype=np.float32))
    spacing = crop.GetSize()[0] / SIZE
    small = sitk.Resample(
        crop, (SIZE, SIZE), sitk.Transform(), sitk.sitkLinear, (0.5 * spacing - 0.5,) * 2, (spacing, spacing)
    )
    return np.clip(sitk.GetArrayFromImage(small) / vmax * 255.0, 0, 255).astype(np.uint8)


def main() -> Path:
    volume, _ = read_volume(sample_volume_path())
    k = volume.shape[0] // 2
    result = reconstruct_volume(volume[k : k + 1], load_bundle_network(), acceleration=4.0, seed=0)
    vmax = float(np.percentile(result.reference, 99.5))
    zero_filled, reconstruction = (_thumbnail(x[0], vmax) for x in (result.zero_filled, result.reconstruction))
    icon = np.concatenate([zero_filled[:, : SIZE // 2], reconstruction[:, SIZE // 2 :]], axis=1)
    icon[:, SIZE // 2 - 1 : SIZE // 2 + 1] = 255
    ICON.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(sitk.GetImageFromArray(icon), str(ICON))
    return ICON


if __name__ == "__main__":
    print(main())
