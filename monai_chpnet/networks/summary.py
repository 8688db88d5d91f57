"""Parameters and multiply-accumulates (MACs) of the reconstruction networks, as a table.

MACs are counted by :class:`torch.utils.flop_counter.FlopCounterMode` (convolutions, transposed convolutions,
matmul/bmm/linear and ``scaled_dot_product_attention``; MACs = FLOPs / 2) in one forward pass on ``meta`` tensors,
so a paper-size transformer at 320×320 is counted in well under a second without allocating memory. Element-wise
operations, normalisation, softmax and the FFTs of data consistency are not counted (they are a small fraction).

CLI::

    python -m monai_chpnet.networks.summary                       # all presets at 320×320, k-space mode
    python -m monai_chpnet.networks.summary --size 256 256 --in-channels 1 --upscale 2
"""

from __future__ import annotations

import argparse
from typing import Callable, Dict, List, Optional, Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from monai_chpnet.networks.student import STUDENT_PRESETS, student_from_preset
from monai_chpnet.networks.teacher import TEACHER_PRESETS, teacher_from_preset
from monai_chpnet.networks.unet_baseline import FastMRIUNet

__all__ = ["count_parameters", "count_macs", "network_factories", "summarize", "format_table", "main"]


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters of ``model`` (all, or only those with ``requires_grad``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_macs(build: Callable[[], nn.Module], size: Sequence[int] = (320, 320), batch_size: int = 1) -> int:
    """MACs of one forward pass of a freshly built network on a ``(batch_size, C, H, W)`` input.

    Args:
        build: zero-argument factory of the network (built on the ``meta`` device here); it must have
            ``in_channels``.
        size: input ``(H, W)`` (the low-resolution size for super-resolution networks).
        batch_size: ``B``.

    Returns:
        multiply-accumulates (FLOPs / 2) without data consistency.
    """
    with torch.device("meta"):
        model = build().eval()
        image = torch.zeros(batch_size, model.in_channels, int(size[0]), int(size[1]))
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(image)
    return counter.get_total_flops() // 2


def network_factories(in_channels: int = 2, upscale: int = 1) -> Dict[str, Callable[[], nn.Module]]:
    """``{"teacher/<preset>", "student/<preset>", "unet/fastmri"}`` -> factory, for one input mode."""
    factories: Dict[str, Callable[[], nn.Module]] = {}
    for name in TEACHER_PRESETS:
        factories[f"teacher/{name}"] = lambda n=name: teacher_from_preset(n, in_channels=in_channels, upscale=upscale)
    for name in STUDENT_PRESETS:
        factories[f"student/{name}"] = lambda n=name: student_from_preset(n, in_channels=in_channels, upscale=upscale)
    if upscale == 1:
        factories["unet/fastmri"] = lambda: FastMRIUNet(in_channels=in_channels)
    return factories


def summarize(
    factories: Dict[str, Callable[[], nn.Module]],
    size: Sequence[int] = (320, 320),
    names: Optional[Sequence[str]] = None,
) -> List[Dict[str, float]]:
    """One row per network: ``{"network", "params", "gmacs"}`` (GMACs for one ``size`` input, batch 1)."""
    rows: List[Dict[str, float]] = []
    for name in names or list(factories):
        with torch.device("meta"):
            params = count_parameters(factories[name]())
        rows.append({"network": name, "params": params, "gmacs": count_macs(factories[name], size) / 1e9})
    return rows


def format_table(rows: Sequence[Dict[str, float]], extra: Sequence[str] = ()) -> str:
    """Markdown table of :func:`summarize` rows (``params`` in millions, GMACs), plus ``extra`` columns as given."""
    header = ["network", "params (M)", "GMACs", *extra]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    for row in rows:
        cells = [str(row["network"]), f"{row['params'] / 1e6:.3f}", f"{row['gmacs']:.2f}"]
        cells += [f"{row[key]:.1f}" if isinstance(row[key], float) else str(row[key]) for key in extra]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Print the parameter/MAC table of every preset (see the module docstring for the options)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, nargs=2, default=(320, 320), metavar=("H", "W"), help="input size")
    parser.add_argument("--in-channels", type=int, default=2, choices=(1, 2), help="2: k-space mode, 1: magnitude")
    parser.add_argument("--upscale", type=int, default=1, choices=(1, 2, 4), help="super-resolution factor")
    parser.add_argument("--networks", nargs="*", help="subset, e.g. teacher/small student/small unet/fastmri")
    args = parser.parse_args(argv)
    factories = network_factories(args.in_channels, args.upscale)
    unknown = sorted(set(args.networks or ()) - set(factories))
    if unknown:
        parser.error(f"unknown networks {unknown}; choose from {sorted(factories)}")
    print(f"input {args.size[0]}×{args.size[1]}, in_channels={args.in_channels}, upscale={args.upscale}")
    print(format_table(summarize(factories, args.size, args.networks)))


if __name__ == "__main__":
    main()
