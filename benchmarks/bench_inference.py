"""End-to-end inference on a 180 x 320 x 320 volume: time, its parts, peak memory, against the network's own time.

The volume is the shipped MNI T1 slab (20 x 256 x 256) centred in 320 x 320 slices and repeated to 180 slices, as a
float32 ``.nii.gz`` (74 MB of voxels). One run, in a fresh process (so peak memory is that of the run, imports
included), on ``--threads`` torch threads (default 2), reconstructs it with the shipped student at 4x
(:func:`~monai_chpnet.inference.reconstruct_file`: read, simulate the acquisition, stream slice batches through
the network, metrics) and writes its outputs (:func:`~monai_chpnet.inference.write_outputs`: two NIfTI volumes,
figure, metrics JSON). In the same process it then times the network alone on the same batch size over the same
number of slices (inputs prepared beforehand), and the fastMRI U-Net (7.8 M parameters, random weights: only its
time matters) on a few batches, for the ratios the README quotes.

Targets (issue #19): end to end < 10 s, end-to-end time per slice <= 1.5 x the network's own, peak memory <= 1 GB.

    python benchmarks/bench_inference.py [--threads 2] [--slices 180] [--batch-size 4] [--repeats 1]

Prints a table and writes ``benchmarks/results/inference.json`` (atomically), with the load average before and
after: the absolute times depend on what else the cores run; the ratios, measured in one process, much less.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

RESULTS = Path(__file__).resolve().parent / "results" / "inference.json"
TARGETS = {"seconds": 10.0, "ratio": 1.5, "peak_gb": 1.0}


def make_volume(path: Path, slices: int) -> Path:
    """The benchmark volume: the sample slab centred in 320 x 320 slices, repeated to ``slices``, float32."""
    import numpy as np
    import SimpleITK as sitk

    from monai_chpnet.data.sample import sample_volume_path

    slab = sitk.GetArrayFromImage(sitk.ReadImage(str(sample_volume_path()))).astype(np.float32)
    volume = np.zeros((slices, 320, 320), np.float32)
    for k in range(slices):
        volume[k, 32:288, 32:288] = slab[k % slab.shape[0]]
    image = sitk.GetImageFromArray(volume)
    image.SetSpacing((1.0, 1.0, 2.0))
    sitk.WriteImage(image, str(path), True)
    return path


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(volume: Path, out: Path, threads: int, batch_size: int) -> Dict[str, Any]:
    """One end-to-end run and the network timings, in this (fresh) process."""
    import torch

    torch.set_num_threads(threads)
    from monai_chpnet.inference import load_bundle_network, reconstruct_file, write_outputs
    from monai_chpnet.networks import FastMRIUNet
    from monai_chpnet.transforms.volume import VolumeAcquisition

    network = load_bundle_network()
    baseline_mb = _rss_mb()
    start = time.perf_counter()
    result = reconstruct_file(volume, network, acceleration=4.0, batch_size=batch_size)
    reconstructed = time.perf_counter()
    write_outputs(result, out)
    end = time.perf_counter()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    slices = result.reconstruction.shape[0]

    sample = torch.from_numpy(result.reference[slices // 2 : slices // 2 + batch_size].copy())[:, None]
    batch = VolumeAcquisition("simulate", 320, 4.0, 0.08, mask_seed=0)(sample)
    with torch.inference_mode():
        network(batch.image, kspace=batch.kspace, mask=batch.mask)  # warm-up
        tick = time.perf_counter()
        for _ in range(-(-slices // batch_size)):
            network(batch.image, kspace=batch.kspace, mask=batch.mask)
        network_alone = time.perf_counter() - tick
        unet = FastMRIUNet(in_channels=2).eval()
        unet(batch.image)
        tick = time.perf_counter()
        repeats = 3
        for _ in range(repeats):
            unet(batch.image)
        unet_ms = (time.perf_counter() - tick) / (repeats * batch_size) * 1000
    e2e = end - start
    return {
        "slices": slices,
        "end_to_end_s": e2e,
        "read_reconstruct_score_s": reconstructed - start,
        "write_outputs_s": end - reconstructed,
        "network_in_run_s": result.network_seconds,
        "network_alone_s": network_alone,
        "ms_per_slice": {
            "end_to_end": e2e / slices * 1000,
            "network_in_run": result.network_seconds / slices * 1000,
            "network_alone": network_alone / slices * 1000,
            "fastmri_unet": unet_ms,
        },
        "ratios": {
            "end_to_end_vs_network_in_run": e2e / result.network_seconds,
            "end_to_end_vs_network_alone": e2e / network_alone,
            "fastmri_unet_vs_student": unet_ms / (network_alone / slices * 1000),
        },
        "memory_mb": {"after_imports_and_network": baseline_mb, "peak": peak_mb, "run": peak_mb - baseline_mb},
        "psnr": {k: v["psnr"] for k, v in result.metrics.items()},
    }


def _table(runs: List[Dict[str, Any]]) -> str:
    lines = [
        "| run | end to end (s) | ms/slice e2e | ms/slice network (in run / alone) | e2e / network | U-Net / student "
        "| write (s) | peak memory (GB) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(runs):
        ms, ratio = r["ms_per_slice"], r["ratios"]
        lines.append(
            f"| {i + 1} | {r['end_to_end_s']:.1f} | {ms['end_to_end']:.1f} | {ms['network_in_run']:.1f} / "
            f"{ms['network_alone']:.1f} | {ratio['end_to_end_vs_network_in_run']:.2f} / "
            f"{ratio['end_to_end_vs_network_alone']:.2f} | {ratio['fastmri_unet_vs_student']:.1f} | "
            f"{r['write_outputs_s']:.1f} | {r['memory_mb']['peak'] / 1024:.2f} |"
        )
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--slices", type=int, default=180)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=1, help="fresh-process runs")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--child", nargs=2, metavar=("VOLUME", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(Path(args.child[0]), Path(args.child[1]), args.threads, args.batch_size)))
        return
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        volume = make_volume(Path(tmp) / "volume.nii.gz", args.slices)
        load_before = os.getloadavg()
        for i in range(args.repeats):
            command = [sys.executable, __file__, "--threads", str(args.threads), "--batch-size", str(args.batch_size)]
            command += ["--child", str(volume), str(Path(tmp) / f"out{i}")]
            env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
            proc = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
            runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        load_after = os.getloadavg()
    best = min(runs, key=lambda r: r["end_to_end_s"])
    payload = {
        "volume": [args.slices, 320, 320],
        "threads": args.threads,
        "batch_size": args.batch_size,
        "targets": TARGETS,
        "met": {
            "seconds": best["end_to_end_s"] < TARGETS["seconds"],
            "ratio": best["ratios"]["end_to_end_vs_network_in_run"] <= TARGETS["ratio"],
            "peak_gb": best["memory_mb"]["peak"] / 1024 <= TARGETS["peak_gb"],
        },
        "load_average_before": load_before,
        "load_average_after": load_after,
        "machine": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "runs": runs,
    }
    print(_table(runs))
    print(f"targets: {TARGETS}; met by the best run: {payload['met']}; load average {load_before} -> {load_after}")
    from monai_chpnet.atomic import write_json

    write_json(args.output, payload)
    print(f"saved {args.output}")


if __name__ == "__main__":
    main()
