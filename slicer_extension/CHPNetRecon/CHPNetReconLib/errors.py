"""Exceptions of the CHPNetRecon logic: one class per kind of failure, each message naming the node, file or shape.

All derive from :class:`CHPNetReconError`; the input errors also derive from :class:`ValueError`, so callers that
only know the standard hierarchy still catch them. The module widget shows any of them in an error dialog.
"""

from __future__ import annotations

__all__ = [
    "CHPNetReconError",
    "InputVolumeError",
    "NoImageDataError",
    "UnsupportedVolumeError",
    "ShapeMismatchError",
    "ParameterError",
    "ReconstructionFailedError",
    "ReconstructionCancelledError",
]


class CHPNetReconError(Exception):
    """Base class of every error the CHPNetRecon logic raises on purpose."""


class InputVolumeError(CHPNetReconError, ValueError):
    """A volume node cannot be reconstructed (the subclasses say why)."""


class NoImageDataError(InputVolumeError):
    """The node has no voxels (an empty node, or one whose file failed to load)."""


class UnsupportedVolumeError(InputVolumeError):
    """A vector / multi-component / 4-D / label-map volume, or one with fewer than 2 voxels across a slice."""


class ShapeMismatchError(InputVolumeError):
    """The reference volume's voxel grid differs from the input's."""


class ParameterError(CHPNetReconError, ValueError):
    """A reconstruction parameter is out of range (acceleration, slice axis, mask type, seed, device)."""


class ReconstructionFailedError(CHPNetReconError, RuntimeError):
    """The reconstruction itself failed (the background process exited with an error, or left no output)."""


class ReconstructionCancelledError(CHPNetReconError):
    """The user cancelled a running background reconstruction."""
