"""Ablation of the distillation method on the shipped sample data, with a fixed training budget.

Every arm is trained by the bundle's own configs (``python -m monai.bundle run``), so the table measures exactly
what the bundle ships:

1. the teacher (``train_teacher.json``), pre-trained once: ``--teacher-iterations`` at learning rate 5e-4, then
   (``--teacher-continue-iterations``, one number per further cycle, 0 for none) cosine cycles at 2.5e-4, each
   warm-started from the previous one's weights (``init_weights``; folders ``teacher_continued``,
   ``teacher_continued_2``, ...) -- a transformer keeps gaining long after the small CNN student has plateaued,
   and a teacher that is not clearly better than the student has nothing to teach; the KD arms learn from the
   last one;
2. the student alone (``kd=none``), static KD, dynamic KD, dynamic KD without edge correction, without
   feature KD and with the teacher-bounded output term, static and dynamic KD that also distil on inputs without
   a reference (``unlabelled_dataset=sample``: one extra batch per iteration of pictures whose truth is deleted,
   which the student alone cannot use) (``train_student.json`` with overrides), and
   the fastMRI U-Net baseline (``train_teacher.json`` with ``network_def`` overridden) -- all with the same
   iterations, patches and batch size;
3. every model is evaluated on the held-out sources (the demo T1 slab -- in distribution -- and three real MR
   sources from other scanners, anatomies and contrasts: a 64² brain slice, an abdominal slice, a T2* EPI brain
   volume) at 4x and 8x
   through :func:`monai_chpnet.inference.evaluate_files`, beside zero-filling, with parameters, GMACs and
   ms/slice (320 x 320, 2 threads), and each method's PSNR against the teacher's reconstruction ("PSNR to
   teacher"): whether distillation made the student reproduce its teacher where it matters, off the training data.

Outputs in ``benchmarks/results/ablation/`` (``--out``): ``ablation.json``, ``ablation.md`` and ``ablation.png``
(one row per method: reconstruction and |error| x5 of the middle demo slice at 4x). Runs that already have their
weights are not trained again (``--retrain`` forces it), so an interrupted ablation resumes. ``--seeds 0 1 2``
trains every student arm once per seed (folders ``<arm>_seed_<s>``; seed 0 keeps the plain folder, so earlier runs
count) and reports the mean over seeds with their standard deviation: differences of a few tenths of a dB are
within one seed's noise. ``--seed-arms`` limits the extra seeds to some arms (the rest keep seed 0 alone).

    .venv/bin/python benchmarks/bench_ablation.py --iterations 1000 --teacher-iterations 1200 \
        --teacher-continue-iterations 2400 [3600] --jobs 2 [--seeds 0 1 2 [--seed-arms "student alone" "static KD"]]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from monai_chpnet.atomic import AtomicFiles, write_json, write_text

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "bundles" / "chpnet_mri_recon"
OUT = ROOT / "benchmarks" / "results" / "ablation"

ARMS: Dict[str, Dict[str, object]] = {
    "student alone": {"kd": "none"},
    "static KD": {"kd": "static"},
    "dynamic KD": {"kd": "dynamic"},
    "dynamic KD, no edge correction": {"kd": "dynamic", "edge_correction": False},
    "dynamic KD, no feature KD": {"kd": "dynamic", "feature_kd": False},
    "dynamic KD, teacher-bounded": {"kd": "dynamic", "teacher_bounded": True},
    # distillation also on inputs without a reference (the shipped ``unlabelled/`` pictures): what the student
    # alone cannot learn from
    "static KD, unlabelled inputs": {"kd": "static", "unlabelled_dataset": "sample"},
    "dynamic KD, unlabelled inputs": {"kd": "dynamic", "unlabelled_dataset": "sample"},
}


def slug(name: str) -> str:
    return name.lower().replace(",", "").replace("[", "").replace("]", "").replace(" ", "_")


def bundle_command(config: str, ckpt_dir: Path, overrides: Dict[str, object]) -> List[str]:
    cmd = [
        sys.executable,
        "-m",
        "monai.bundle",
        "run",
        "--config_file",
        str(BUNDLE / "configs" / config),
        "--meta_file",
        str(BUNDLE / "configs" / "metadata.json"),
        "--logging_file",
        str(BUNDLE / "configs" / "logging.conf"),
        "--bundle_root",
        str(BUNDLE),
        "--ckpt_dir",
        str(ckpt_dir),
        "--output_dir",
        str(ckpt_dir / "run"),
    ]
    for key, value in overrides.items():
        cmd += [f"--{key}", json.dumps(value) if isinstance(value, dict) else str(value)]
    return cmd


def seeded(name: str, seed: int) -> str:
    """An arm's name for training seed ``seed``: seed 0 keeps the plain name (and folder), so earlier runs count."""
    return name if seed == 0 else f"{name} [seed {seed}]"


