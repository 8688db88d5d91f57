"""Distillation ablation for super-resolution: student alone / static KD / dynamic KD, several seeds, one budget.

Each arm is a ``chpnet_mri_sr`` bundle run of ``train_student.json`` with ``--kd none|static|dynamic --seed S`` and
the same iterations (the command is in the bundle's model card); this script scores the runs' best students, the
teacher they learnt from and the classical baselines on the held-out MR sources and the transfer photographs
(:func:`monai_chpnet.inference.sr_evaluation.evaluate_sr`, as ``bench_sr.py``) for the runs' scale and degradation.

    python benchmarks/bench_ablation_sr.py --runs RUNS_DIR --teacher TEACHER.pt --scale 2 --degradation kspace

``RUNS_DIR`` holds ``<kd>_seed_<s>/`` folders, each with the run's best student ``model*.pt``. Prints a table and
writes ``benchmarks/results/ablation_sr/ablation.json`` (``summary`` rows with ``method``, ``scale``,
``degradation``, ``psnr``, ``psnr_seeds``, as the k-space ablation's) and ``ablation.md``.
"""

from __future__ import annotations

import argparse
import re
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results" / "ablation_sr"
ARMS = {"none": "student alone", "static": "static KD", "dynamic": "dynamic KD"}
TARGETS = {"dynamic_kd_minus_alone_db": 0.3}


def run_weights(runs: Path) -> Dict[str, Dict[int, Path]]:
    """``{kd: {seed: best student weights}}`` of the run folders ``<kd>_seed_<s>``."""
    found: Dict[str, Dict[int, Path]] = {}
    for folder in sorted(runs.iterdir()):
        match = re.fullmatch(r"(none|static|dynamic)_seed_(\d+)", folder.name)
        weights = sorted(folder.glob("model*.pt")) if match else []
        if weights:
            found.setdefault(match.group(1), {})[int(match.group(2))] = weights[0]
    return found


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=Path, required=True)
    parser.add_argument("--teacher", type=Path, required=True, help="the teacher the KD arms learnt from")
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--degradation", default="kspace")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from bench_sr import mr_sources

    from monai_chpnet.atomic import AtomicFiles, write_json, write_text
    from monai_chpnet.data.transfer import load_transfer_set
    from monai_chpnet.inference.loading import load_teacher
    from monai_chpnet.inference.sr_evaluation import evaluate_sr
    from monai_chpnet.inference.superres import load_sr_network

    runs = run_weights(args.runs)
    networks = {"teacher": load_teacher(args.teacher, args.scale, args.degradation)}
    for kd, seeds in runs.items():
        for seed, path in seeds.items():
            networks[f"{kd}/{seed}"] = load_sr_network(path, args.scale, args.degradation)
    with tempfile.TemporaryDirectory() as tmp:
        rows = evaluate_sr(mr_sources(Path(tmp)), networks, (args.scale,), (args.degradation,),
                           natural=load_transfer_set() if args.degradation == "bicubic" else None)  # fmt: skip
    by_method: Dict[str, List[dict]] = {}
    for r in rows:
        by_method.setdefault(r["method"], []).append(r)

    def mean(method: str, key: str, kind: str = "mr") -> float:
        return float(np.mean([r[key] for r in by_method[method] if r["kind"] == kind and r[key] is not None]))

    summary = []
    for name in ("bicubic", "sinc", "teacher"):
        summary.append({"method": name, "scale": args.scale, "degradation": args.degradation,
                        "psnr": mean(name, "psnr"), "ssim": mean(name, "ssim"), "psnr_seeds": None})  # fmt: skip
    for kd, label in ARMS.items():
        seeds = sorted(runs.get(kd, {}))
        if not seeds:
            continue
        per_seed = [mean(f"{kd}/{s}", "psnr") for s in seeds]
        summary.append({"method": label, "scale": args.scale, "degradation": args.degradation,
                        "psnr": float(np.mean(per_seed)), "psnr_std": float(np.std(per_seed)), "psnr_seeds": per_seed,
                        "ssim": float(np.mean([mean(f"{kd}/{s}", "ssim") for s in seeds])), "seeds": seeds})  # fmt: skip
    lines = ["| method | PSNR (dB), mean of seeds | per seed | SSIM |", "|---|---|---|---|"]
    for r in summary:
        seeds_text = ", ".join(f"{p:.2f}" for p in r["psnr_seeds"]) if r["psnr_seeds"] else "-"
        lines.append(f"| {r['method']} | {r['psnr']:.2f} | {seeds_text} | {r['ssim']:.4f} |")
    sources = sorted({r["source"] for r in rows if r["kind"] == "mr"})
    text = f"x{args.scale} {args.degradation}, held-out MR ({', '.join(sources)}):\n\n" + "\n".join(lines) + "\n"
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    payload = {"targets": TARGETS, "summary": summary, "rows": rows, "teacher": str(args.teacher),
               "runs": {kd: {s: str(p) for s, p in seeds.items()} for kd, seeds in runs.items()}}  # fmt: skip
    with AtomicFiles() as files:
        write_json(args.out / "ablation.json", payload, files=files)
        write_text(args.out / "ablation.md", text, files=files)
    print(f"saved {args.out / 'ablation.json'}")


if __name__ == "__main__":
    main()
