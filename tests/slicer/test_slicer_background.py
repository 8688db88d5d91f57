"""The background-process mode: the worker runs in a separate Python (as PythonSlicer does inside Slicer), reports
progress, can be cancelled, fails with the worker's own message, and writes back exactly the in-process result."""

import os
import sys

import numpy as np
import pytest
from mrml_support import oblique_ijk_to_ras, skip_without_mrml

skip_without_mrml()

import slicer  # noqa: E402

from CHPNetReconLib.background import BackgroundReconstruction, JobState  # noqa: E402
from CHPNetReconLib.errors import ReconstructionCancelledError, ReconstructionFailedError  # noqa: E402
from CHPNetReconLib.logic import ReconstructionLogic  # noqa: E402
from CHPNetReconLib.reconstruction import ReconstructionRequest  # noqa: E402
from CHPNetReconLib.volumes import ijk_to_ras  # noqa: E402

TIMEOUT = 240  # seconds; a worker start (Python + torch import) takes about 5 s on 2 CPU cores
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}


def test_background_equals_in_process_with_identical_geometry(scene, input_node, network):
    logic = ReconstructionLogic(scene)
    request = ReconstructionRequest(acceleration=4.0, slice_axis="J", seed=2, threads=1)
    job = logic.start_background(input_node, request, env=ONE_THREAD)
    assert os.path.isfile(os.path.join(job.temp_dir, "input.nrrd"))
    seen = [job.poll()]
    status = job.wait(TIMEOUT)
    assert status.state is JobState.SUCCEEDED, job.log
    final = job.poll()
    assert 100 < final.done == final.total <= 160 and final.percent == 100  # non-blank slices along J
    outcome = job.finish()
    assert not os.path.exists(job.temp_dir)  # temporary files are removed
    assert seen[0].state is JobState.RUNNING
    np.testing.assert_array_equal(ijk_to_ras(outcome.reconstruction), oblique_ijk_to_ras())
    in_process = logic.reconstruct(input_node, request, show=False)
    expected = slicer.util.arrayFromVolume(in_process.reconstruction)
    # another process, other thread count: float32 summation order differs (0.1 % of the data range is plenty)
    np.testing.assert_allclose(
        slicer.util.arrayFromVolume(outcome.reconstruction), expected, rtol=1e-4, atol=1e-3 * float(expected.max())
    )
    np.testing.assert_array_equal(
        slicer.util.arrayFromVolume(outcome.zero_filled), slicer.util.arrayFromVolume(in_process.zero_filled)
    )
    assert outcome.metrics["reconstruction"]["psnr"] == pytest.approx(
        in_process.metrics["reconstruction"]["psnr"], abs=1e-3
    )
    assert outcome.metrics["reconstruction"]["psnr"] > outcome.metrics["zero_filled"]["psnr"]
    assert outcome.reference is input_node


def test_background_reference_volume_is_sent_to_the_worker(scene, make_volume, sample_voxels, network):
    from monai_chpnet.inference import reconstruct_volume
    from monai_chpnet.metrics import psnr

    undersampled = reconstruct_volume(sample_voxels.astype(np.float32), None, 4.0, seed=1).zero_filled
    input_node, reference = make_volume(undersampled, "Undersampled"), make_volume(sample_voxels, "Reference")
    job = ReconstructionLogic(scene).start_background(
        input_node, ReconstructionRequest(simulate=False, threads=1), reference_node=reference, env=ONE_THREAD
    )
    assert os.path.isfile(os.path.join(job.temp_dir, "reference.nrrd"))
    job.wait(TIMEOUT)
    outcome = job.finish()
    assert outcome.reference is reference
    truth = sample_voxels.astype(np.float32)
    for method, node in (("reconstruction", outcome.reconstruction), ("zero_filled", outcome.zero_filled)):
        expected = psnr(truth, slicer.util.arrayFromVolume(node))
        assert outcome.metrics[method]["psnr"] == pytest.approx(expected, abs=1e-3)


def test_cancel_terminates_the_worker(scene, input_node):
    job = ReconstructionLogic(scene).start_background(input_node, ReconstructionRequest(threads=1), env=ONE_THREAD)
    with pytest.raises(RuntimeError, match="still running"):
        job.finish()  # too early: the files stay for the worker
    assert os.path.isdir(job.temp_dir)
    job.cancel()
    status = job.wait(60)
    assert status.state is JobState.CANCELLED
    assert job.process._process.returncode != 0
    with pytest.raises(ReconstructionCancelledError):
        job.finish()
    assert not os.path.exists(job.temp_dir)
    assert scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode") == 1  # nothing was written back


def test_worker_errors_surface_with_their_message(scene, input_node, tmp_path):
    """A failing worker (here: a fastMRI file that is gone) -> FAILED, and finish() raises with its message."""
    input_node.SetAttribute("CHPNetRecon.FastMRIFile", str(tmp_path / "deleted.h5"))
    job = ReconstructionLogic(scene).start_background(input_node, ReconstructionRequest(threads=1), env=ONE_THREAD)
    status = job.wait(TIMEOUT)
    assert status.state is JobState.FAILED
    assert "FileNotFoundError" in job.process.error_message and "deleted.h5" in job.process.error_message
    with pytest.raises(ReconstructionFailedError, match="deleted.h5"):
        job.finish()


def test_unknown_executable_is_a_clear_error(tmp_path):
    process = BackgroundReconstruction(
        tmp_path / "in.nrrd",
        tmp_path / "out",
        ReconstructionRequest(),
        python_executable=str(tmp_path / "no-such-python"),
    )
    with pytest.raises(ReconstructionFailedError, match="cannot start .*no-such-python"):
        process.start()


def test_command_and_environment_reach_the_library(tmp_path):
    process = BackgroundReconstruction(
        tmp_path / "in.nrrd",
        tmp_path / "out",
        ReconstructionRequest(slice_axis="I"),
        reference_file=tmp_path / "ref.nrrd",
        python_paths=["/opt/checkout"],
        env={"PYTHONPATH": "/inherited"},
    )
    cmd = process.command()
    assert cmd[:3] == [sys.executable, "-m", "CHPNetReconLib.worker"]
    assert cmd[cmd.index("--reference") + 1] == str(tmp_path / "ref.nrrd")
    assert '"slice_axis": "I"' in cmd[cmd.index("--request") + 1]
    paths = process.environment()["PYTHONPATH"].split(os.pathsep)
    assert paths[1:] == ["/opt/checkout", "/inherited"] and paths[0].endswith("CHPNetRecon")
