"""The one reconstruction core: an image volume or fastMRI k-space in, a reconstruction (+ metrics, files) out.

The bundle's ``inference.json``, the command line, the 3D Slicer module and the MONAI Label task all call this
package; none of them re-implements pre- or post-processing. One module per concern:

* :mod:`.settings`        :class:`ReconSettings`, every setting of a reconstruction, checked once;
* :mod:`.loading`         the network: weights loaded strictly, or the student as the bundle builds it;
* :mod:`.inputs`          reading and checking a file: image volume (with geometry) or fastMRI k-space;
* :mod:`.streaming`       the volume through the network slice batch by slice batch;
* :mod:`.results`         what a reconstruction gives: volumes, mask, metrics against the reference, timings;
* :mod:`.reconstruction`  ``reconstruct_volume`` / ``reconstruct_fastmri`` / ``reconstruct_file``;
* :mod:`.outputs`         checks before any work, and the NIfTI + figure + metrics files, written all or none;
* :mod:`.evaluation`      tables over files x networks x accelerations, ``eval/metrics.*``, ``eval_metrics``;
* :mod:`.pipeline`        the same as MONAI components: pre-processing, inferer, post-processing (writers);
* :mod:`.runner`          :class:`FileReconstructor`, a list of files in, their outputs written;
* :mod:`.superres`        super-resolution: slices upsampled x2 / x4, their geometry, the classical baselines;
* :mod:`.sr_files`        super-resolution of a file (prospective or evaluation), its outputs written;
* :mod:`.sr_pipeline`     the same as MONAI components, for the ``chpnet_mri_sr`` bundle and MONAI Label;
* :mod:`.trust`           trust maps: where the student's result should not be believed (on request).

Typical use::

    net = load_network("bundles/chpnet_mri_recon/models/model.pt", preset="small")
    result = reconstruct_file("brain.nii.gz", net, acceleration=4)      # simulated 4x acquisition
    paths = write_outputs(result, "out/")                                # NIfTI + PNG figure + metrics JSON

``network=None`` gives the zero-filled reconstruction (the baseline).
"""

from monai_chpnet.config_utils import install_error_hook
from monai_chpnet.inference.evaluation import (
    ACQUISITIONS,
    evaluate_files,
    metadata_eval_metrics,
    metrics_table,
    update_metadata_metrics,
    write_evaluation,
)
from monai_chpnet.inference.inputs import NEGATIVE_TOLERANCE, ReconInput, check_magnitude_volume, read_input
from monai_chpnet.inference.loading import BUNDLE_ENV, default_bundle_dir, load_bundle_network, load_network
from monai_chpnet.inference.outputs import (
    check_output_dir,
    check_stem,
    output_geometry,
    output_paths,
    output_stem,
    plan_outputs,
    result_report,
    write_outputs,
)
from monai_chpnet.inference.pipeline import (
    KspaceInferer,
    LoadReconInputd,
    ReconOutputsd,
    SaveReconOutputsd,
    ToImageLayoutd,
    batch_of_one,
)
from monai_chpnet.inference.reconstruction import reconstruct_fastmri, reconstruct_file, reconstruct_volume
from monai_chpnet.inference.runner import FileReconstructor
from monai_chpnet.inference.sr_files import SuperResolutionResult, super_resolve_file, write_sr_outputs
from monai_chpnet.inference.sr_pipeline import LoadSRInputd, SaveSROutputsd, SRInferer, SROutputsd
from monai_chpnet.inference.superres import load_sr_network, sr_weights_name, super_resolve_slices, upsampled_geometry
from monai_chpnet.inference.settings import ReconSettings, SettingsError, check_device
from monai_chpnet.inference.results import Progress, ReconstructionResult, reference_metrics
from monai_chpnet.inference.streaming import reconstruct_input, stream_slices
from monai_chpnet.inference.trust import DEFAULT_SR_TRUST, DEFAULT_TRUST, TRUST_METHODS, TrustMap
from monai_chpnet.transforms.recipes import kspace_transform, simulation_transform

__all__ = [
    "ACQUISITIONS",
    "DEFAULT_SR_TRUST",
    "DEFAULT_TRUST",
    "TRUST_METHODS",
    "TrustMap",
    "BUNDLE_ENV",
    "FileReconstructor",
    "LoadSRInputd",
    "SRInferer",
    "SROutputsd",
    "SaveSROutputsd",
    "SuperResolutionResult",
    "KspaceInferer",
    "LoadReconInputd",
    "NEGATIVE_TOLERANCE",
    "Progress",
    "ReconInput",
    "ReconOutputsd",
    "ReconSettings",
    "ReconstructionResult",
    "SaveReconOutputsd",
    "SettingsError",
    "ToImageLayoutd",
    "batch_of_one",
    "check_device",
    "check_magnitude_volume",
    "check_output_dir",
    "check_stem",
    "default_bundle_dir",
    "evaluate_files",
    "install_error_hook",
    "kspace_transform",
    "load_bundle_network",
    "load_network",
    "metadata_eval_metrics",
    "metrics_table",
    "output_geometry",
    "output_paths",
    "output_stem",
    "plan_outputs",
    "read_input",
    "reconstruct_fastmri",
    "reconstruct_file",
    "reconstruct_input",
    "reconstruct_volume",
    "reference_metrics",
    "result_report",
    "simulation_transform",
    "stream_slices",
    "super_resolve_file",
    "super_resolve_slices",
    "load_sr_network",
    "sr_weights_name",
    "upsampled_geometry",
    "write_sr_outputs",
    "update_metadata_metrics",
    "write_evaluation",
    "write_outputs",
]
