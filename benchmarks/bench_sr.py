"""Super-resolution quality and speed: held-out MR and the Set5-style transfer set, x2 and x4, both degradations.

Every method -- the bicubic and zero-padded k-space (``sinc``) baselines, the students (and teachers) whose weights
are given -- is scored by :func:`monai_chpnet.inference.sr_evaluation.evaluate_sr` on:

* held-out MR never trained on: three real sources from other scanners, anatomies and contrasts (pydicom's 64²
  ``MR_small`` brain slice, a Siemens abdominal slice, a T2* EPI brain volume), matplotlib's 256² ``s1045`` MR head
  slice, and the demo T1 slab (the training template's subject: in distribution), with fastMRI's metrics;
* the five transfer photographs (:mod:`monai_chpnet.data.transfer`), luma PSNR / SSIM with ``scale`` pixels cropped.

Speed: ms per output slice of 512 x 512 (x2 from 256², x4 from 128²) for the student and the teacher, 2 threads,
measured in this run.

    python benchmarks/bench_sr.py --weights student:2:kspace:S2K.pt student:2:bicubic:S2B.pt ... [teacher:2:kspace:T.pt]

Prints a table, writes ``benchmarks/results/sr/sr.json`` and ``sr.md`` (atomically).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results" / "sr"
TARGETS = {"mr_x2_vs_best_baseline_db": 2.0, "mr_x4_vs_best_baseline_db": 1.0, "natural_x2_vs_bicubic_db": 1.5,
           "natural_x4_vs_bicubic_db": 0.7, "student_speedup_vs_teacher": 10.0}  # fmt: skip


def mr_sources(tmp: Path) -> Dict[str, Path]:
    """The held-out MR files (the phantom's raw k-space is left out: it has no high-resolution magnitude truth of
    its own beyond the zero-padded one) plus matplotlib's s1045 slice written as NIfTI."""
    import gzip

    import SimpleITK as sitk

    from monai_chpnet.data.sample import heldout_evaluation_files

    files = {k: Path(v) for k, v in heldout_evaluation_files().items() if k != "phantom_gre"}
    try:
        import matplotlib.cbook as cbook

        with gzip.open(cbook.get_sample_data("s1045.ima.gz", asfileobj=False)) as f:
            head = np.frombuffer(f.read(), np.uint16).reshape(1, 256, 256).astype(np.float32)
        sitk.WriteImage(sitk.GetImageFromArray(head), str(tmp / "s1045.nii.gz"))
        files["mpl_head"] = tmp / "s1045.nii.gz"
    except ImportError:
        print("matplotlib is not installed: the s1045 head slice is left out")
    return files


def ms_per_slice(network: torch.nn.Module, scale: int, repeats: int = 3) -> float:
    x = torch.rand(1, 1, 512 // scale, 512 // scale)
    with torch.inference_mode():
        network(x)
        tick = time.perf_counter()
        for _ in range(repeats):
            network(x)
    return (time.perf_counter() - tick) / repeats * 1000


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--weights",
        nargs="*",
        default=[],
        metavar="ROLE:SCALE:DEGRADATION:PATH",
        help="role student or teacher, scale 2 or 4, degradation kspace or bicubic, weights file",
    )
    parser.add_argument("--student-preset", default="small")
    parser.add_argument("--teacher-preset", default="small")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from monai_chpnet.atomic import write_json, write_text
    from monai_chpnet.data.transfer import load_transfer_set
    from monai_chpnet.inference import load_network
    from monai_chpnet.inference.sr_evaluation import evaluate_sr, sr_summary, sr_table
    from monai_chpnet.networks import student_from_preset, teacher_from_preset

    networks, speed = {}, {}
    for spec in args.weights:
        role, scale, degradation, path = spec.split(":", 3)
        build, preset = (
            (student_from_preset, args.student_preset)
            if role == "student"
            else (teacher_from_preset, args.teacher_preset)
        )
        net = load_network(path, network=build(preset, in_channels=1, upscale=int(scale), degradation=degradation))
        networks[f"{role} x{scale} {degradation}"] = net
        speed[f"{role} x{scale} {degradation}"] = ms_per_slice(net, int(scale))
    with tempfile.TemporaryDirectory() as tmp:
        rows = evaluate_sr(mr_sources(Path(tmp)), networks, natural=load_transfer_set())
    for r in rows:  # one method name per role, whatever its scale
        r["method"] = str(r["method"]).split(" x")[0]
    summary = sr_summary(rows)
    ood = sr_summary([r for r in rows if r["source"] != "t1_demo"])
    table = sr_table(summary)
    speedup = {
        key.removeprefix("teacher "): speed[key] / speed["student " + key.removeprefix("teacher ")]
        for key in speed
        if key.startswith("teacher ") and "student " + key.removeprefix("teacher ") in speed
    }
    text = f"{table}\n\nOut of distribution only (T1 demo left out):\n\n{sr_table(ood)}\n\nms per 512 x 512 output slice ({args.threads} threads): {speed}; teacher / student: {speedup}\n"
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    payload = {"targets": TARGETS, "summary": summary, "summary_ood": ood, "rows": rows, "ms_per_slice": speed,
               "teacher_over_student": speedup, "weights": args.weights}  # fmt: skip
    write_json(args.out / "sr.json", payload)
    write_text(args.out / "sr.md", text)
    print(f"saved {args.out / 'sr.json'}")


if __name__ == "__main__":
    main()
