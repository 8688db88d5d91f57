"""End to end in this process: a volume node with oblique, anisotropic, left-handed geometry -> the shipped bundle
-> output nodes with the identical IJK-to-RAS and parent transform, PSNR above zero-filling, linked views."""

import numpy as np
import pytest
from mrml_support import oblique_ijk_to_ras, skip_without_mrml

skip_without_mrml()

import slicer  # noqa: E402

from CHPNetReconLib.axes import from_slices, to_slices  # noqa: E402
from CHPNetReconLib.errors import ParameterError, ShapeMismatchError, UnsupportedVolumeError  # noqa: E402
from CHPNetReconLib.logic import ReconstructionLogic  # noqa: E402
from CHPNetReconLib.reconstruction import ReconstructionRequest  # noqa: E402
from CHPNetReconLib.volumes import ijk_to_ras, voxel_array  # noqa: E402


def test_reconstruction_keeps_geometry_and_beats_zero_filling(scene, input_node, network):
    transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    input_node.SetAndObserveTransformNodeID(transform.GetID())
    steps = []
    outcome = ReconstructionLogic(scene).reconstruct(
        input_node,
        ReconstructionRequest(acceleration=4.0),
        progress=lambda done, total: steps.append((done, total)),
    )
    for node in (outcome.reconstruction, outcome.zero_filled):
        np.testing.assert_array_equal(ijk_to_ras(node), oblique_ijk_to_ras())  # exactly, not approximately
        assert node.GetTransformNodeID() == transform.GetID()
        assert slicer.util.arrayFromVolume(node).shape == (4, 160, 200)
    m = outcome.metrics
    assert m["reconstruction"]["psnr"] > m["zero_filled"]["psnr"] + 1.0
    assert m["reconstruction"]["ssim"] > m["zero_filled"]["ssim"]
    assert outcome.reference is input_node  # a fully-sampled input is its own reference
    assert steps[-1] == (4, 4) and outcome.acceleration > 3.0
    assert outcome.reconstruction.GetName() == "T1 CHPNet 4x" and outcome.zero_filled.GetName() == "T1 zero-filled 4x"
    assert "PSNR" in outcome.summary() and "reconstruction" in outcome.summary()


@pytest.mark.parametrize("axis", ["K", "J", "I"])
def test_every_slice_axis_equals_monai_chpnet_on_the_reordered_volume(scene, input_node, network, axis):
    """The library adds nothing but the axis re-ordering to monai_chpnet.inference.reconstruct_volume."""
    from monai_chpnet.inference import reconstruct_volume

    request = ReconstructionRequest(acceleration=4.0, slice_axis=axis, seed=5)
    outcome = ReconstructionLogic(scene).reconstruct(input_node, request, show=False)
    direct = reconstruct_volume(to_slices(voxel_array(input_node), axis), network, 4.0, seed=5)
    np.testing.assert_allclose(
        slicer.util.arrayFromVolume(outcome.reconstruction),
        from_slices(direct.reconstruction, axis),
        rtol=1e-5,
        atol=1e-3,
    )
    np.testing.assert_array_equal(ijk_to_ras(outcome.reconstruction), oblique_ijk_to_ras())
    assert outcome.metrics["reconstruction"]["psnr"] == pytest.approx(
        direct.metrics["reconstruction"]["psnr"], abs=1e-4
    )


def test_user_reference_gives_the_metrics(scene, make_volume, sample_voxels, network):
    """An already-undersampled input has no metrics of its own; a chosen reference volume gives them."""
    from monai_chpnet.inference import reconstruct_volume
    from monai_chpnet.metrics import psnr

    undersampled = reconstruct_volume(sample_voxels.astype(np.float32), None, 4.0, seed=1).zero_filled
    input_node = make_volume(undersampled, "Undersampled")
    reference = make_volume(sample_voxels, "Fully sampled")
    logic = ReconstructionLogic(scene)
    bare = logic.reconstruct(input_node, ReconstructionRequest(simulate=False), show=False)
    assert bare.metrics == {} and bare.reference is None and "no reference" in bare.summary()
    outcome = logic.reconstruct(input_node, ReconstructionRequest(simulate=False), reference_node=reference)
    assert outcome.reference is reference
    recon = slicer.util.arrayFromVolume(outcome.reconstruction)
    assert outcome.metrics["reconstruction"]["psnr"] == pytest.approx(
        psnr(sample_voxels.astype(np.float32), recon), abs=1e-4
    )
    assert set(outcome.metrics) == {"zero_filled", "reconstruction"}
    # the acquisition's mask (4x, seed 1) lets data consistency keep the measured columns: better than the input
    acquired = logic.reconstruct(input_node, ReconstructionRequest(simulate=False, seed=1), reference_node=reference)
    assert acquired.metrics["reconstruction"]["psnr"] > acquired.metrics["zero_filled"]["psnr"]


