"""State dicts and the files that hold them: does a state dict fit a module, and which entry of a training
checkpoint holds the network's weights. Shared by the engines (resume) and inference (loading weights)."""

from __future__ import annotations

from typing import Any, Mapping

import torch

__all__ = ["NETWORK_ENTRIES", "describe_state_mismatch", "network_state"]

#: entries under which training checkpoints keep a network's state dict, in the order they are looked for
NETWORK_ENTRIES = ("student", "model", "network", "state_dict")


def describe_state_mismatch(module: torch.nn.Module, state: Mapping[str, torch.Tensor]) -> str:
    """Describe how a state dict fails to fit ``module``: missing / unexpected keys, shape mismatches ('' if it fits)."""
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k}: {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and state[k].shape != v.shape
    ]
    parts = []
    if missing:
        parts.append(f"missing {missing[:3]}{'...' if len(missing) > 3 else ''}")
    if unexpected:
        parts.append(f"unexpected {unexpected[:3]}{'...' if len(unexpected) > 3 else ''}")
    if shapes:
        parts.append(f"shape mismatch {shapes[:3]}")
    return "; ".join(parts)


def network_state(checkpoint: Mapping[str, Any]) -> Mapping[str, Any]:
    """The network's state dict in ``checkpoint``: its first :data:`NETWORK_ENTRIES` entry that is a mapping, or
    the checkpoint itself (a bare state dict, as ``models/model.pt``)."""
    for key in NETWORK_ENTRIES:
        if key in checkpoint and isinstance(checkpoint[key], Mapping):
            return checkpoint[key]
    return checkpoint
