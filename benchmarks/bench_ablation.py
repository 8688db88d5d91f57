"""Ablation of the distillation method on the shipped sample data, with a fixed training budget.

Every arm is trained by the bundle's own configs (``python -m monai.bundle run``), so the table measures exactly
what the bundle ships. The task is the complex one: the training recipe gives a quarter of the patches a smooth random
phase (``phase_prob=0.25``, the bundle default, chosen on validation by ``bench_phase_recipe.py``), and every network is evaluated on magnitude and on phase-bearing
acquisitions (``acquisition`` column; the raw k-space phantom carries its scanner's own phase).

1. the teacher (``train_teacher.json``), pre-trained once: ``--teacher-iterations`` at learning rate 5e-4, then
   (``--teacher-continue-iterations``, one number per further cycle, 0 for none) cosine cycles at 2.5e-4, each
   warm-started from the previous one's weights (``init_weights``; folders ``teacher_continued``,
   ``teacher_continued_2``, ...) -- a transformer keeps gaining long after the small CNN student has plateaued,
   and a teacher that is not clearly better than the student has nothing to teach; the KD arms learn from the
   last one;
2. the teacher's **pixel win rate** over the student alone (seed 0) on training patches
   (:func:`monai_chpnet.engines.teacher_win_rate`, the training recipe at the ablation's patch size): printed, and
   saved in ``win_rate.json`` and ``ablation.json``. ``--win-rate-only`` trains just these two and stops there:
   check that the teacher wins clearly (>= 0.6) before paying for the ablation;
3. the student arms (``train_student.json`` with overrides, :data:`ARMS`; ``--arms`` picks some): the student alone
   (``kd=none``), static KD (frozen teacher, constant alpha 0.5), dynamic KD with the bundle's defaults (edge
   correction only where the teacher's edges are wrong, depth-matched feature pairs, alpha from each batch's error
   ratio, the balanced feedback and the teacher guard) and one arm per switch -- a hint stage
   (``--hint-fraction`` of the same iterations), the first design's soft knowledge, its feature pairs, alpha from
   validation, its constant feedback without guard, no edge correction, no feature KD, and distillation on
   in-domain inputs without reference (``unlabelled_dataset=heldout``: the even slices of the held-out volumes
   with at least two slices, truth deleted); plus the fastMRI U-Net baseline (``train_teacher.json`` with
   ``network_def`` overridden) -- all with the same iterations, patches and batch size;
4. every model is evaluated on the held-out sources (the demo T1 slab -- in distribution -- and three real MR
   sources from other scanners, anatomies and contrasts: a 64² brain slice, an abdominal slice, a T2* EPI brain
   volume, and the raw k-space of a phantom) at 4x and 8x through
   :func:`monai_chpnet.inference.evaluate_files`, beside zero-filling, with parameters, GMACs and ms/slice
   (320 x 320, 2 threads), and each method's PSNR against the teacher's reconstruction ("PSNR to teacher");
   and again on the **scored half** alone (the odd slices of the split volumes, ``summary_scored_half``), where
   the in-domain unlabelled arm is compared with every other arm on slices none of them saw;
5. the training trajectories, read from each run's TensorBoard files: ``alpha`` and the batch error ratio, the
   corrected fraction ``kd_corrected``, the feedback weight ``teacher_fb_weight`` and the hint flag per iteration,
   the student's and the teacher's validation PSNR per validation (static: the frozen teacher; dynamic: the
   teacher as it learns, with its pre-trained value ``teacher_baseline`` from the guard) and the guard's restores.

Outputs in ``--out`` (default ``benchmarks/results/ablation_complex/``): ``ablation.json`` (``summary`` rows with
``method``, ``acceleration``, ``acquisition``, ``psnr``, ``psnr_seeds``, ...; ``summary_scored_half`` alike;
``win_rate``; ``trajectories``), ``ablation.md``, ``ablation.png`` (one row per method: reconstruction and
|error| x5 of the middle demo slice at 4x), ``ablation_ood.png`` and ``trajectories.png`` (alpha_t, the teacher's
validation PSNR, the corrected fraction and lambda_t of each arm's seed 0; needs matplotlib, skipped without it).
Runs that already have their weights are not trained again (``--retrain`` forces it), so an interrupted ablation
resumes. ``--seeds 0 1 2`` trains every student arm once per seed (folders ``<arm>_seed_<s>``; seed 0 keeps the
plain folder, so earlier runs count) and reports the mean over seeds with their standard deviation: differences
of a few tenths of a dB are within one seed's noise. ``--seed-arms`` limits the extra seeds to some arms (the
rest keep seed 0 alone).

    .venv/bin/python benchmarks/bench_ablation.py --iterations 1000 --teacher-iterations 1200 \
        --teacher-continue-iterations 2400 --jobs 2 --win-rate-only
    .venv/bin/python benchmarks/bench_ablation.py --iterations 1000 --teacher-iterations 1200 \
        --teacher-continue-iterations 2400 --jobs 2 --seeds 0 1 2 [--arms "student alone" "static KD" ...]
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
OUT = ROOT / "benchmarks" / "results" / "ablation_complex"
HINT = "hint"  # placeholder of an arm's hint_iterations, set from --hint-fraction x --iterations

#: The student arms: bundle overrides of ``train_student.json``. "dynamic KD" is the bundle's defaults; every
#: other KD arm changes one switch.
ARMS: Dict[str, Dict[str, object]] = {
    "student alone": {"kd": "none"},
    "static KD": {"kd": "static"},
    "dynamic KD": {"kd": "dynamic"},
    # KD-MRI: feature (hint) transfer before ground-truth training, within the same iterations
    "dynamic KD, hint stage": {"kd": "dynamic", "hint_iterations": HINT},
    # the first design's levers, one at a time
    "dynamic KD, soft knowledge": {"kd": "dynamic", "knowledge_rule": "soft", "tau": 0.1},
    "dynamic KD, legacy feature pairs": {"kd": "dynamic", "feature_pairing": "legacy"},
    "dynamic KD, alpha from validation": {"kd": "dynamic", "alpha_signal": "validation"},
    "dynamic KD, constant feedback": {"kd": "dynamic", "feedback_balance": False, "teacher_guard": False},
    "dynamic KD, no edge correction": {"kd": "dynamic", "edge_correction": False},
    "dynamic KD, no feature KD": {"kd": "dynamic", "feature_kd": False},
    # in-domain inputs without reference: the even slices of the held-out volumes (scored on the odd ones)
    "dynamic KD, in-domain unlabelled": {"kd": "dynamic", "unlabelled_dataset": "heldout"},
    # measured in #5 (magnitude task); not trained unless named in --arms
    "dynamic KD, teacher-bounded": {"kd": "dynamic", "teacher_bounded": True},
    "dynamic KD, unlabelled pictures": {"kd": "dynamic", "unlabelled_dataset": "sample"},
}
DEFAULT_ARMS = [name for name in ARMS if name not in ("dynamic KD, teacher-bounded", "dynamic KD, unlabelled pictures")]
#: Per-iteration (training) and per-validation TensorBoard tags kept as trajectories.
TRAIN_TAGS = ("alpha", "kd_error_ratio", "kd_corrected", "teacher_fb_weight", "hint")
VAL_TAGS = ("val_psnr", "teacher_psnr", "teacher_baseline", "feedback_ratio", "teacher_lr_scale")


def arm_overrides(name: str, iterations: int, hint_fraction: float) -> Dict[str, object]:
    """The bundle overrides of arm ``name``, with the hint stage's length resolved."""
    hint = int(round(hint_fraction * iterations))
    return {k: (hint if v == HINT else v) for k, v in ARMS[name].items()}


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