def test_output_nodes_are_reused(scene, input_node, network):
    logic = ReconstructionLogic(scene)
    first = logic.reconstruct(input_node, ReconstructionRequest(), show=False)
    count = scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode")
    second = logic.reconstruct(
        input_node,
        ReconstructionRequest(acceleration=8.0),
        output_node=first.reconstruction,
        zero_filled_node=first.zero_filled,
        show=False,
    )
    assert second.reconstruction is first.reconstruction and second.zero_filled is first.zero_filled
    assert scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode") == count
    assert second.acceleration > 6.0


def test_bad_inputs_raise_before_any_work(scene, input_node, make_volume):
    logic = ReconstructionLogic(scene)
    with pytest.raises(ParameterError, match="acceleration"):
        logic.reconstruct(input_node, ReconstructionRequest(acceleration=32))
    with pytest.raises(ParameterError, match="'T1'.*also an input"):
        logic.reconstruct(input_node, ReconstructionRequest(), output_node=input_node)
    other = make_volume(np.zeros((4, 160, 199)), "Other grid")
    with pytest.raises(ShapeMismatchError, match="'Other grid'.*\\(4, 160, 199\\).*'T1'.*\\(4, 160, 200\\)"):
        logic.reconstruct(input_node, ReconstructionRequest(), reference_node=other)
    flat = make_volume(np.ones((3, 1, 50)), "Flat")
    with pytest.raises(UnsupportedVolumeError, match="at least 2 x 2"):
        logic.reconstruct(flat, ReconstructionRequest(slice_axis="K"))
    blank = make_volume(np.zeros((2, 16, 16)), "Blank")
    with pytest.raises(ValueError, match="all zero"):  # monai_chpnet.inference's own check
        logic.reconstruct(blank, ReconstructionRequest())
    assert scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode") == 4  # no output node was created


def test_the_library_imports_neither_torch_nor_monai_chpnet():
    """Loading the module's logic must stay light: torch / MONAI are imported only when reconstructing."""
    import subprocess
    import sys

    from mrml_support import MODULE_DIR

    code = (
        "import sys; sys.path.insert(0, %r)\n"
        "import CHPNetReconLib.logic, CHPNetReconLib.background, CHPNetReconLib.views, CHPNetReconLib.fastmri\n"
        "heavy = sorted(m for m in ('torch', 'monai', 'monai_chpnet', 'h5py') if m in sys.modules)\n"
        "assert not heavy, heavy\n" % str(MODULE_DIR)
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_logic_can_sit_beside_a_cooperative_scripted_module_logic(scene):
    """Slicer's ScriptedLoadableModuleLogic.__init__ calls super().__init__(): the module's
    CHPNetReconLogic(ScriptedLoadableModuleLogic, ReconstructionLogic) must survive that."""

    class CooperativeBase:  # what ScriptedLoadableModuleLogic does
        def __init__(self, parent=None):
            super().__init__()
            self.moduleName = "CHPNetRecon"

    class ModuleLogic(CooperativeBase, ReconstructionLogic):
        def __init__(self):
            CooperativeBase.__init__(self)
            ReconstructionLogic.__init__(self, scene)

    logic = ModuleLogic()
    assert logic.scene is scene and logic.moduleName == "CHPNetRecon"
    if not hasattr(slicer, "mrmlScene"):
        with pytest.raises(RuntimeError, match="no MRML scene"):
            ReconstructionLogic().scene
