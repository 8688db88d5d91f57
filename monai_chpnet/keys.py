"""Dictionary keys shared by the transforms, datasets, engines and the bundle.

One name per quantity, so a fastMRI file, a simulated acquisition and an image volume all yield the same
dictionary shape::

    {
      "image":         float32 (2, H, W)   network input: real/imag of the zero-filled image (k-space mode)
      "target":        float32 (1, H, W)   fully-sampled magnitude reference (absent for prospective data)
      "kspace":        complex64 (1, H, W) fully-sampled (or as-acquired) centred k-space
      "kspace_masked": complex64 (1, H, W) measured k-space  y = M * F x
      "mask":          float32 (1, 1, W)   1 where a column was acquired
      "zero_filled":   float32 (1, H, W)   |F^-1 y|  -- the network input in magnitude form
      "mean", "std":   float32 scalars     normalisation statistics of the zero-filled input
      "acceleration", "center_fraction":   the mask parameters that were drawn
    }
"""

from __future__ import annotations


class ReconKeys:
    """Names of the entries of a reconstruction sample dictionary (see module docstring)."""

    IMAGE = "image"  # the network input: 2-channel zero-filled (k-space mode) -- see ZeroFilledChannelsd
    TARGET = "target"
    KSPACE = "kspace"
    KSPACE_MASKED = "kspace_masked"
    MASK = "mask"
    ZERO_FILLED = "zero_filled"
    MEAN = "mean"
    STD = "std"
    ACCELERATION = "acceleration"
    CENTER_FRACTION = "center_fraction"
    LOW_RES = "low_res"  # super-resolution input
    PRED = "pred"
    TEACHER_PRED = "teacher_pred"
