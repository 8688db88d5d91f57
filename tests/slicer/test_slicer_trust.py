"""The trust overlay against real MRML: computed with the reconstruction (in process and in the worker), shown over it
in the middle view with its own colour table, and a missing teacher named without losing the reconstruction."""

import os
import shutil

import numpy as np
import pytest
from mrml_support import ROOT, oblique_ijk_to_ras, skip_without_mrml

skip_without_mrml()

import slicer  # noqa: E402

from CHPNetReconLib.background import JobState  # noqa: E402
from CHPNetReconLib.errors import ParameterError  # noqa: E402
from CHPNetReconLib.logic import ReconstructionLogic  # noqa: E402
from CHPNetReconLib.reconstruction import TRUST_METHODS, ReconstructionRequest  # noqa: E402
from CHPNetReconLib.views import TRUST_COLOR_NAME, show_trust_overlay, trust_color_node  # noqa: E402
from CHPNetReconLib.volumes import ijk_to_ras  # noqa: E402

ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}


def test_the_library_offers_the_core_s_trust_maps():
    from monai_chpnet.inference.trust import TRUST_METHODS as CORE

    assert TRUST_METHODS == CORE
    with pytest.raises(ParameterError, match="trust map must be one of"):
        ReconstructionRequest(trust="entropy").validated()


def test_teacher_map_is_overlaid_on_the_reconstruction_with_its_colour_table(scene, input_node, network):
    outcome = ReconstructionLogic(scene).reconstruct(
        input_node, ReconstructionRequest(acceleration=4.0, trust="teacher")
    )
    trust = outcome.trust
    assert trust is not None and trust.GetName() == "T1 CHPNet trust (teacher) 4x"
    np.testing.assert_array_equal(ijk_to_ras(trust), oblique_ijk_to_ras())
    values = slicer.util.arrayFromVolume(trust)
    assert values.shape == slicer.util.arrayFromVolume(outcome.reconstruction).shape
    assert values.min() >= 0.0 and values.max() == pytest.approx(1.0)
    display = trust.GetDisplayNode()
    colors = scene.GetNodeByID(display.GetColorNodeID())
    assert colors.GetName() == TRUST_COLOR_NAME and colors.GetNumberOfColors() == 256
    low, high = [0.0] * 4, [0.0] * 4
    colors.GetColor(0, low)
    colors.GetColor(255, high)
    assert low == [0.0, 0.0, 0.0, 0.0] and high == [1.0, 1.0, 0.0, 1.0]  # transparent -> opaque yellow
    assert (display.GetWindow(), display.GetLevel()) == (1.0, 0.5)
    composite = next(
        scene.GetNthNodeByClass(i, "vtkMRMLSliceCompositeNode")
        for i in range(scene.GetNumberOfNodesByClass("vtkMRMLSliceCompositeNode"))
        if scene.GetNthNodeByClass(i, "vtkMRMLSliceCompositeNode").GetLayoutName() == "Yellow"
    )
    assert composite.GetBackgroundVolumeID() == outcome.reconstruction.GetID()
    assert composite.GetForegroundVolumeID() == trust.GetID() and composite.GetForegroundOpacity() == 0.5
    assert "trust map" in outcome.summary()
    # the panel's slider sets the opacity; the colour table is made once per scene
    show_trust_overlay(scene, trust, opacity=0.8)
    assert composite.GetForegroundOpacity() == pytest.approx(0.8) and trust_color_node(scene) is colors
    # a second run with the same setting replaces the map instead of adding another node
    again = ReconstructionLogic(scene).reconstruct(input_node, ReconstructionRequest(acceleration=4.0, trust="teacher"))
    assert again.trust is trust and scene.GetNodesByName(trust.GetName()).GetNumberOfItems() == 1


def test_the_worker_returns_the_same_map(scene, input_node, network):
    logic = ReconstructionLogic(scene)
    request = ReconstructionRequest(acceleration=4.0, trust="correction", threads=1)
    job = logic.start_background(input_node, request, env=ONE_THREAD, show=False)
    assert job.wait(240).state is JobState.SUCCEEDED, job.log
    outcome = job.finish()
    in_process = logic.reconstruct(input_node, request, show=False)
    np.testing.assert_allclose(
        slicer.util.arrayFromVolume(outcome.trust), slicer.util.arrayFromVolume(in_process.trust), atol=2e-3
    )


def test_a_missing_teacher_is_named_and_the_reconstruction_still_made(scene, input_node, network, tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(ROOT / "bundles" / "chpnet_mri_recon" / "configs", bundle / "configs")
    (bundle / "models").mkdir()
    shutil.copy(ROOT / "bundles" / "chpnet_mri_recon" / "models" / "model.pt", bundle / "models" / "model.pt")
    request = ReconstructionRequest(acceleration=4.0, trust="teacher", bundle_dir=str(bundle))
    outcome = ReconstructionLogic(scene).reconstruct(input_node, request, show=False)
    assert outcome.trust is None and "teacher.pt" in outcome.trust_error
    assert outcome.metrics["reconstruction"]["psnr"] > outcome.metrics["zero_filled"]["psnr"]
    assert outcome.trust_error in outcome.summary()