def read_scalars(run_dir: Path) -> Dict[str, Dict[str, List[List[float]]]]:
    """A run's TensorBoard scalars: ``{"train": {tag: [[step, value], ...]}, "val": {...}}`` for :data:`TRAIN_TAGS`
    (per iteration; the training writer's files, which log ``loss``) and :data:`VAL_TAGS` (per validation epoch).
    Where a step was written twice (a resumed or retrained run), the later write wins. Empty without TensorBoard
    files."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    found: Dict[str, Dict[str, Dict[int, tuple]]] = {"train": {}, "val": {}}
    for events in sorted(Path(run_dir).glob("events.out.tfevents.*")):
        acc = EventAccumulator(str(events), size_guidance={"scalars": 0})
        acc.Reload()
        tags = set(acc.Tags()["scalars"])
        kind, wanted = ("train", TRAIN_TAGS) if "loss" in tags else ("val", VAL_TAGS)
        for tag in wanted:
            if tag in tags:
                series = found[kind].setdefault(tag, {})
                for e in acc.Scalars(tag):
                    if e.step not in series or series[e.step][0] <= e.wall_time:
                        series[e.step] = (e.wall_time, e.value)
    return {
        kind: {tag: [[step, value] for step, (_, value) in sorted(series.items())] for tag, series in tags.items()}
        for kind, tags in found.items()
    }


def guard_restores(run_dir: Path) -> Optional[int]:
    """How often the teacher guard restored the teacher (from the newest checkpoint), ``None`` without a guard."""
    import torch

    from monai_chpnet.engines import latest_checkpoint

    path = latest_checkpoint(str(run_dir))
    if path is None:
        return None
    guard = torch.load(path, map_location="cpu", weights_only=True).get("teacher_guard")
    return None if guard is None else int(guard["restores"])


def trajectory_summary(scalars: Dict[str, Dict[str, List[List[float]]]]) -> Dict[str, object]:
    """First / last / range of alpha, the teacher's pre-trained and validation PSNR, mean corrected fraction and
    feedback weight over the ground-truth iterations (the hint stage left out)."""
    train, val = scalars.get("train", {}), scalars.get("val", {})
    hint = {int(step) for step, value in train.get("hint", []) if value > 0}

    def values(tag: str) -> List[float]:
        return [v for step, v in train.get(tag, []) if int(step) not in hint]

    out: Dict[str, object] = {"hint_iterations": len(hint)}
    alpha = values("alpha")
    if alpha:
        out["alpha"] = {"first": alpha[0], "last": alpha[-1], "min": min(alpha), "max": max(alpha)}
    for tag, key in (("kd_corrected", "corrected_mean"), ("teacher_fb_weight", "feedback_weight_mean")):
        series = values(tag)
        if series:
            out[key] = sum(series) / len(series)
    teacher = [v for _, v in val.get("teacher_psnr", [])]
    if teacher:
        baseline = [v for _, v in val.get("teacher_baseline", [])]
        out["teacher_psnr"] = {
            "pretrained": baseline[-1] if baseline else None,
            "first_validation": teacher[0],
            "last_validation": teacher[-1],
            "min": min(teacher),
            "max": max(teacher),
        }
    return out


def summarise(rows: Sequence[Dict[str, object]], methods: Sequence[str], arm_of, cost: Dict[str, dict]) -> List[dict]:
    """The table: mean over held-out sources per (method, acceleration, acquisition) -- "magnitude" rows are the
    image sources as they are, "phase" rows every phase-bearing acquisition (the image sources given a smooth phase,
    and raw k-space with its own) -- each method's mean over its seeds' networks, with their spread."""
    import numpy as np

    summary = []
    for acquisition, acc in ((a, acc) for a in ("magnitude", "phase") for acc in (4.0, 8.0)):
        for name in methods:
            sel = [
                r
                for r in rows
                if arm_of(r["method"]) == name
                and r["acceleration"] == acc
                and (r["acquisition"] == "magnitude") == (acquisition == "magnitude")
            ]
            if not sel:
                continue
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
                    "psnr_ood": float(np.mean(ood)) if ood else None,
                    "ssim": float(np.mean(ssims)) if ssims else None,
                    "nmse": float(np.mean([r["nmse"] for r in sel])),
                    **cost.get(name, {}),
                }
            )
    return summary


def summary_table(summary: Sequence[dict], seeds: int) -> List[str]:
    """Markdown rows of a summary (``seeds > 1``: with the seeds' standard deviation)."""
    lines = [
        "| method | acquisition | accel | PSNR (dB) |"
        + (" sd (dB) |" if seeds > 1 else "")
        + " OOD PSNR (dB) | SSIM | NMSE | PSNR to teacher (dB) | params | GMACs | ms/slice |",
        "|---|---|---|---|" + ("---|" if seeds > 1 else "") + "---|---|---|---|---|---|---|",
    ]
    for s in summary:
        ssim_text = "n/a" if s["ssim"] is None else f"{s['ssim']:.4f}"
        sd_text = "" if seeds == 1 else " n/a |" if s["psnr_sd"] is None else f" {s['psnr_sd']:.2f} |"
        agree_text = "–" if s["psnr_to_teacher"] is None else f"{s['psnr_to_teacher']:.2f}"
        ood_text = "–" if s["psnr_ood"] is None else f"{s['psnr_ood']:.2f}"
        cost_text = (
            f"{s['params'] / 1e6:.3f} M | {s['gmacs']:.2f} | {s['ms_per_slice']:.1f}"
            if all(k in s for k in ("params", "gmacs", "ms_per_slice"))
            else "– | – | –"
        )
        lines.append(
            f"| {s['method']} | {s['acquisition']} | {s['acceleration']:g}x | {s['psnr']:.2f} |{sd_text} "
            f"{ood_text} | {ssim_text} | {s['nmse']:.5f} | {agree_text} | {cost_text} |"
        )
    return lines


def trajectory_table(summaries: Dict[str, Dict[str, object]]) -> List[str]:
    """Markdown rows: per arm (seed 0), alpha's course, the teacher's PSNR, corrected fraction, lambda_t, restores."""
    lines = [
        "| method | alpha first -> last (min-max) | teacher PSNR pre-trained -> last validation (min) (dB) | "
        "corrected fraction | mean lambda_t | guard restores |",
        "|---|---|---|---|---|---|",
    ]
    for name, t in summaries.items():
        a, tp = t.get("alpha"), t.get("teacher_psnr")
        alpha_text = "–" if not a else f"{a['first']:.2f} -> {a['last']:.2f} ({a['min']:.2f}-{a['max']:.2f})"
        if tp:
            start = tp["pretrained"] if tp["pretrained"] is not None else tp["first_validation"]
            teacher_text = f"{start:.2f} -> {tp['last_validation']:.2f} ({tp['min']:.2f})"
        else:
            teacher_text = "–"
        corrected = "–" if "corrected_mean" not in t else f"{t['corrected_mean']:.3f}"
        lam = "–" if "feedback_weight_mean" not in t else f"{t['feedback_weight_mean']:.2f}"
        restores = "–" if t.get("guard_restores") is None else str(t["guard_restores"])
        lines.append(f"| {name} | {alpha_text} | {teacher_text} | {corrected} | {lam} | {restores} |")
    return lines


def plot_trajectories(trajectories: Dict[str, Dict[str, dict]], path: Path, smooth: int = 5) -> Optional[Path]:
    """``trajectories.png``: alpha_t, the teacher's validation PSNR, the corrected fraction and lambda_t of each
    arm's seed 0 (per-iteration series: moving average over ``smooth`` points). ``None`` (nothing written) without
    matplotlib, which the package does not need."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("[ablation] matplotlib is not installed: trajectories.png skipped (the JSON has the trajectories)")
        return None
    import numpy as np

    panels = [
        ("train", "alpha", "alpha_t (output KD weight)"),
        ("val", "teacher_psnr", "teacher validation PSNR (dB)"),
        ("train", "kd_corrected", "fraction of pixels corrected to the truth"),
        ("train", "teacher_fb_weight", "feedback weight lambda_t"),
    ]
    fig, axes = plt.subplots(2, 2, figsize=(13, 8))
    # one colour per arm in every panel (an arm without a series in a panel must not shift the others' colours)
    colour = {name: f"C{i % 10}" for i, name in enumerate(trajectories)}
    for ax, (kind, tag, title) in zip(axes.flat, panels):
        for name, seeds in trajectories.items():
            series = seeds.get("0", {}).get(kind, {}).get(tag)
            if not series:
                continue
            steps, values = np.array(series, dtype=float).T
            if kind == "train" and smooth > 1 and len(values) > smooth:
                values = np.convolve(values, np.ones(smooth) / smooth, mode="valid")
                steps = steps[smooth - 1 :]
            ax.plot(steps, values, label=name, color=colour[name], marker="o" if kind == "val" else None, markersize=3)
        if tag == "teacher_psnr":
            for name, seeds in trajectories.items():
                base = seeds.get("0", {}).get("val", {}).get("teacher_baseline")
                if base:
                    ax.axhline(base[-1][1], color="grey", linestyle=":", linewidth=1)
                    break
        ax.set_title(title)
        ax.set_xlabel("epoch" if kind == "val" else "iteration")
        ax.grid(alpha=0.3)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    for ax in axes.flat[1:]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def measure_win_rate(
    teacher_weights: Path,
    student_weights: Path,
    patch_size: int,
    batch_size: int,
    batches: int = 32,
    student_preset: str = "small",
) -> Dict[str, float]:
    """The teacher's pixel win rate over the student on ``batches`` training batches of the bundle's recipe
    (random patches, phase-bearing at its default rate, random 4x/8x masks; seed 0)."""
    import torch
    from monai.data import DataLoader
    from monai.utils import set_determinism

    from monai_chpnet.data.selection import training_dataset
    from monai_chpnet.engines import teacher_win_rate
    from monai_chpnet.inference import load_network
    from monai_chpnet.networks import student_from_preset, teacher_from_preset
    from monai_chpnet.transforms.recipes import kspace_transforms, train_transforms

    set_determinism(0)
    teacher = load_network(str(teacher_weights), network=teacher_from_preset("small", in_channels=2))
    student = load_network(str(student_weights), network=student_from_preset(student_preset, in_channels=2))
    dataset = training_dataset(
        "sample", "train", image_transform=train_transforms(patch_size=patch_size), kspace_transform=kspace_transforms()
    )

    def batches_forever():
        epoch = 0
        while True:
            dataset.set_epoch(epoch)
            yield from DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True, num_workers=0)
            epoch += 1

    with torch.inference_mode():
        result = teacher_win_rate(teacher, student, batches_forever(), batches=batches)
    set_determinism(None)
    return {**result, "batches": batches, "patch_size": patch_size, "batch_size": batch_size}


def recorded_settings(args: argparse.Namespace) -> Dict[str, object]:
    """The command-line settings as ``ablation.json`` records them: paths (``--out``, ``--teacher-weights``) as text."""
    return {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}


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
    parser.add_argument(
        "--teacher-weights",
        type=Path,
        default=None,
        help="a pre-trained small teacher to distil from (e.g. the bundle's models/teacher.pt, whose training the model "
        "card records) instead of training the --teacher-iterations chain",
    )
    parser.add_argument(
        "--student-preset",
        default="small",
        help="student size of every arm (tiny: a student with a larger gap to the teacher)",
    )
    parser.add_argument("--patch-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=2, help="arms trained at once (one CPU thread each)")
    parser.add_argument(
        "--arms",
        nargs="+",
        default=None,
        metavar="ARM",
        help=f"the student arms to train (names as in the table); default: {DEFAULT_ARMS}",
    )
    parser.add_argument(
        "--hint-fraction", type=float, default=0.2, help="share of --iterations the hint-stage arm spends on hints"
    )
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
    parser.add_argument(
        "--win-rate-only",
        action="store_true",
        help="train the teacher and the student alone (seed 0), print the teacher's pixel win rate, and stop",
    )
    parser.add_argument("--win-rate-batches", type=int, default=32, help="training batches the win rate counts")
    parser.add_argument(
        "--no-unet",
        action="store_true",
        help="leave out the fastMRI U-Net baseline (7.8 M parameters: on a CPU it costs more than the arms)",
    )
    parser.add_argument("--out", type=Path, default=OUT, help="results folder")
    parser.add_argument("--retrain", action="store_true")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    arms = list(DEFAULT_ARMS if args.arms is None else args.arms)
    unknown = sorted(set(arms + list(args.seed_arms or [])) - set(ARMS))
    if unknown:
        parser.error(f"--arms / --seed-arms: unknown arm(s) {unknown}; the student arms are {list(ARMS)}")
    if "student alone" not in arms:
        parser.error("--arms must include 'student alone': every comparison (and the win rate) is against it")
    if not 0 <= args.hint_fraction < 1:
        parser.error("--hint-fraction must be in [0, 1)")
    seed_arms = set(arms if args.seed_arms is None else args.seed_arms)
    # every (seed, arm) trained: seed 0 for every arm, the other seeds for ``seed_arms``
    runs = [(seed, name) for seed in args.seeds for name in arms if seed == 0 or name in seed_arms]
    if args.win_rate_only:
        runs = [(0, "student alone")]

    import numpy as np
    import torch

    from monai_chpnet.data.sample import heldout_evaluation_files, write_heldout_scored_half
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
    teacher_weights = args.teacher_weights.resolve() if args.teacher_weights else out / final_teacher / "teacher.pt"
    if args.teacher_weights is not None and not teacher_weights.is_file():
        parser.error(f"--teacher-weights: no file {teacher_weights}")
    max_epochs = max(args.iterations // epoch_length, 1)
    student_common = {
        **common,
        "max_epochs": max_epochs,
        "val_interval": 2,
        "teacher_weights": str(teacher_weights),
        "student_preset": args.student_preset,
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
            (
                seeded(name, seed),
                "train_student.json",
                "model.pt",
                {**student_common, **arm_overrides(name, max_epochs * epoch_length, args.hint_fraction), "seed": seed},
            )
            for seed, name in runs
            if (ARMS[name].get("kd") == "none") == kd_free
        ]

    kd_free, kd_jobs = arm_jobs(True), arm_jobs(False)
    extra_free = [] if args.win_rate_only or args.no_unet else [unet_job]
    run = lambda j: train(j[0], j[1], j[2], j[3], args.retrain, out)  # noqa: E731
    # the teacher and the arms that do not need it train side by side; the KD arms wait for the teacher
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        # pre-training and its further cycles are one job (one worker), so at most ``jobs`` runs share the cores
        teacher_chain = [teacher_job] + continue_jobs
        if args.teacher_weights is not None:  # given, not trained here
            given = [{"name": "teacher (given)", "weights": str(teacher_weights), "command": "--teacher-weights"}]
            teacher_future = pool.submit(lambda: given)
        else:
            teacher_future = pool.submit(lambda: [run(j) for j in teacher_chain])
        free_futures = [pool.submit(run, j) for j in kd_free + extra_free]
        teacher_records = teacher_future.result()
        alone = free_futures[0].result()  # student alone, seed 0: the win rate needs it before the KD arms
        torch.set_num_threads(1)
        win_rate = measure_win_rate(
            teacher_weights,
            Path(alone["weights"]),
            args.patch_size,
            args.batch_size,
            args.win_rate_batches,
            args.student_preset,
        )
        print(
            f"[ablation] teacher's pixel win rate over the student alone on training patches: "
            f"{win_rate['win_rate']:.3f} (foreground {win_rate['win_rate_foreground']:.3f}; "
            f"L1 error ratio student/teacher {win_rate['error_ratio']:.3f})",
            flush=True,
        )
        write_json(
            out / "win_rate.json", {**win_rate, "teacher": teacher_records[-1]["weights"], "student": alone["weights"]}
        )
        if args.win_rate_only:
            return
        kd_records = list(pool.map(run, kd_jobs))
        free_records = [f.result() for f in free_futures]
    by_name = {r["name"]: r for r in free_records + kd_records}
    # the table's teacher is the one the KD arms learnt from; the pre-training stage stays in the training records
    teacher = {**teacher_records[-1], "name": "teacher"}
    records = [teacher] + [by_name[seeded(name, seed)] for seed, name in runs]
    records += [] if args.no_unet else [by_name["fastMRI U-Net"]]
    base_name = {seeded(name, seed): name for seed, name in runs}
    seed_of = {seeded(name, seed): seed for seed, name in runs}
    arm_of = lambda method: base_name.get(method, method)  # noqa: E731  the table row a (seeded) network counts in

    torch.set_num_threads(2)
    builders = {
        "teacher": lambda: teacher_from_preset("small", in_channels=2),
        "fastMRI U-Net": lambda: FastMRIUNet(in_channels=2),
        **{name: (lambda: student_from_preset(args.student_preset, in_channels=2)) for name in base_name},
    }
    networks: Dict[str, Optional[torch.nn.Module]] = {"zero-filled": None}
    for rec in records:
        networks[rec["name"]] = load_network(rec["weights"], network=builders[rec["name"]]())
    files = {k: str(v) for k, v in heldout_evaluation_files().items()}
    evaluate = lambda f: evaluate_files(  # noqa: E731
        f, networks, accelerations=(4.0, 8.0), agreement_with="teacher", acquisitions=("magnitude", "phase")
    )
    rows = evaluate(files)
    # the odd slices of the split held-out volumes: the in-domain unlabelled arm distilled on the even ones
    half_files = {k: str(v) for k, v in write_heldout_scored_half(out / "heldout_scored_half").items()}
    rows_half = evaluate(half_files)

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
    for r in rows + rows_half:
        r.update(cost[arm_of(r["method"])])

    methods = [name for name in networks if arm_of(name) == name]  # one table row per arm
    summary = summarise(rows, methods, arm_of, cost)
    summary_half = summarise(rows_half, methods, arm_of, cost)

    # trajectories of every student run, from its TensorBoard files; the table shows seed 0
    trajectories: Dict[str, Dict[str, dict]] = {}
    summaries: Dict[str, Dict[str, object]] = {}
    for method in base_name:
        run_dir = out / slug(method) / "run"
        scalars = read_scalars(run_dir)
        name, seed = arm_of(method), str(seed_of[method])
        trajectories.setdefault(name, {})[seed] = {
            kind: {tag: series[::10] if kind == "train" else series for tag, series in tags.items()}
            for kind, tags in scalars.items()
        }
        trajectories[name][seed]["train_every"] = 10
        summary_t = {**trajectory_summary(scalars), "guard_restores": guard_restores(run_dir)}
        trajectories[name][seed]["summary"] = summary_t
        if seed == "0":
            summaries[name] = summary_t
    trajectory_figure = plot_trajectories(
        {
            n: {s: {k: v for k, v in d.items() if k in ("train", "val")} for s, d in seeds.items()}
            for n, seeds in trajectories.items()
        },
        out / "trajectories.png",
    )

    seeds_note = (
        f"student arms: mean over training seeds {args.seeds}"
        + ("" if args.seed_arms is None else f" (seed 0 only for {[a for a in arms if a not in seed_arms]})")
        + " ('sd': standard deviation of the seeds' PSNR); "
        if len(args.seeds) > 1
        else ""
    )
    lines = [
        "Ablation on the shipped sample data, complex task (the bundle's training recipe, phase-bearing patches at "
        f"its default phase_prob; magnitude and phase-bearing acquisitions evaluated): students {args.iterations} "
        f"iterations (hint stage {int(round(args.hint_fraction * max_epochs * epoch_length))}), teacher "
        + (
            f"given ({args.teacher_weights})"
            if args.teacher_weights is not None
            else f"{args.teacher_iterations}" + "".join(f" + {n} (cycle {i + 2})" for i, n in enumerate(cycles))
        )
        + ", "
        f"batch {args.batch_size} of {args.patch_size}x{args.patch_size} patches, random 4x/8x masks; mean over the "
        "held-out sources (demo T1 slab + three out-of-distribution MR sources + raw phantom k-space; 'OOD PSNR' is "
        "the "
        "mean over all but the T1 slab; 'PSNR to teacher': against the teacher's reconstruction instead of the truth, "
        "how closely a method reproduces it); " + seeds_note + "cost at 320x320, 2 threads.",
        "",
        f"Teacher's pixel win rate over the student alone on training patches: {win_rate['win_rate']:.3f} "
        f"(foreground {win_rate['win_rate_foreground']:.3f}; L1 error ratio student/teacher "
        f"{win_rate['error_ratio']:.3f}).",
        "",
        *summary_table(summary, len(args.seeds)),
        "",
        "Scored half: the odd slices of the held-out volumes with at least two slices (T1 slab, EPI brain); the "
        "'in-domain unlabelled' arm distilled on the even slices (their acquisitions only, no truth), so this is the "
        "table that compares it with the others:",
        "",
        *summary_table(summary_half, len(args.seeds)),
        "",
        "Training trajectories (seed 0; alpha, corrected fraction and lambda_t over the ground-truth iterations; "
        "teacher PSNR on the validation data, pre-trained value from the guard's measurement or the first validation):",
        "",
        *trajectory_table(summaries),
        "",
        "Per source:",
        "",
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
        "settings": {**recorded_settings(args), "arms": arms},
        "methods": methods,
        "summary": summary,
        "summary_scored_half": summary_half,
        "win_rate": win_rate,
        "trajectories": trajectories,
        "rows": rows,
        "rows_scored_half": rows_half,
        "training": teacher_records + records[1:],
        "figure_rows": methods + ["reference"],
    }
    with AtomicFiles() as files:
        write_json(out / "ablation.json", report, files=files)
        write_text(out / "ablation.md", table + "\n", files=files)
    figures = "ablation.png, ablation_ood.png" + (", trajectories.png" if trajectory_figure else "")
    print(f"[ablation] wrote {out / 'ablation.json'}, ablation.md, {figures}")


if __name__ == "__main__":
    main()
