"""Command line: ``python -m monai_chpnet reconstruct|demo|super-resolve ...`` (also installed as ``monai-chpnet``).

A thin shell over :mod:`monai_chpnet.inference`: the options are the fields of
:class:`~monai_chpnet.inference.ReconSettings`, checked by it (an option's type by argparse, its range by the
settings, so the command line and the other front ends refuse the same values with the same words), and
everything is checked -- settings, weights, input, output names -- before the reconstruction starts.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any, Callable, Optional, Sequence

__all__ = ["main"]

#: the option that sets each setting, as errors name it
OPTIONS = {
    "acceleration": "--acceleration",
    "center_fraction": "--center-fraction",
    "mask_type": "--mask",
    "seed": "--seed",
    "undersampled": "--undersampled",
    "slice_axis": "--slice-axis",
    "series_id": "--series-id",
    "batch_size": "--batch-size",
    "device": "--device",
    "threads": "--threads",
}


def _progress(done: int, total: int) -> None:
    print(f"\r  reconstructing slices {done}/{total}", end="\n" if done == total else "", flush=True)


def _setting(key: str, parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse ``type`` that parses the text and checks it as the setting ``key`` (usage error otherwise)."""

    def check(text: str) -> Any:
        from monai_chpnet.inference import ReconSettings, SettingsError

        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        try:
            ReconSettings(**{key: value})
        except SettingsError as err:  # argparse names the option itself: "argument --seed: must be ..."
            raise argparse.ArgumentTypeError(err.describe(OPTIONS[key]).removeprefix(OPTIONS[key] + " ")) from None
        return value

    return check


#: the exit code when the result was written but the trust map asked for could not be made
PARTIAL = 3


def _trust_map(args: argparse.Namespace, scale: int = 1, degradation: Optional[str] = None) -> Any:
    """``(TrustMap or None, error or None)`` for ``--trust`` (:func:`~monai_chpnet.inference.loading.trust_map_for`)."""
    from monai_chpnet.inference.loading import trust_map_for

    method = args.trust_map if args.trust else None
    return trust_map_for(method, None, scale, degradation, args.device, teacher_weights=args.teacher_weights)


def _report_trust_error(error: Optional[str]) -> int:
    if error is None:
        return 0
    print(f"error: {error} (the result was written without it; exit code {PARTIAL})", file=sys.stderr)
    return PARTIAL


def _reconstruct(args: argparse.Namespace) -> int:
    import torch

    from monai_chpnet.inference import (
        ReconSettings,
        SettingsError,
        load_network,
        output_paths,
        output_stem,
        plan_outputs,
        reconstruct_file,
        write_outputs,
    )

    try:
        settings = ReconSettings(**{key: getattr(args, key) for key in OPTIONS})
    except SettingsError as err:
        raise ValueError(err.describe(OPTIONS.get(err.key, err.key))) from None
    if settings.threads:
        torch.set_num_threads(settings.threads)
    plan_outputs([args.input], args.output_dir)  # fail before any work: input, output folder, output names
    output_paths(args.output_dir, args.stem or output_stem(args.input))
    network = load_network(args.weights, preset=args.preset, map_location=settings.device) if args.weights else None
    if network is None:
        if args.trust:
            raise ValueError("--trust needs --weights: the zero-filled baseline has no trust map.")
        print("no --weights given: writing the zero-filled reconstruction (the baseline)")
    trust, trust_error = _trust_map(args)
    result = reconstruct_file(args.input, network, progress=_progress, settings=settings, trust=trust)
    paths = write_outputs(result, args.output_dir, stem=args.stem)
    print(result.summary())
    if result.trust is not None:
        print(f"  trust map ({result.trust_method}): {result.trust_seconds:.1f} s extra")
    for name, path in paths.items():
        print(f"  {name:<15} {path}")
    return _report_trust_error(trust_error)


def _super_resolve(args: argparse.Namespace) -> int:
    import torch

    from monai_chpnet.inference import check_output_dir, check_stem, output_stem
    from monai_chpnet.inference.sr_files import super_resolve_file, write_sr_outputs
    from monai_chpnet.inference.superres import load_sr_network

    if args.threads:
        torch.set_num_threads(args.threads)
    check_output_dir(args.output_dir)  # fail before any work
    check_stem(args.stem or output_stem(args.input))
    network = (
        load_sr_network(args.weights, args.scale, args.degradation, args.preset, args.device) if args.weights else None
    )
    if network is None:
        if args.trust:
            raise ValueError("--trust needs --weights: the bicubic baseline has no trust map.")
        print("no --weights given: writing the bicubic upsampling (the baseline)")
    trust, trust_error = _trust_map(args, args.scale, args.degradation)
    result = super_resolve_file(
        args.input,
        network,
        args.scale,
        evaluate=args.evaluate,
        degradation=args.degradation,
        slice_axis=args.slice_axis,
        batch_size=args.batch_size,
        device=args.device,
        progress=_progress,
        trust=trust,
    )
    for name, m in result.metrics.items():
        print(f"  {name:<15} PSNR {m['psnr']:6.2f} dB   SSIM {m['ssim'] or float('nan'):.4f}")
    if result.trust is not None:
        print(f"  trust map ({result.trust_method}): {result.trust_seconds:.1f} s extra")
    for path in write_sr_outputs(result, args.output_dir, stem=args.stem):
        print(f"  {path}")
    return _report_trust_error(trust_error)


def _demo(args: argparse.Namespace) -> int:
    from monai_chpnet.data.sample import sample_volume_path

    args.input = str(sample_volume_path())
    return _reconstruct(args)


