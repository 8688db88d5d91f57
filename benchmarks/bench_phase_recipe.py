"""How to train for phase-bearing acquisitions: phase mix, phase reference and student size, measured.

Every arm is a student trained alone (``kd=none``) by the bundle's own ``train_student.json`` on the shipped
sample data with the same budget, then scored twice:

* on the sample's **validation** split (6 template slices, 2 photographs), as magnitude and as phase-bearing
  acquisitions at 4x and 8x -- what the defaults are chosen on;
* on the **held-out** sources (``evaluate_files``: four image sources as magnitude and phase-bearing acquisitions,
  plus the raw complex k-space of a phantom) -- reported, never used to choose.

Arms: ``phase_prob`` 0 / 0.25 / 0.5 / 0.75 / 1 (fraction of training samples given a smooth random phase), the
phase reference off (``network_def#phase_reference False``), and a larger student. Runs that have their weights
are not trained again (``--retrain`` forces it). Writes ``benchmarks/results/phase_recipe/recipe.json`` and
``recipe.md``.

    .venv/bin/python benchmarks/bench_phase_recipe.py --iterations 3000 --jobs 2
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
from monai_chpnet.atomic import AtomicFiles, write_json, write_text  # noqa: E402
from bench_ablation import train  # noqa: E402  one training harness (resume rules, recorded commands)

OUT = Path(__file__).resolve().parent / "results" / "phase_recipe"

#: a larger student within the teacher's 1/8 parameter budget is not possible for the small teacher (55 k):
#: "medium" shows what twice the parameters reach
MEDIUM = {"num_cascades": 5, "features": [6, 16, 24], "num_res_blocks": 1}

ARMS: Dict[str, Dict[str, object]] = {
    "phase_prob 0": {"phase_prob": 0.0},
    "phase_prob 0.25": {"phase_prob": 0.25},
    "phase_prob 0.5": {"phase_prob": 0.5},
    "phase_prob 0.75": {"phase_prob": 0.75},
    "phase_prob 1": {"phase_prob": 1.0},
    "phase_prob 0.5, no phase reference": {"phase_prob": 0.5, "network_def#phase_reference": False},
    "phase_prob 0.5, medium student": {"phase_prob": 0.5, **{f"network_def#{k}": v for k, v in MEDIUM.items()}},
}


def network_of(overrides: Dict[str, object]):
    from monai_chpnet.networks import student_from_preset

    kwargs = {k.split("#", 1)[1]: v for k, v in overrides.items() if k.startswith("network_def#")}
    return student_from_preset("small", in_channels=2, **kwargs)


def validation_scores(net) -> Dict[str, float]:
    """Mean PSNR gain over zero-filling on the validation split, per acquisition and acceleration (each image a
    one-slice volume through :func:`~monai_chpnet.inference.reconstruct_volume`, its phase seeded by its name)."""
    import numpy as np

    from monai_chpnet.data.selection import training_dataset
    from monai_chpnet.inference import reconstruct_volume

    items = list(training_dataset("sample", "val"))
    scores = {}
    for phase in (False, True):
        for acc in (4.0, 8.0):
            gains = []
            for item in items:
                r = reconstruct_volume(item["target"].numpy(), net, acc, source=item["fname"], simulate_phase=phase)
                gains.append(r.metrics["reconstruction"]["psnr"] - r.metrics["zero_filled"]["psnr"])
            scores[f"{'phase' if phase else 'magnitude'}_{acc:g}x"] = float(np.mean(gains))
    scores["mean"] = float(np.mean(list(scores.values())))
    return scores


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--arms", nargs="+", default=list(ARMS), metavar="ARM")
    parser.add_argument("--jobs", type=int, default=2, help="arms trained at once (one CPU thread each)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--retrain", action="store_true")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.arms) - set(ARMS))
    if unknown:
        parser.error(f"unknown arm(s) {unknown}; choose from {list(ARMS)}")
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    common = {
        "kd": "none",
        "patch_size": 64,
        "batch_size": 8,
        "num_workers": 1,
        "epoch_length": 50,
        "max_epochs": max(args.iterations // 50, 1),
        "val_interval": 6,
    }
    jobs = [(name, {**common, **ARMS[name]}) for name in args.arms]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        records = list(pool.map(lambda j: train(j[0], "train_student.json", "model.pt", j[1], args.retrain, out), jobs))

    import numpy as np
    import torch

    from monai_chpnet.data.sample import heldout_evaluation_files
    from monai_chpnet.inference import evaluate_files, load_network
    from monai_chpnet.networks.summary import count_parameters

    torch.set_num_threads(2)
    files = heldout_evaluation_files()
    results: List[Dict[str, object]] = []
    for (name, overrides), record in zip(jobs, records):
        net = load_network(record["weights"], network=network_of(overrides))
        rows = evaluate_files(files, {"zero-filled": None, name: net}, acquisitions=("magnitude", "phase"))
        held = {}
        for group in ("magnitude", "phase"):
            for acc in (4.0, 8.0):
                sel = [
                    r
                    for r in rows
                    if r["acceleration"] == acc and (r["acquisition"] == "magnitude") == (group == "magnitude")
                ]
                zf = {(r["source"], r["acquisition"]): r["psnr"] for r in sel if r["method"] == "zero-filled"}
                gains = [r["psnr"] - zf[(r["source"], r["acquisition"])] for r in sel if r["method"] == name]
                held[f"{group}_{acc:g}x"] = float(np.mean(gains))
        results.append(
            {
                "arm": name,
                "overrides": overrides,
                "params": count_parameters(net),
                "validation_gain": validation_scores(net),
                "heldout_gain": held,
                "rows": rows,
                "command": record["command"],
                "train_seconds": record.get("train_seconds"),
            }
        )
        print(f"[recipe] {name}: validation {results[-1]['validation_gain']['mean']:+.2f} dB", flush=True)

    keys = ("magnitude_4x", "magnitude_8x", "phase_4x", "phase_8x")
    lines = [
        f"Students trained alone, {args.iterations} iterations, batch 8 of 64x64 patches, random 4x/8x masks. PSNR gain "
        "over zero-filling (dB): validation split (what the defaults are chosen on) and held-out sources (mean over "
        "sources; 'phase' rows: the four image sources with a seeded smooth phase and the phantom's raw k-space).",
        "",
        "| arm | params | val mag 4x | val mag 8x | val phase 4x | val phase 8x | val mean | held mag 4x | held mag 8x "
        "| held phase 4x | held phase 8x |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        v, h = r["validation_gain"], r["heldout_gain"]
        lines.append(
            f"| {r['arm']} | {r['params'] / 1e3:.1f} k | "
            + " | ".join(f"{v[k]:+.2f}" for k in keys)
            + f" | {v['mean']:+.2f} | "
            + " | ".join(f"{h[k]:+.2f}" for k in keys)
            + " |"
        )
    table = "\n".join(lines)
    print(table)
    report = {"settings": {**vars(args), "out": str(args.out)}, "arms": results}
    with AtomicFiles() as written:
        write_json(out / "recipe.json", report, files=written)
        write_text(out / "recipe.md", table + "\n", files=written)
    print(f"[recipe] wrote {out / 'recipe.json'} and recipe.md")


if __name__ == "__main__":
    main()
