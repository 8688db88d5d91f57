"""The background process: ``python -m CHPNetReconLib.worker --input in.nrrd --output-dir DIR --request JSON``.

Slicer's main process writes the input (and the optional reference) volume to NRRD with its geometry, starts this
module with the Python that has ``monai_chpnet`` (``PythonSlicer`` inside Slicer), and reads back
``reconstruction.nrrd``, ``zero_filled.nrrd``, ``metrics.json`` and, when a trust map was asked for,
``trust.nrrd`` from the output folder. In between, the GUI stays
responsive: this process does all the torch work.

Protocol on standard output, one line each (everything else is log text):

* ``CHPNETRECON_PROGRESS <done>/<total>``  after every batch of slices;
* ``CHPNETRECON_ERROR <message>``          before exiting with status 2 on a known error.

The files are read and written by ``monai_chpnet.data.volumes`` (SimpleITK), which keeps the file's voxel order,
so the outputs lie on the input's grid. Only the standard library is imported at module level: the Slicer side
imports the constants below without torch.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Optional, Sequence

__all__ = [
    "PROGRESS_TAG",
    "ERROR_TAG",
    "RECONSTRUCTION_FILE",
    "ZERO_FILLED_FILE",
    "METRICS_FILE",
    "TRUST_FILE",
    "build_parser",
    "main",
]

PROGRESS_TAG = "CHPNETRECON_PROGRESS"
ERROR_TAG = "CHPNETRECON_ERROR"
RECONSTRUCTION_FILE = "reconstruction.nrrd"
ZERO_FILLED_FILE = "zero_filled.nrrd"
METRICS_FILE = "metrics.json"
TRUST_FILE = "trust.nrrd"


def build_parser() -> argparse.ArgumentParser:
    """Command line of the worker (its caller is :class:`~CHPNetReconLib.background.BackgroundReconstruction`)."""
    parser = argparse.ArgumentParser(prog="python -m CHPNetReconLib.worker", description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, help="input volume file (NRRD written by Slicer)")
    parser.add_argument(
        "--output-dir", required=True, help="folder for reconstruction.nrrd, zero_filled.nrrd, metrics.json"
    )
    parser.add_argument("--request", required=True, help="ReconstructionRequest as JSON")
    parser.add_argument("--reference", help="reference volume file on the input's grid (metrics against it)")
    parser.add_argument("--fastmri", help="fastMRI .h5 the input was loaded from (its k-space is reconstructed)")
    return parser


def _progress(done: int, total: int) -> None:
    print(f"{PROGRESS_TAG} {done}/{total}", flush=True)


def run(args: argparse.Namespace) -> None:
    """Read, reconstruct with :func:`~CHPNetReconLib.reconstruction.reconstruct_arrays`, write."""
    from monai_chpnet.atomic import AtomicFiles, write_json
    from monai_chpnet.data.volumes import read_volume, write_volume

    from CHPNetReconLib.reconstruction import ReconstructionRequest, reconstruct_arrays

    request = ReconstructionRequest.from_dict(json.loads(args.request))
    if request.threads:
        import torch

        torch.set_num_threads(request.threads)
    volume, geometry = read_volume(args.input)  # (K, J, I): SimpleITK's array of the file as Slicer wrote it
    reference = read_volume(args.reference)[0] if args.reference else None
    print(f"reconstructing {args.input} {volume.shape} along {request.slice_axis}", flush=True)
    result = reconstruct_arrays(volume, request, reference=reference, fastmri_file=args.fastmri, progress=_progress)
    report = {"metrics": result.metrics, "acceleration": result.acceleration, "seconds": result.seconds,
              "trust_method": result.trust_method, "trust_error": result.trust_error}  # fmt: skip
    if result.trust_error:
        print(result.trust_error, flush=True)
    with AtomicFiles() as files:  # the outputs, checked and renamed together
        write_volume(result.reconstruction, geometry, os.path.join(args.output_dir, RECONSTRUCTION_FILE), files)
        write_volume(result.zero_filled, geometry, os.path.join(args.output_dir, ZERO_FILLED_FILE), files)
        if result.trust is not None:
            write_volume(result.trust, geometry, os.path.join(args.output_dir, TRUST_FILE), files)
        write_json(os.path.join(args.output_dir, METRICS_FILE), report, files=files)
    print(f"done in {result.seconds:.1f} s", flush=True)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point; returns the exit status (0 success, 2 a reported error)."""
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    try:
        run(args)
    except (ImportError, OSError, ValueError, RuntimeError, KeyError) as err:
        message = " ".join(str(err).split()) or type(err).__name__
        print(f"{ERROR_TAG} {type(err).__name__}: {message}", flush=True)
        return 2
    print(f"worker finished in {time.perf_counter() - start:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
