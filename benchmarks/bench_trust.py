"""Calibration of the trust maps: does each map rank the student's real error?

On every held-out source (:func:`monai_chpnet.data.sample.heldout_evaluation_files`: the in-distribution T1 demo,
three real MR sources from other scanners and contrasts, and the phantom's raw k-space with its own phase), the
k-space task at 4x and 8x on magnitude and phase-bearing acquisitions, and super-resolution (evaluation mode: the
reference degraded, then upsampled) for each ``--sr`` entry. For each map (:mod:`monai_chpnet.inference.trust`) and
each slice, over 8 x 8 blocks:

* ``spearman``: Spearman's correlation between the map and the student's absolute error (all blocks, as the
  issue defines it; ``_fg``: only blocks inside the body, whose reference mean is >= 5 % of the slice's largest --
  the stricter test, since background blocks are easy for every map);
* ``top10_overlap``: the share of the 10 % worst-error blocks that are among the map's top 10 % (chance 0.10).

Rows average over slices, then sources. Also the map's extra time per slice, and as a ratio of the student's own.

    python benchmarks/bench_trust.py --sr 2:kspace:STUDENT.pt:TEACHER.pt

Prints a table; writes ``benchmarks/results/trust.json``, ``trust.md`` and ``trust.png`` (atomically).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results"
TARGETS = {"spearman_mean": 0.5, "top10_overlap": 0.3}  # 3x the chance overlap of 0.10
BLOCK, FOREGROUND = 8, 0.05
Row = Dict[str, Any]


def calibration(trust: np.ndarray, error: np.ndarray, reference: np.ndarray) -> List[Dict[str, float]]:
    """Per slice with enough body: Spearman and top-10 % overlap of ``trust`` and ``error`` over 8 x 8 blocks."""
    from monai_chpnet.metrics import block_means, spearman, top_overlap

    out = []
    for k in range(reference.shape[0]):
        ref, err, m = (block_means(a[k], BLOCK) for a in (reference, error, trust))
        fg = ref >= FOREGROUND * ref.max() if ref.max() > 0 else np.zeros_like(ref, bool)
        if fg.sum() < 16 or np.ptp(m) == 0:
            continue
        out.append({"spearman": spearman(m, err), "top10_overlap": top_overlap(m, err),
                    "spearman_fg": spearman(m[fg], err[fg]), "top10_overlap_fg": top_overlap(m[fg], err[fg])})  # fmt: skip
    return out


def _row(method: str, task: str, setting: str, source: str, slices: List[Dict[str, float]], extra: float,
         student: float, n: int) -> Row:  # fmt: skip
    keys = ("spearman", "top10_overlap", "spearman_fg", "top10_overlap_fg")
    means = {key: float(np.nanmean([s[key] for s in slices])) if slices else float("nan") for key in keys}
    return {"method": method, "task": task, "acceleration": setting, "source": source, **means,
            "ms_per_slice": 1000 * extra / n, "time_vs_student": extra / max(student, 1e-9), "slices": len(slices)}  # fmt: skip


def kspace_rows(student: torch.nn.Module, maps: Dict[str, Any], accelerations: Sequence[float], figure: Dict[str, Any]) -> List[Row]:  # fmt: skip
    from monai_chpnet.data.sample import heldout_evaluation_files
    from monai_chpnet.inference import reconstruct_file

    rows = []
    for source, path in heldout_evaluation_files().items():
        acquisitions = ("acquired",) if path.suffix == ".h5" else ("magnitude", "phase")
        for acquisition in acquisitions:
            for acc in accelerations:
                kwargs = {"simulate_phase": acquisition == "phase"} if path.suffix != ".h5" else {}
                for method, trust in maps.items():
                    r = reconstruct_file(str(path), student, acceleration=acc, trust=trust, **kwargs)
                    error = np.abs(r.reconstruction - r.reference)
                    slices = calibration(r.trust, error, r.reference)
                    n = r.reconstruction.shape[0]
                    row = _row(method, "kspace", f"{acc:g}x {acquisition}", source, slices, r.trust_seconds, r.network_seconds, n)  # fmt: skip
                    rows.append(row)
                    if source == "t1_demo" and acquisition == "phase" and acc == accelerations[0]:
                        k = n // 2
                        figure.setdefault(f"recon {acc:g}x phase", {"reconstruction": r.reconstruction[k], "error": error[k]})[method] = r.trust[k]  # fmt: skip
                print(f"kspace {source} {acquisition} {acc:g}x: " + ", ".join(f"{x['method']} {x['spearman']:.2f}/{x['spearman_fg']:.2f}" for x in rows[-len(maps):]))  # fmt: skip
    return rows


def sr_rows(spec: str, maps_for, figure: Dict[str, Any]) -> List[Row]:
    from monai_chpnet.data.sample import heldout_evaluation_files
    from monai_chpnet.data.volumes import read_volume
    from monai_chpnet.inference.loading import load_teacher
    from monai_chpnet.inference.sr_files import degrade_volume
    from monai_chpnet.inference.superres import load_sr_network, sr_trust_slices, super_resolve_slices
    from monai_chpnet.transforms.crop import crop_to_multiple

    scale, degradation, student_path, teacher_path = spec.split(":", 3)
    scale = int(scale)
    student = load_sr_network(student_path, scale, degradation)
    maps = maps_for(load_teacher(teacher_path, scale, degradation))
    rows = []
    for source, path in heldout_evaluation_files().items():
        if path.suffix == ".h5":
            continue  # its only high-resolution image is the zero-padded one
        volume = crop_to_multiple(read_volume(path)[0].astype(np.float32), scale)
        low = degrade_volume(volume, scale, degradation, source)
        tick = time.perf_counter()
        sr = super_resolve_slices(low, student, scale)
        student_seconds = time.perf_counter() - tick
        error = np.abs(sr - volume)
        for method, trust in maps.items():
            tick = time.perf_counter()
            trust_map = sr_trust_slices(low, student, scale, trust, sr)
            extra = time.perf_counter() - tick
            slices = calibration(trust_map, error, volume)
            rows.append(_row(method, f"sr_{degradation}", f"x{scale}", source, slices, extra, student_seconds, volume.shape[0]))  # fmt: skip
            if source == "t1_demo" and scale == 2:
                k = volume.shape[0] // 2
                figure.setdefault(f"SR x{scale} {degradation}", {"reconstruction": sr[k], "error": error[k]})[
                    method
                ] = trust_map[k]
        print(f"sr x{scale} {degradation} {source}: " + ", ".join(f"{x['method']} {x['spearman']:.2f}/{x['spearman_fg']:.2f}" for x in rows[-len(maps):]))  # fmt: skip
    return rows


def summarise(rows: Sequence[Row]) -> List[Row]:
    """Mean over sources per (method, task, acceleration), and per (method, task) over everything."""
    keys = ("spearman", "top10_overlap", "spearman_fg", "top10_overlap_fg", "ms_per_slice", "time_vs_student")
    groups: Dict[tuple, List[Row]] = {}
    for r in rows:
        groups.setdefault((r["method"], r["task"], r["acceleration"]), []).append(r)
        groups.setdefault((r["method"], r["task"], "all"), []).append(r)
    out = []
    for (method, task, setting), members in groups.items():
        means = {k: float(np.nanmean([m[k] for m in members])) for k in keys}
        out.append({"method": method, "task": task, "acceleration": setting, "spearman_mean": means.pop("spearman"),
                    **means, "sources": len({m["source"] for m in members})})  # fmt: skip
    return out


def table(summary: Sequence[Row]) -> str:
    lines = ["| map | task | setting | Spearman (all blocks) | top-10 % overlap | Spearman (body) | overlap (body) | ms/slice | x student |",
             "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in summary:
        lines.append(f"| {r['method']} | {r['task']} | {r['acceleration']} | {r['spearman_mean']:.3f} | {r['top10_overlap']:.3f} | "
                     f"{r['spearman_fg']:.3f} | {r['top10_overlap_fg']:.3f} | {r['ms_per_slice']:.1f} | {r['time_vs_student']:.1f} |")  # fmt: skip
    return "\n".join(lines)


def save_figure(figure: Dict[str, Any], path: Path, files: Any) -> None:
    from monai_chpnet.figures import save_png_grid, to_uint8

    grid, titles = [], []
    for task, panels in figure.items():
        vmax = float(panels["reconstruction"].max())
        row = [to_uint8(panels["reconstruction"], vmax), to_uint8(panels["error"] * 5, vmax)]
        row += [to_uint8(m, 1.0) for name, m in panels.items() if name not in ("reconstruction", "error")]
        grid.append(row)
        titles.append([task, "|error| x5", *[n for n in panels if n not in ("reconstruction", "error")]])
    save_png_grid(grid, path, titles=titles, files=files)


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", default="bundles/chpnet_mri_recon/models/model.pt", help="k-space student")
    parser.add_argument("--teacher", default="bundles/chpnet_mri_recon/models/teacher.pt", help="k-space teacher")
    parser.add_argument("--sr", nargs="*", default=[], metavar="SCALE:DEGRADATION:STUDENT:TEACHER")
    parser.add_argument("--accelerations", type=float, nargs="+", default=[4.0, 8.0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from monai_chpnet.atomic import AtomicFiles, write_json, write_text
    from monai_chpnet.inference import load_network
    from monai_chpnet.inference.loading import load_teacher
    from monai_chpnet.inference.trust import TRUST_METHODS, TrustMap

    def maps_for(teacher: torch.nn.Module) -> Dict[str, TrustMap]:
        return {m: TrustMap(m, teacher if m == "teacher" else None) for m in TRUST_METHODS}

    figure: Dict[str, Any] = {}
    rows = kspace_rows(load_network(args.weights), maps_for(load_teacher(args.teacher)), args.accelerations, figure)
    for spec in args.sr:
        rows += sr_rows(spec, maps_for, figure)
    summary = summarise(rows)
    overall = [r for r in summary if r["acceleration"] == "all"]
    best = {
        task: max(
            TRUST_METHODS,
            key=lambda m: next(r["spearman_mean"] for r in overall if (r["method"], r["task"]) == (m, task)),
        )
        for task in sorted({r["task"] for r in overall})
    }
    text = f"{table(summary)}\n\nBest-calibrated map of each task (Spearman over all blocks): {best}\n"
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    payload = {"targets": TARGETS, "block": BLOCK, "foreground": FOREGROUND, "best": best, "summary": summary,
               "rows": rows, "weights": {"kspace": [args.weights, args.teacher], "sr": args.sr}}  # fmt: skip
    with AtomicFiles() as files:
        write_json(args.out / "trust.json", payload, files=files)
        write_text(args.out / "trust.md", text, files=files)
        save_figure(figure, args.out / "trust.png", files)
    print(f"saved {args.out / 'trust.json'}")


if __name__ == "__main__":
    main()