def command_text(cmd: Sequence[str]) -> str:
    """A training command as recorded: without the interpreter, paths relative to the repository."""
    return " ".join(cmd[1:]).replace(str(ROOT) + "/", "")


def same_run(done: str, wanted: str) -> bool:
    """Whether the recorded training command ``done`` trained what ``wanted`` would: the same command, where a
    student trained without distillation (``--kd none``) does not depend on the teacher it was pointed at."""

    def key(command: str) -> List[str]:
        words = command.split()
        if "--kd" in words and words[words.index("--kd") + 1] == "none" and "--teacher_weights" in words:
            i = words.index("--teacher_weights")
            del words[i : i + 2]
        return words

    return key(done) == key(wanted)


def start_afresh(ckpt_dir: Path) -> List[Path]:
    """Forget an arm's previous run for ``--retrain``: its resumable checkpoints (``run/checkpoint_*.pt``) and its
    completion record, which would otherwise make the new run resume the finished one and end at once. The
    weights stay until the new run's first validation replaces them; ``train.log`` keeps the history."""
    gone = sorted((ckpt_dir / "run").glob("checkpoint_checkpoint_*.pt")) + [ckpt_dir / "train_record.json"]
    gone = [p for p in gone if p.is_file()]
    for path in gone:
        path.unlink()
    return gone


