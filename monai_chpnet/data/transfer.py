"""The Set5-style transfer set: five photographs that ship with pip-installable packages and are never trained on.

The paper tests its super-resolution on Set5 (five natural photographs), which cannot ship here; these five play its
part. None of them is in the shipped sample (``sample/train/natural`` holds other scikit-image pictures, and
``sample/unlabelled`` others again), so they measure transfer. Like Set5 they are scored on the luma channel
(:func:`rgb_to_y`, ITU-R BT.601 as SwinIR's ``bgr2ycbcr``) with a border of ``scale`` pixels cropped
(:func:`~monai_chpnet.metrics.psnr_y`).
"""

from __future__ import annotations

import os
from typing import Dict

import numpy as np

__all__ = ["TRANSFER_IMAGES", "load_transfer_set", "rgb_to_y"]

#: name -> (package, file in its sample data)
TRANSFER_IMAGES = {
    "grace_hopper": ("matplotlib", "grace_hopper.jpg"),  # a portrait, as Set5's "woman" / "head"
    "present": ("matplotlib", "Minduka_Present_Blue_Pack.png"),
    "motorcycle": ("skimage", "motorcycle_left.png"),
    "moon": ("skimage", "moon.png"),
    "page": ("skimage", "page.png"),
}


def _path(package: str, name: str) -> str:
    if package == "matplotlib":
        import matplotlib.cbook as cbook

        return str(cbook.get_sample_data(name, asfileobj=False))
    import skimage.data

    return os.path.join(skimage.data.data_dir, name)


def rgb_to_y(image: np.ndarray) -> np.ndarray:
    """Luma ``Y`` in ``[16, 235]`` (float64) of an ``(H, W, 3)`` RGB (or ``(H, W)`` grey) image in ``[0, 255]``."""
    x = np.asarray(image, dtype=np.float64)
    if x.ndim == 2:
        x = np.repeat(x[..., None], 3, axis=-1)
    return 16.0 + x[..., :3] @ np.array([65.481, 128.553, 24.966]) / 255.0


def load_transfer_set() -> Dict[str, np.ndarray]:
    """``{name: Y}``: the luma of each transfer image, float64 ``(H, W)`` in ``[16, 235]``.

    Raises:
        ImportError: scikit-image or matplotlib (which ship the pictures) is not installed.
    """
    from skimage.io import imread

    return {name: rgb_to_y(imread(_path(*where))) for name, where in TRANSFER_IMAGES.items()}
