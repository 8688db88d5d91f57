"""fastMRI .h5 files: loaded as volume nodes, reconstructed from their own k-space (in process and in background)."""

import os

import numpy as np
import pytest
from mrml_support import skip_without_mrml

skip_without_mrml()

import slicer  # noqa: E402

from CHPNetReconLib.errors import UnsupportedVolumeError  # noqa: E402
from CHPNetReconLib.fastmri import FASTMRI_FILE_ATTRIBUTE, fastmri_source, is_fastmri_file  # noqa: E402
from CHPNetReconLib.logic import ReconstructionLogic  # noqa: E402
from CHPNetReconLib.reconstruction import ReconstructionRequest  # noqa: E402
from CHPNetReconLib.volumes import ijk_to_ras  # noqa: E402


@pytest.fixture(scope="module")
def fastmri_file(tmp_path_factory, sample_voxels):
    from monai_chpnet.data.synthetic import write_fastmri_h5

    path = tmp_path_factory.mktemp("fastmri") / "file_brain_sample.h5"
    return write_fastmri_h5(path, sample_voxels[1:3].astype(np.float32), kspace_shape=(192, 224), recon_size=(160, 160))


def test_fastmri_files_are_recognised(tmp_path, fastmri_file):
    import h5py

    assert is_fastmri_file(fastmri_file)
    (tmp_path / "other.h5").write_bytes(b"")
    with h5py.File(tmp_path / "images.h5", "w") as f:
        f["data"] = np.zeros(3)
    assert not is_fastmri_file(tmp_path / "images.h5")  # HDF5 without k-space
    assert not is_fastmri_file(tmp_path / "other.h5")  # not HDF5 at all
    assert not is_fastmri_file(tmp_path / "missing.h5")


def test_loaded_node_holds_the_files_target_image(scene, fastmri_file):
    import h5py

    node = ReconstructionLogic(scene).load_fastmri(str(fastmri_file))
    with h5py.File(fastmri_file, "r") as f:
        target = f["reconstruction_esc"][()]
    np.testing.assert_allclose(slicer.util.arrayFromVolume(node), target, rtol=1e-6)
    assert node.GetName() == "file_brain_sample"
    assert fastmri_source(node) == str(fastmri_file.resolve()) == node.GetAttribute(FASTMRI_FILE_ATTRIBUTE)
    np.testing.assert_array_equal(ijk_to_ras(node), np.diag([-1.0, -1.0, 1.0, 1.0]))


def test_fastmri_node_reconstructs_from_its_kspace(scene, fastmri_file, network):
    from monai_chpnet.inference import reconstruct_file

    logic = ReconstructionLogic(scene)
    node = logic.load_fastmri(str(fastmri_file))
    outcome = logic.reconstruct(node, ReconstructionRequest(acceleration=4.0))
    direct = reconstruct_file(fastmri_file, network, acceleration=4.0)
    np.testing.assert_allclose(
        slicer.util.arrayFromVolume(outcome.reconstruction), direct.reconstruction, rtol=1e-5, atol=1e-4
    )
    assert outcome.metrics["reconstruction"]["psnr"] == pytest.approx(
        direct.metrics["reconstruction"]["psnr"], abs=1e-4
    )
    assert outcome.reference is node
    with pytest.raises(UnsupportedVolumeError, match="choose slice axis K"):
        logic.reconstruct(node, ReconstructionRequest(slice_axis="J"))


def test_fastmri_node_in_background(scene, fastmri_file, network):
    logic = ReconstructionLogic(scene)
    node = logic.load_fastmri(str(fastmri_file))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    job = logic.start_background(node, ReconstructionRequest(acceleration=8.0, threads=1), env=env)
    assert "--fastmri" in job.process.command()
    job.wait(240)
    outcome = job.finish()
    in_process = logic.reconstruct(node, ReconstructionRequest(acceleration=8.0), show=False)
    expected = slicer.util.arrayFromVolume(in_process.reconstruction)
    # another process, other thread count: float32 summation order differs (0.1 % of the data range is plenty)
    np.testing.assert_allclose(
        slicer.util.arrayFromVolume(outcome.reconstruction), expected, rtol=1e-4, atol=1e-3 * float(expected.max())
    )