def train(
    name: str, config: str, weights: str, overrides: Dict[str, object], retrain: bool, out: Path
) -> Dict[str, object]:
    ckpt_dir = out / slug(name)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    cmd = bundle_command(config, ckpt_dir, overrides)
    record = {"name": name, "command": command_text(cmd), "weights": str(ckpt_dir / weights)}
    # train_record.json is written only when a run completes: the best-metric weights of an interrupted run
    # already exist, so they alone do not mean "trained" -- such a run resumes from its last checkpoint instead
    if (ckpt_dir / weights).is_file() and (ckpt_dir / "train_record.json").is_file() and not retrain:
        done = json.loads((ckpt_dir / "train_record.json").read_text())
        # the same folder trained by another command (another teacher, budget or seed) is not this run
        if not same_run(done.get("command", record["command"]), record["command"]):
            raise RuntimeError(
                f"{name}: {ckpt_dir} was trained by another command:\n  {done['command']}\n"
                f"not\n  {record['command']}\n--retrain to replace it, or --out another folder"
            )
        print(f"[ablation] {name}: trained, not retrained")
        return {**record, **done}
    if retrain:
        start_afresh(ckpt_dir)
    print(f"[ablation] {name}: training ({' '.join(f'{k}={v}' for k, v in overrides.items())})", flush=True)
    start = time.perf_counter()
    with open(ckpt_dir / "train.log", "a") as log:  # appended: a resumed run keeps its history
        proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{name}: training failed (exit {proc.returncode}); see {ckpt_dir / 'train.log'}")
    print(f"[ablation] {name}: done in {seconds / 60:.1f} min", flush=True)
    write_json(ckpt_dir / "train_record.json", {"train_seconds": seconds, "command": record["command"]})
    return {**record, "train_seconds": seconds}


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=600, help="training iterations of every student arm")
    parser.add_argument("--teacher-iterations", type=int, default=1200, help="teacher pre-training, lr 5e-4")
    parser.add_argument(
        "--teacher-continue-iterations",
        type=int,
        nargs="+",
        default=[2400],
        help="further teacher cycles, each from the previous one's weights, lr 2.5e-4 (0: none)",
    )
    parser.add_argument("--patch-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=2, help="arms trained at once (one CPU thread each)")
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[0],
        help="training seeds of every student arm (the teacher is trained once, seed 0); the table "
        "reports the mean over seeds and their standard deviation",
    )
    parser.add_argument(
        "--seed-arms",
        nargs="+",
        default=None,
        metavar="ARM",
        help="train only these arms (names as in the table, e.g. 'student alone') with the seeds "
        "other than 0; default: every student arm",
    )
    parser.add_argument("--out", type=Path, default=OUT, help="results folder")
    parser.add_argument("--retrain", action="store_true")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    unknown = sorted(set(args.seed_arms or []) - set(ARMS))
    if unknown:
        parser.error(f"--seed-arms: unknown arm(s) {unknown}; the student arms are {list(ARMS)}")
    seed_arms = set(ARMS if args.seed_arms is None else args.seed_arms)
    # every (seed, arm) trained: seed 0 for every arm, the other seeds for ``seed_arms``
    runs = [(seed, name) for seed in args.seeds for name in ARMS if seed == 0 or name in seed_arms]

    import numpy as np
    import torch

    from monai_chpnet.data.sample import heldout_evaluation_files
    from monai_chpnet.figures import save_png_grid, to_uint8
    from monai_chpnet.inference import evaluate_files, load_network, reconstruct_file
    from monai_chpnet.networks import FastMRIUNet, student_from_preset, teacher_from_preset
    from monai_chpnet.networks.summary import count_macs, count_parameters

    out.mkdir(parents=True, exist_ok=True)
    epoch_length = 50
    common = {
        "patch_size": args.patch_size,
        "batch_size": args.batch_size,
        "num_workers": 1,
        "epoch_length": epoch_length,
    }
    teacher_job = (
        "teacher",
        "train_teacher.json",
        "teacher.pt",
        {
            **common,
            "teacher_preset": "small",
            "max_epochs": max(args.teacher_iterations // epoch_length, 1),
            "val_interval": 4,
            "learning_rate": 0.0005,
        },
    )
    cycles = [n for n in args.teacher_continue_iterations if n > 0]
    cycle_names = ["teacher"] + [f"teacher, continued{'' if i == 0 else f' {i + 1}'}" for i in range(len(cycles))]
    continue_jobs = [
        (
            name,
            "train_teacher.json",
            "teacher.pt",
            {
                **common,
                "teacher_preset": "small",
                "val_interval": 4,
                "learning_rate": 0.00025,
                "max_epochs": max(n // epoch_length, 1),
                "init_weights": str(out / slug(previous) / "teacher.pt"),
            },
        )
        for n, name, previous in zip(cycles, cycle_names[1:], cycle_names)
    ]
    final_teacher = slug(cycle_names[-1])
    student_common = {
        **common,
        "max_epochs": max(args.iterations // epoch_length, 1),
        "val_interval": 2,
        "teacher_weights": str(out / final_teacher / "teacher.pt"),
    }
    unet_def = {"_target_": "monai_chpnet.networks.FastMRIUNet", "in_channels": 2}
    unet_job = (
        "fastMRI U-Net",
        "train_teacher.json",
        "teacher.pt",
        {
            **common,
            "max_epochs": student_common["max_epochs"],
            "val_interval": 2,
            "learning_rate": 0.001,
            "network_def": unet_def,
        },
    )

    def arm_jobs(kd_free: bool) -> List[tuple]:
        return [
            (seeded(name, seed), "train_student.json", "model.pt", {**student_common, **ARMS[name], "seed": seed})
            for seed, name in runs
            if (ARMS[name].get("kd") == "none") == kd_free
        ]

    kd_free, kd_jobs = arm_jobs(True), arm_jobs(False)
    run = lambda j: train(j[0], j[1], j[2], j[3], args.retrain, out)  # noqa: E731
    # the teacher and the arms that do not need it train side by side; the KD arms wait for the teacher
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        # pre-training and its further cycles are one job (one worker), so at most ``jobs`` runs share the cores
        teacher_chain = [teacher_job] + continue_jobs
        teacher_future = pool.submit(lambda: [run(j) for j in teacher_chain])
        free_futures = [pool.submit(run, j) for j in kd_free + [unet_job]]
        teacher_records = teacher_future.result()
        kd_records = list(pool.map(run, kd_jobs))
        free_records = [f.result() for f in free_futures]
    by_name = {r["name"]: r for r in free_records + kd_records}
    # the table's teacher is the one the KD arms learnt from; the pre-training stage stays in the training records
    teacher = {**teacher_records[-1], "name": "teacher"}
    records = [teacher] + [by_name[seeded(name, seed)] for seed, name in runs] + [by_name["fastMRI U-Net"]]
    base_name = {seeded(name, seed): name for seed, name in runs}
    arm_of = lambda method: base_name.get(method, method)  # noqa: E731  the table row a (seeded) network counts in

    torch.set_num_threads(2)
    builders = {
        "teacher": lambda: teacher_from_preset("small", in_channels=2),
        "fastMRI U-Net": lambda: FastMRIUNet(in_channels=2),
        **{name: (lambda: student_from_preset("small", in_channels=2)) for name in base_name},
    }
    networks: Dict[str, Optional[torch.nn.Module]] = {"zero-filled": None}
    for rec in records:
        networks[rec["name"]] = load_network(rec["weights"], network=builders[rec["name"]]())
    files = {k: str(v) for k, v in heldout_evaluation_files().items()}
    rows = evaluate_files(
        files, networks, accelerations=(4.0, 8.0), agreement_with="teacher", acquisitions=("magnitude", "phase")
    )

    x = torch.randn(1, 2, 320, 320)
    cost = {"zero-filled": {"params": 0, "gmacs": 0.0, "ms_per_slice": 0.0}}
    for name, net in networks.items():
        if net is None or arm_of(name) != name:
            continue
        with torch.inference_mode():
            net(x)
            times = []
            for _ in range(5):
                t = time.perf_counter()
                net(x)
                times.append((time.perf_counter() - t) * 1000)
        cost[name] = {
            "params": count_parameters(net),
            "gmacs": count_macs(builders[name], (320, 320)) / 1e9,
            "ms_per_slice": float(np.median(times)),
        }
    for r in rows:
        r.update(cost[arm_of(r["method"])])

    # table: mean over held-out sources per (method, acceleration, acquisition): "magnitude" rows are the image
    # sources as they are, "phase" rows every phase-bearing acquisition (the image sources given a smooth phase,
    # and the raw k-space with its own)
    summary = []
    methods = [name for name in networks if arm_of(name) == name]  # one table row per arm
    for acquisition, acc in ((a, acc) for a in ("magnitude", "phase") for acc in (4.0, 8.0)):
        for name in methods:
            sel = [
                r
                for r in rows
                if arm_of(r["method"]) == name
                and r["acceleration"] == acc
                and (r["acquisition"] == "magnitude") == (acquisition == "magnitude")
            ]
            ssims = [r["ssim"] for r in sel if r["ssim"] is not None]
            ood = [r["psnr"] for r in sel if r["source"] != "t1_demo"]
            # the mean over sources of each seed's network, then mean and spread over seeds
            per_seed = [
                float(np.mean([r["psnr"] for r in sel if r["method"] == m]))
                for m in dict.fromkeys(r["method"] for r in sel)
            ]
            agreement = [r["psnr_agreement"] for r in sel if r.get("psnr_agreement") is not None]
            summary.append(
                {
                    "method": name,
                    "acceleration": acc,
                    "acquisition": acquisition,
                    "psnr": float(np.mean(per_seed)),
                    "psnr_to_teacher": float(np.mean(agreement)) if agreement else None,
                    "psnr_seeds": per_seed,
                    "psnr_sd": float(np.std(per_seed, ddof=1)) if len(per_seed) > 1 else None,
                    "psnr_ood": float(np.mean(ood)),
                    "ssim": float(np.mean(ssims)) if ssims else None,
                    "nmse": float(np.mean([r["nmse"] for r in sel])),
                    **cost[name],
                }
            )
    lines = [
        f"Ablation on the shipped sample data: students {args.iterations} iterations, teacher {args.teacher_iterations}"
        + "".join(f" + {n} (cycle {i + 2})" for i, n in enumerate(cycles))
        + ", "
        f"batch {args.batch_size} of {args.patch_size}x{args.patch_size} patches, random 4x/8x masks; mean over the held-out "
        "sources (demo T1 slab + three out-of-distribution MR sources; 'OOD PSNR' is the mean over the latter; 'PSNR to "
        "teacher': against the teacher's reconstruction instead of the truth, how closely a method reproduces it); "
        + (
            f"student arms: mean over training seeds {args.seeds}"
            + ("" if args.seed_arms is None else f" (seed 0 only for {[a for a in ARMS if a not in seed_arms]})")
            + " ('sd': standard deviation of the seeds' PSNR); "
            if len(args.seeds) > 1
            else ""
        )
        + "cost at 320x320, 2 threads.",
        "",
        "| method | acquisition | accel | PSNR (dB) |"
        + (" sd (dB) |" if len(args.seeds) > 1 else "")
        + " OOD PSNR (dB) | SSIM | NMSE | PSNR to teacher (dB) | params | GMACs | ms/slice |",
        "|---|---|---|---|" + ("---|" if len(args.seeds) > 1 else "") + "---|---|---|---|---|---|---|",
    ]
    for s in summary:
        ssim_text = "n/a" if s["ssim"] is None else f"{s['ssim']:.4f}"
        sd_text = "" if len(args.seeds) == 1 else " n/a |" if s["psnr_sd"] is None else f" {s['psnr_sd']:.2f} |"
        agree_text = "–" if s["psnr_to_teacher"] is None else f"{s['psnr_to_teacher']:.2f}"
        lines.append(
            f"| {s['method']} | {s['acquisition']} | {s['acceleration']:g}x | {s['psnr']:.2f} |{sd_text} "
            f"{s['psnr_ood']:.2f} | {ssim_text} | "
            f"{s['nmse']:.5f} | {agree_text} | {s['params'] / 1e6:.3f} M | {s['gmacs']:.2f} | {s['ms_per_slice']:.1f} |"
        )
    lines += ["", "Per source:", ""]
    lines += [
        "| source | acquisition | accel | method | PSNR (dB) | SSIM | NMSE | PSNR to teacher (dB) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['source']} | {r['acquisition']} | {r['acceleration']:g}x | {r['method']} | {r['psnr']:.2f} | "
        f"{'n/a' if r['ssim'] is None else format(r['ssim'], '.4f')} | {r['nmse']:.5f} | "
        f"{'–' if r.get('psnr_agreement') is None else format(r['psnr_agreement'], '.2f')} |"
        for r in rows
    ]
    table = "\n".join(lines)
    print(table)

    # figures: one row per method, reconstruction | |error| x5, middle slice at 4x: the demo volume
    # (ablation.png) and the abdominal slice, out of distribution (ablation_ood.png)
    for source, figure in (("t1_demo", "ablation.png"), ("abdomen_mr", "ablation_ood.png")):
        panels = []
        ref = None
        for name, net in networks.items():
            if arm_of(name) != name:  # the figures show seed 0 of each arm
                continue
            r = reconstruct_file(files[source], net, acceleration=4.0, seed=0)
            k = r.reconstruction.shape[0] // 2
            ref = r.reference[k]
            panels.append((r.reconstruction[k], np.abs(r.reconstruction[k] - ref) * 5))
        vmax = float(ref.max())
        grid = [[to_uint8(rec, vmax), to_uint8(err, vmax)] for rec, err in panels] + [[to_uint8(ref, vmax)]]
        save_png_grid(grid, out / figure)

    report = {
        "settings": {**vars(args), "out": str(args.out)},
        "methods": methods,
        "summary": summary,
        "rows": rows,
        "training": teacher_records + records[1:],
        "figure_rows": methods + ["reference"],
    }
    with AtomicFiles() as files:
        write_json(out / "ablation.json", report, files=files)
        write_text(out / "ablation.md", table + "\n", files=files)
    print(f"[ablation] wrote {out / 'ablation.json'}, ablation.md, ablation.png, ablation_ood.png")


if __name__ == "__main__":
    main()
