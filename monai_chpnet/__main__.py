"""Command line: ``python -m monai_chpnet reconstruct|demo ...`` (also installed as ``monai-chpnet``).

A thin shell over :mod:`monai_chpnet.inference`; every option maps to an argument of
:func:`~monai_chpnet.inference.reconstruct_file`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable, Optional, Sequence

__all__ = ["main"]


def _progress(done: int, total: int) -> None:
    print(f"\r  reconstructing slices {done}/{total}", end="\n" if done == total else "", flush=True)


def _int_at_least(low: int) -> Callable[[str], int]:
    """An argparse ``type`` for integers >= ``low``."""

    def parse(text: str) -> int:
        value = int(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"must be {low} or more, got {value}")
        return value

    return parse


def _reconstruct(args: argparse.Namespace) -> int:
    import torch

    from monai_chpnet.inference import check_device, check_output_dir, load_network, reconstruct_file, write_outputs

    check_device(args.device, "--device")
    torch.set_num_threads(args.threads) if args.threads else None
    check_output_dir(args.output_dir)  # fail before any work
    network = load_network(args.weights, preset=args.preset, map_location=args.device) if args.weights else None
    if network is None:
        print("no --weights given: writing the zero-filled reconstruction (the baseline)")
    result = reconstruct_file(
        args.input,
        network,
        acceleration=args.acceleration,
        undersampled=args.undersampled,
        slice_axis=args.slice_axis,
        center_fraction=args.center_fraction,
        mask_type=args.mask,
        seed=args.seed,
        device=args.device,
        batch_size=args.batch_size,
        progress=_progress,
        series_id=args.series_id,
    )
    paths = write_outputs(result, args.output_dir)
    print(result.summary())
    for name, path in paths.items():
        print(f"  {name:<15} {path}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from monai_chpnet.data.sample import sample_volume_path

    args.input = str(sample_volume_path())
    return _reconstruct(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="monai-chpnet",
        description="Fast MRI reconstruction with a distilled CNN student (monai-chpnet). The MONAI Bundle "
        "(python -m monai.bundle run ...) is the primary interface; this CLI calls the same inference function.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--weights", help="student weights (.pt state dict or training checkpoint); omit for zero-filled"
        )
        p.add_argument("--preset", default="small", help="student preset the weights belong to (default: small)")
        p.add_argument("--acceleration", type=float, default=4.0, help="simulated undersampling factor (default 4)")
        p.add_argument(
            "--center-fraction",
            type=float,
            default=None,
            help="fully sampled centre fraction (default: 0.32 / acceleration, fastMRI's 4x:0.08, 8x:0.04)",
        )
        p.add_argument("--mask", choices=("random", "equispaced"), default="random", help="column mask type")
        p.add_argument("--seed", type=int, default=0, help="mask seed (one mask per volume)")
        p.add_argument(
            "--undersampled",
            action="store_true",
            help="the input is already undersampled: a .h5's k-space is taken as acquired; an image volume is "
            "the zero-filled magnitude of an acquisition with the --acceleration/--mask/--seed mask",
        )
        p.add_argument("--slice-axis", type=int, default=0, choices=(0, 1, 2), help="array axis to slice along")
        p.add_argument("--output-dir", default="outputs", help="where NIfTI, figure and metrics go (default ./outputs)")
        p.add_argument("--device", default="cpu", help="torch device (default cpu)")
        p.add_argument("--batch-size", type=_int_at_least(1), default=4, help="slices per forward pass")
        p.add_argument("--threads", type=_int_at_least(0), default=0, help="torch CPU threads (0: torch's default)")
        p.add_argument(
            "--series-id",
            default=None,
            help="DICOM SeriesInstanceUID to read when the input folder holds several series",
        )

    rec = sub.add_parser("reconstruct", help="reconstruct a NIfTI/NRRD/MHA/DICOM volume or a fastMRI single-coil .h5")
    rec.add_argument("input", help="image volume file, DICOM series folder, or fastMRI .h5")
    common(rec)
    rec.set_defaults(func=_reconstruct)
    demo = sub.add_parser("demo", help="reconstruct the shipped sample volume (MNI T1 slab, 20 x 256 x 256)")
    common(demo)
    demo.set_defaults(func=_demo)
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
