"""Throughput of the training data pipeline, in slices per second, on 2 CPU threads.

Pipelines (random Cartesian masks, 4x/0.08 and 8x/0.04 drawn per slice):

* ``kspace-mode``: 320 x 320 magnitude slice -> simulated acquisition -> scale normalisation of every image and
  k-space key -> centre crop of target / zero-filled to 320 x 320 (a view here; the ``fastmri`` row crops for
  real) -> 2-channel network input. The training pipeline of the k-space-mode networks; also timed through
  ``monai.data.DataLoader`` (batches of 16, collation included) with 0 and 2 workers.
* ``image-mode``: 320 x 320 slice -> simulated acquisition -> fastMRI mean/std normalisation (clamp 6).
* ``fastmri``: 640 x 368 single-coil k-space -> undersampling with a per-volume mask seed -> zero-filled image
  cropped to the 320 x 320 target -> mean/std normalisation.

Each figure is taken over ``--repeats`` timed passes: the median (typical on a shared machine) and the best
(what the pipeline can do when the cores are free); in-process rows also give the process CPU time per slice,
which other jobs on the machine disturb much less than wall time. Prints a table and writes
``benchmarks/results/pipeline.json`` (atomically). Target: >= 200 slices/s.

    python benchmarks/bench_pipeline.py [--slices 300] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import monai
import torch
from monai.data import DataLoader, Dataset
from monai.transforms import Compose

from monai_chpnet.atomic import write_json
from monai_chpnet.keys import ReconKeys as K
from monai_chpnet.transforms import (
    ALL_SCALED_KEYS,
    CenterCropHWd,
    NormalizeInstanced,
    RandKspaceUndersampled,
    RandSimulateAcquisitiond,
    ZeroFilledChannelsd,
)

TARGET_SLICES_PER_S = 200.0
THREADS = 2
RESULTS = Path(__file__).resolve().parent / "results" / "pipeline.json"


def kspace_mode_pipeline() -> Compose:
    return Compose(
        [
            RandSimulateAcquisitiond(K.TARGET, mask_type="random", accelerations=(4, 8), center_fractions=(0.08, 0.04)),
            NormalizeInstanced(ALL_SCALED_KEYS, mode="scale"),
            CenterCropHWd((K.TARGET, K.ZERO_FILLED), roi_size=(320, 320)),
            ZeroFilledChannelsd(),
        ]
    )


def image_mode_pipeline() -> Compose:
    return Compose(
        [
            RandSimulateAcquisitiond(K.TARGET, mask_type="random"),
            NormalizeInstanced((K.ZERO_FILLED, K.TARGET), mode="meanstd", clamp=6.0),
        ]
    )


def fastmri_pipeline() -> Compose:
    return Compose(
        [
            RandKspaceUndersampled(K.KSPACE, mask_type="random", seed_key="fname", crop_to_key=K.TARGET),
            NormalizeInstanced((K.ZERO_FILLED, K.TARGET), mode="meanstd", clamp=6.0),
        ]
    )


def magnitude_slices(n: int) -> List[Dict]:
    """``n`` samples drawn from 16 smooth-plus-noise 320 x 320 magnitude slices (content does not change speed)."""
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 320), torch.linspace(-1, 1, 320), indexing="ij")
    phantom = (xx**2 / 0.6 + yy**2 / 0.8 < 1).float()
    pool = [(phantom + 0.1 * torch.rand(320, 320, generator=g))[None] for _ in range(16)]
    return [{K.TARGET: pool[i % 16]} for i in range(n)]


def kspace_slices(n: int) -> List[Dict]:
    """``n`` fastMRI-like samples: 640 x 368 k-space of 16 volumes, 320 x 320 targets."""
    g = torch.Generator().manual_seed(0)
    pool = [torch.randn(1, 640, 368, dtype=torch.complex64, generator=g) for _ in range(16)]
    target = torch.rand(1, 320, 320, generator=g)
    return [{K.KSPACE: pool[i % 16], K.TARGET: target, "fname": f"file{i % 16}.h5"} for i in range(n)]


Rates = Tuple[float, float, Optional[float]]  # median slices/s, best slices/s, median CPU ms per slice


def time_direct(transform: Callable, samples: List[Dict], repeats: int) -> Rates:
    """Slices/s and CPU ms/slice of applying ``transform`` to every sample in this process."""
    transform(samples[0])  # warm-up
    rates, cpu_ms = [], []
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        for s in samples:
            transform(s)
        rates.append(len(samples) / (time.perf_counter() - start))
        cpu_ms.append(1e3 * (time.process_time() - cpu_start) / len(samples))
    return statistics.median(rates), max(rates), statistics.median(cpu_ms)


def time_loader(transform: Callable, samples: List[Dict], workers: int, repeats: int, batch_size: int = 16) -> Rates:
    """Slices/s of one ``DataLoader`` epoch (collation included), timed from the first batch on."""
    rates = []
    for _ in range(repeats):
        loader = DataLoader(Dataset(samples, transform), batch_size=batch_size, num_workers=workers)
        count, start = 0, None
        for batch in loader:
            if start is None:  # excludes worker start-up
                start = time.perf_counter()
                continue
            count += batch[K.TARGET].shape[0]
        rates.append(count / (time.perf_counter() - start))
    return statistics.median(rates), max(rates), None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slices", type=int, default=300, help="slices per timed pass")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes per pipeline")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(THREADS)

    images, kspaces = magnitude_slices(args.slices), kspace_slices(args.slices)
    rows = [
        ("kspace-mode 320x320, direct", time_direct(kspace_mode_pipeline(), images, args.repeats)),
        ("image-mode 320x320, direct", time_direct(image_mode_pipeline(), images, args.repeats)),
        ("fastmri 640x368 -> 320x320, direct", time_direct(fastmri_pipeline(), kspaces, args.repeats)),
    ]
    rows += [
        (f"kspace-mode 320x320, DataLoader {w} workers", time_loader(kspace_mode_pipeline(), images, w, args.repeats))
        for w in (0, 2)
    ]

    print(f"{'pipeline':<44} {'median/s':>9} {'best/s':>9} {'cpu ms':>7}  target >= {TARGET_SLICES_PER_S:.0f}/s")
    for name, (median, best, cpu) in rows:
        ok = "ok" if median >= TARGET_SLICES_PER_S else "BELOW"
        cpu_text = f"{cpu:7.2f}" if cpu is not None else f"{'-':>7}"
        print(f"{name:<44} {median:9.1f} {best:9.1f} {cpu_text}  {ok}")

    result = {
        "benchmark": "pipeline",
        "unit": "slices/s",
        "target_slices_per_s": TARGET_SLICES_PER_S,
        "torch_threads": THREADS,
        "slices_per_pass": args.slices,
        "repeats": args.repeats,
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "processor": platform.processor()},
        "versions": {"torch": torch.__version__, "monai": monai.__version__},
        "rows": [
            {
                "pipeline": name,
                "slices_per_s_median": round(median, 1),
                "slices_per_s_best": round(best, 1),
                "cpu_ms_per_slice_median": None if cpu is None else round(cpu, 3),
            }
            for name, (median, best, cpu) in rows
        ],
    }
    write_json(args.out, result)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