def _trust_options(p: argparse.ArgumentParser, sr: bool = False) -> None:
    from monai_chpnet.inference.trust import DEFAULT_SR_TRUST, DEFAULT_TRUST, TRUST_METHODS

    default = DEFAULT_SR_TRUST if sr else DEFAULT_TRUST
    p.add_argument(
        "--trust",
        action="store_true",
        help="also write <stem>_trust.nii.gz: where the result should not be believed (0 trusted .. 1 least "
        f"trusted in this volume); exit code {PARTIAL} when it cannot be made (the result is still written)",
    )
    p.add_argument(
        "--trust-map",
        choices=TRUST_METHODS,
        default=default,
        help=f"which map: teacher (teacher-student disagreement, ~10x the student's time), tta (the student's "
        f"spread over flips, ~3x), correction (what the student changed); default {default}, the best calibrated "
        "for this task (benchmarks/results/trust.md)",
    )
    p.add_argument(
        "--teacher-weights", default=None, help="the teacher for --trust-map teacher (default: the bundle's teacher)"
    )


def build_parser() -> argparse.ArgumentParser:
    from monai_chpnet.transforms.masks import MASK_FUNCS

    parser = argparse.ArgumentParser(
        prog="monai-chpnet",
        description="Fast MRI reconstruction with a distilled CNN student (monai-chpnet). The MONAI Bundle "
        "(python -m monai.bundle run ...) is the primary interface; this CLI calls the same inference functions.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--weights", help="student weights (.pt state dict or training checkpoint); omit for zero-filled"
        )
        p.add_argument("--preset", default="small", help="student preset the weights belong to (default: small)")
        p.add_argument(
            "--acceleration",
            type=_setting("acceleration", float),
            default=4.0,
            help="undersampling factor, >= 1 (default 4)",
        )
        p.add_argument(
            "--center-fraction",
            type=float,
            default=None,
            help="fully sampled centre fraction (default: 0.32 / acceleration, fastMRI's 4x:0.08, 8x:0.04)",
        )
        p.add_argument("--mask", dest="mask_type", default="random", help=f"column mask: {' or '.join(MASK_FUNCS)}")
        p.add_argument(
            "--seed", type=_setting("seed", int), default=0, help="mask seed, 0 to 2**32 - 1 (one mask per volume)"
        )
        p.add_argument(
            "--undersampled",
            action="store_true",
            help="the input is already undersampled: a .h5's k-space is taken as acquired; an image volume is "
            "the zero-filled magnitude of an acquisition with the --acceleration/--mask/--seed mask",
        )
        p.add_argument(
            "--slice-axis", type=_setting("slice_axis", int), default=0, help="array axis to slice along: 0, 1 or 2"
        )
        p.add_argument("--output-dir", default="outputs", help="where NIfTI, figure and metrics go (default ./outputs)")
        p.add_argument("--stem", default=None, help="name the outputs <stem>_recon.nii.gz, ... (default: the input's)")
        p.add_argument("--device", default="cpu", help="torch device (default cpu)")
        p.add_argument("--batch-size", type=_setting("batch_size", int), default=4, help="slices per forward pass")
        p.add_argument(
            "--threads", type=_setting("threads", int), default=0, help="torch CPU threads (0: torch's default)"
        )
        p.add_argument(
            "--series-id",
            default=None,
            help="DICOM SeriesInstanceUID to read when the input folder holds several series",
        )

    rec = sub.add_parser("reconstruct", help="reconstruct a NIfTI/NRRD/MHA/DICOM volume or a fastMRI single-coil .h5")
    rec.add_argument("input", help="image volume file, DICOM series folder, or fastMRI .h5")
    common(rec)
    _trust_options(rec)
    rec.set_defaults(func=_reconstruct)
    demo = sub.add_parser("demo", help="reconstruct the shipped sample volume (MNI T1 slab, 20 x 256 x 256)")
    common(demo)
    _trust_options(demo)
    demo.set_defaults(func=_demo)
    sr = sub.add_parser(
        "super-resolve",
        help="upsample a low-resolution volume in-plane x2 / x4 (or, with --evaluate, degrade a high-resolution one "
        "first and score the result)",
    )
    sr.add_argument("input", help="image volume file or DICOM series folder (magnitude, one channel)")
    sr.add_argument("--weights", help="super-resolution student weights for --scale; omit for bicubic upsampling")
    sr.add_argument("--preset", default="small", help="student preset the weights belong to (default: small)")
    sr.add_argument("--scale", type=int, choices=(2, 4), default=2, help="in-plane factor (default 2)")
    sr.add_argument(
        "--evaluate",
        action="store_true",
        help="the input is a high-resolution reference: degrade it by --degradation, super-resolve and score",
    )
    sr.add_argument(
        "--degradation",
        choices=("kspace", "bicubic"),
        default="kspace",
        help="how the low-resolution image is made: kspace (central k-space block, how a scanner acquires a lower "
        "matrix) or bicubic (a downscaled image); the weights must be trained for it; with --evaluate the reference "
        "is degraded so",
    )
    sr.add_argument("--slice-axis", type=int, choices=(0, 1, 2), default=0, help="array axis to slice along")
    sr.add_argument("--output-dir", default="outputs", help="where the NIfTI volumes and metrics go")
    sr.add_argument("--stem", default=None, help="name the outputs <stem>_sr.nii.gz, ... (default: the input's)")
    sr.add_argument("--device", default="cpu", help="torch device (default cpu)")
    sr.add_argument("--batch-size", type=_setting("batch_size", int), default=4, help="slices per forward pass")
    sr.add_argument("--threads", type=_setting("threads", int), default=0, help="torch CPU threads (0: default)")
    _trust_options(sr, sr=True)
    sr.set_defaults(func=_super_resolve)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (OSError, ValueError, TypeError, KeyError) as e:  # the library's specific, one-line errors
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
