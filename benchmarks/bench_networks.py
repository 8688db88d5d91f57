"""Parameters, GMACs and CPU latency of the teacher, student and fastMRI U-Net side by side.

Latency: one 320×320 slice (batch 1, k-space mode: 2 channels, data consistency on for the networks that have
it), ``torch.set_num_threads(2)``, ``torch.inference_mode()``, eager fp32 (``--amp`` for autocast), after warm-up;
the median and the minimum of the timed repeats are reported (the minimum is the least disturbed by other
processes on shared cores), with the 1-minute load average before each network so that a disturbed row can be
told apart.

    python benchmarks/bench_networks.py            # full: 3 warm-up + 15 timed runs (paper teacher: 3 timed)
    python benchmarks/bench_networks.py --quick    # 1 warm-up + 5 timed runs (paper teacher: 1)
    python benchmarks/bench_networks.py --device cuda --amp bf16   # GPU, autocast (when one is present)

Prints a Markdown table and writes ``benchmarks/results/networks.json`` (atomically); a ``--networks`` subset
replaces only its own rows of an existing file measured with the same settings.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import torch
from torch import nn

from monai_chpnet.atomic import write_json
from monai_chpnet.kspace import complex_to_channels, fft2c, ifft2c
from monai_chpnet.networks import DEFAULT_STUDENT_PRESET, FastMRIUNet, student_from_preset, teacher_from_preset
from monai_chpnet.networks.summary import count_macs, count_parameters, format_table

RESULTS = Path(__file__).resolve().parent / "results" / "networks.json"

NETWORKS: Dict[str, Callable[[], nn.Module]] = {
    "teacher/small": lambda: teacher_from_preset("small", in_channels=2),
    "teacher/paper": lambda: teacher_from_preset("paper", in_channels=2),
    "student/small": lambda: student_from_preset("small", in_channels=2),
    "student/paper": lambda: student_from_preset("paper", in_channels=2),
    "unet/fastmri": lambda: FastMRIUNet(in_channels=2),
}


def measurement(size: int = 320, seed: int = 0) -> Sequence[torch.Tensor]:
    """A 4x-undersampled single-coil slice: zero-filled 2-channel image, masked k-space, column mask."""
    g = torch.Generator().manual_seed(seed)
    kspace = fft2c(torch.randn(1, 1, size, size, generator=g, dtype=torch.complex64))
    mask = (torch.rand(1, 1, 1, size, generator=g) < 0.25).float()
    mask[..., size // 2 - size // 25 : size // 2 + size // 25] = 1.0
    kspace = kspace * mask
    return complex_to_channels(ifft2c(kspace)), kspace, mask


def time_forward(
    net: nn.Module, inputs: Sequence[torch.Tensor], warmup: int, repeats: int, amp: Optional[torch.dtype] = None
) -> List[float]:
    """Wall-clock milliseconds of ``repeats`` forward passes after ``warmup`` untimed ones (inference mode).

    ``amp``: autocast dtype (``torch.bfloat16``/``torch.float16``) or ``None`` for full precision.
    """
    device = inputs[0].device
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times = []
    with torch.inference_mode(), torch.autocast(device.type, dtype=amp, enabled=amp is not None):
        for _ in range(warmup):
            net(*inputs)
        sync()
        for _ in range(repeats):
            start = time.perf_counter()
            net(*inputs)
            sync()
            times.append((time.perf_counter() - start) * 1e3)
    return times


AMP = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def run(
    quick: bool = False,
    size: int = 320,
    threads: int = 2,
    names: Optional[Sequence[str]] = None,
    device: str = "cpu",
    amp: str = "none",
) -> dict:
    """Benchmark ``names`` (default: all of :data:`NETWORKS`); return the JSON payload."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    image, kspace, mask = (t.to(device) for t in measurement(size))
    rows = []
    for name in names or list(NETWORKS):
        net = NETWORKS[name]().eval().to(device)
        inputs = (image,) if isinstance(net, FastMRIUNet) else (image, kspace, mask)
        heavy = name == "teacher/paper" and device == "cpu"
        warmup, repeats = (1, 1 if quick else 3) if heavy else (1, 5) if quick else (3, 15)
        load = os.getloadavg()[0]
        times = time_forward(net, inputs, warmup, repeats, AMP[amp])
        rows.append(
            {
                "network": name,
                "params": count_parameters(net),
                "gmacs": count_macs(NETWORKS[name], (size, size)) / 1e9,
                "ms_median": statistics.median(times),
                "ms_min": min(times),
                "repeats": repeats,
                "load_avg_1min": load,
            }
        )
        print(format_table(rows[-1:], extra=("ms_median", "ms_min")).splitlines()[-1], flush=True)
    return {
        "input": [1, 2, size, size],
        "device": device,
        "amp": amp,
        "threads": threads,
        "default_student_preset": DEFAULT_STUDENT_PRESET,
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "rows": rows,
    }


def merge_rows(payload: dict, path: Path) -> dict:
    """``payload`` with the rows of an existing ``path`` (same settings) kept where ``payload`` has none."""
    if not path.exists():
        return payload
    old = json.loads(path.read_text())
    settings = ("input", "device", "amp", "threads")
    if any(old.get(key) != payload[key] for key in settings):
        return payload
    rows = {row["network"]: row for row in old.get("rows", [])}
    rows.update({row["network"]: row for row in payload["rows"]})
    return {**payload, "rows": [rows[name] for name in NETWORKS if name in rows]}


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--size", type=int, default=320, help="square slice size")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--networks", nargs="*", choices=sorted(NETWORKS), help="subset to run")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--amp", default="none", choices=sorted(AMP), help="autocast dtype")
    parser.add_argument("--output", type=Path, default=RESULTS, help="JSON output path")
    args = parser.parse_args(argv)
    payload = run(args.quick, args.size, args.threads, args.networks, args.device, args.amp)
    if args.networks:
        payload = merge_rows(payload, args.output)
    print(f"\n{args.size}×{args.size}, batch 1, {args.device}, {args.threads} threads, inference_mode, amp={args.amp}")
    print(format_table(payload["rows"], extra=("ms_median", "ms_min")))
    write_json(args.output, payload)
    print(f"saved {args.output}")


if __name__ == "__main__":
    main()
