"""CHPNetRecon: reconstruct undersampled MRI inside 3D Slicer with the monai-chpnet bundle.

The module is a thin Slicer shell over ``CHPNetReconLib`` (plain Python over MRML / VTK / NumPy, tested headlessly):
this file holds only what needs Slicer's application -- the module description, the parameter node, the GUI
(with the ``QTimer`` that polls a background reconstruction), first-use installation of the Python dependencies,
a file reader for fastMRI ``.h5`` files, and the in-Slicer test.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from typing import Annotated, Optional

import qt
import slicer
import vtk
from slicer import vtkMRMLScalarVolumeNode
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

from CHPNetReconLib import dependencies
from CHPNetReconLib.axes import SLICE_AXES
from CHPNetReconLib.errors import ParameterError, ReconstructionCancelledError, UnsupportedVolumeError
from CHPNetReconLib.fastmri import is_fastmri_file
from CHPNetReconLib.logic import BackgroundJob, ReconstructionLogic, ReconstructionOutcome
from CHPNetReconLib.reconstruction import ACCELERATION_RANGE, MASK_TYPES, TRUST_METHODS, ReconstructionRequest
from CHPNetReconLib.superresolution import SR_DEGRADATIONS, SR_SCALES, SuperResolutionLogic, SuperResolutionRequest
from CHPNetReconLib.views import COMPARISON_LAYOUT_ID, TRUST_LEGEND, show_comparison, show_trust_overlay
from CHPNetReconLib.volumes import ijk_to_ras

#
# CHPNetRecon
#


class CHPNetRecon(ScriptedLoadableModule):
    """Module description (see ``ScriptedLoadableModule``)."""

    def __init__(self, parent) -> None:
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("CHPNet MRI Reconstruction")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Reconstruction")]
        self.parent.dependencies = []
        self.parent.contributors = ["The monai-chpnet developers"]
        self.parent.helpText = _("""
Reconstructs undersampled MRI with the <b>chpnet_mri_recon</b> MONAI bundle of monai-chpnet: a lightweight CNN
student distilled from a Swin-Transformer teacher. Pick a volume (or load a fastMRI <tt>.h5</tt> file), an
acceleration and a slice axis, press <b>Apply</b>: the zero-filled input, the reconstruction and the reference are
shown side by side in linked views, with PSNR / SSIM / NMSE when a reference exists. Runs in a background process
by default (Slicer stays responsive; Cancel stops it).
Documentation: <tt>slicer_extension/README.md</tt> in the monai-chpnet repository. The shipped weights were trained
for about two hours on a CPU, from sample data only: read the bundle's model card
(<tt>bundles/chpnet_mri_recon/docs/README.md</tt>) before any use, and never use them for diagnosis.
""")
        self.parent.acknowledgementText = _("""
Implements <i>A good teacher learns while teaching: heterogeneous architectural knowledge distillation for fast MRI
reconstruction</i> (Qiu, Zhang, Li, Knowledge-Based Systems 311, 2025) on MONAI and PyTorch-Ignite. The background
process follows SlicerMONAIAuto3DSeg (A. Lasso et al.). Licence: Apache-2.0.
""")


#
# Dependencies (first use only, never at import time)
#


def ensureDependencies() -> bool:
    """Make ``monai_chpnet`` importable and install ``Resources/requirements.txt`` if anything is missing.

    Uses ``slicer.packaging.pip_ensure`` (confirmation, progress, restart prompt) where Slicer has it, else asks
    and calls ``slicer.util.pip_install``.

    Returns:
        ``False`` if the user declined (or the installation left something missing).

    Raises:
        ImportError: the packages are there but ``monai_chpnet`` itself is not (no checkout found).
    """
    dependencies.ensure_source_on_path()
    requirements = dependencies.read_requirements()
    missing = dependencies.missing_requirements(requirements)
    if missing:
        try:
            import slicer.packaging as slicerPackaging
        except ImportError:  # Slicer releases before slicer.packaging
            slicerPackaging = None
        if slicerPackaging is not None:
            slicerPackaging.pip_ensure(
                slicerPackaging.load_requirements(str(dependencies.REQUIREMENTS_FILE)), requester="CHPNetRecon"
            )
        else:
            question = _(
                "CHPNet MRI Reconstruction needs these Python packages; download and install them now "
                "(this can take several minutes)?\n\n{packages}"
            ).format(packages="\n".join(missing))
            if not slicer.util.confirmOkCancelDisplay(question, windowTitle=_("Install Python packages")):
                return False
            slicer.util.pip_install(missing)
        if dependencies.missing_requirements(requirements):
            return False
    if not dependencies.monai_chpnet_importable():
        raise ImportError(
            _(
                "monai_chpnet was not found: install monai-chpnet into Slicer's Python, or set "
                "{env} to a monai-chpnet checkout."
            ).format(env=dependencies.SOURCE_ENV)
        )
    return True


def pythonSlicerExecutable() -> str:
    """The ``PythonSlicer`` launcher that runs the background worker with Slicer's Python and packages."""
    path = shutil.which("PythonSlicer")
    if not path:
        raise RuntimeError(_("PythonSlicer was not found next to Slicer; uncheck 'Run in background'."))
    return path


#
# CHPNetReconParameterNode
#


@parameterNodeWrapper
class CHPNetReconParameterNode:
    """What the GUI shows, saved with the scene.

    inputVolume - the volume to reconstruct (fully sampled when ``simulateUndersampling``).
    referenceVolume - optional fully-sampled volume on the input's grid, for the metrics.
    outputVolume, zeroFilledVolume - outputs (created on Apply when empty).
    simulateUndersampling - undersample the input retrospectively (else it is already undersampled).
    acceleration, maskType, seed - the simulated acquisition.
    sliceAxis - voxel axis (K, J or I) the 2-D network slices along.
    runInBackground - reconstruct in a PythonSlicer process (cancellable) instead of in Slicer's.
    device - torch device.
    trustMap - the trust map computed with the reconstruction and shown over it ("none": none).
    trustOpacity - its opacity over the reconstruction.
    task - "reconstruction", or "super-resolution" of a low-resolution input (in this process).
    srScale, srDegradation - the super-resolution's in-plane factor and how the low-resolution input was made.
    """

    inputVolume: vtkMRMLScalarVolumeNode
    referenceVolume: vtkMRMLScalarVolumeNode
    outputVolume: vtkMRMLScalarVolumeNode
    zeroFilledVolume: vtkMRMLScalarVolumeNode
    simulateUndersampling: bool = True
    acceleration: Annotated[float, WithinRange(*ACCELERATION_RANGE)] = 4.0
    maskType: Annotated[str, Choice(list(MASK_TYPES))] = "random"
    sliceAxis: Annotated[str, Choice(list(SLICE_AXES))] = "K"
    seed: Annotated[int, WithinRange(0, 999999)] = 0
    runInBackground: bool = True
    device: Annotated[str, Choice(["cpu", "cuda"])] = "cpu"
    trustMap: Annotated[str, Choice(["none", *TRUST_METHODS])] = "none"
    trustOpacity: Annotated[float, WithinRange(0.0, 1.0)] = 0.5
    task: Annotated[str, Choice(["reconstruction", "super-resolution"])] = "reconstruction"
    srScale: Annotated[str, Choice([str(s) for s in SR_SCALES])] = "2"
    srDegradation: Annotated[str, Choice(list(SR_DEGRADATIONS))] = "kspace"


#
# CHPNetReconWidget
#


class CHPNetReconWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """The module panel (see ``Resources/UI/CHPNetRecon.ui``)."""

    POLL_INTERVAL_MS = 250

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic: Optional[CHPNetReconLogic] = None
        self._parameterNode: Optional[CHPNetReconParameterNode] = None
        self._parameterNodeGuiTag = None
        self._job: Optional[BackgroundJob] = None
        self._pollTimer = qt.QTimer()
        self._pollTimer.setInterval(self.POLL_INTERVAL_MS)
        self._pollTimer.timeout.connect(self._pollJob)

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/CHPNetRecon.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = CHPNetReconLogic()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.cancelButton.connect("clicked(bool)", self.onCancelButton)
        self.ui.loadFastMRIButton.connect("clicked(bool)", self.onLoadFastMRIButton)
        self.ui.simulateCheckBox.connect("toggled(bool)", self._updateSimulationWidgets)
        self.ui.trustOpacitySliderWidget.connect("valueChanged(double)", self._onTrustOpacity)
        self.ui.trustLegendLabel.text = TRUST_LEGEND
        self.initializeParameterNode()

    def cleanup(self) -> None:
        """Called when the application closes: stop a running reconstruction."""
        self._pollTimer.stop()
        if self._job is not None:
            self._job.cancel()
            self._job.cleanup()
            self._job = None
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        """Observe the module's parameter node; pick the first volume as input to save a click."""
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.inputVolume:
            firstVolumeNode = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
            if firstVolumeNode:
                self._parameterNode.inputVolume = firstVolumeNode

    def setParameterNode(self, inputParameterNode: Optional[CHPNetReconParameterNode]) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            # widgets with the "SlicerParameterName" property in the .ui file are bound to the parameter node
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)
            self._checkCanApply()
            self._updateSimulationWidgets()

    def _checkCanApply(self, caller=None, event=None) -> None:
        running = self._job is not None
        canApply = bool(self._parameterNode and self._parameterNode.inputVolume) and not running
        self.ui.applyButton.enabled = canApply
        self.ui.applyButton.toolTip = (
            _("Reconstruct the input and show zero-filled | reconstruction | reference")
            if canApply
            else _("Select an input volume")
        )
        self.ui.cancelButton.enabled = running

    def _updateSimulationWidgets(self, caller=None, event=None) -> None:
        # acceleration, mask and seed describe the simulated acquisition or, for an already-undersampled input,
        # the acquisition it came from (data consistency needs its mask): they stay enabled either way
        simulate = self.ui.simulateCheckBox.checked
        tip = _("of the simulated acquisition") if simulate else _("of the acquisition the input came from")
        for widget in (self.ui.accelerationSliderWidget, self.ui.maskTypeComboBox, self.ui.seedSpinBox):
            widget.enabled = True
            widget.toolTip = tip

    # -- actions -----------------------------------------------------------------------------------------------

    def request(self) -> ReconstructionRequest:
        """The parameters on the panel, validated."""
        p = self._parameterNode
        bundle = self.ui.bundlePathLineEdit.currentPath.strip() or None
        return ReconstructionRequest(
            acceleration=float(p.acceleration),
            simulate=p.simulateUndersampling,
            mask_type=p.maskType,
            seed=int(p.seed),
            slice_axis=p.sliceAxis,
            bundle_dir=bundle,
            device=p.device,
            trust="" if p.trustMap == "none" else p.trustMap,
        ).validated()

    def _superResolve(self) -> None:
        """Upsample the input in this process (a student pass per slice batch) and show the result beside it."""
        p = self._parameterNode
        recon_bundle = self.ui.bundlePathLineEdit.currentPath.strip()
        sr_bundle = (
            os.path.join(os.path.dirname(os.path.normpath(recon_bundle)), "chpnet_mri_sr") if recon_bundle else ""
        )
        request = SuperResolutionRequest(
            scale=int(p.srScale),
            degradation=p.srDegradation,
            slice_axis=p.sliceAxis,
            bundle_dir=sr_bundle if os.path.isdir(sr_bundle) else None,  # beside a chosen reconstruction bundle
            device=p.device,
        ).validated()
        self._setRunning(True, _("Super-resolving..."))
        try:
            node = SuperResolutionLogic(slicer.mrmlScene).super_resolve(p.inputVolume, request)
        finally:
            self._setRunning(False)
        show_comparison(slicer.mrmlScene, (p.inputVolume, node, None), p.sliceAxis)
        seconds = float(node.GetAttribute("CHPNet.seconds") or 0.0)
        self.ui.statusLabel.text = _("Done in {seconds:.1f} s.").format(seconds=seconds)
        self.ui.resultsLabel.text = _("{name}: x{scale} in-plane ({degradation} weights), beside the input").format(
            name=node.GetName(), scale=request.scale, degradation=request.degradation
        )

    def _onTrustOpacity(self, value: float) -> None:
        """The slider moves the overlay's opacity in the view that shows it."""
        composite = slicer.app.layoutManager().sliceWidget("Yellow")
        if composite is not None:
            composite.mrmlSliceCompositeNode().SetForegroundOpacity(value)

    def onApplyButton(self) -> None:
        """Validate, then reconstruct in the background (polled by a timer) or in this process."""
        with slicer.util.tryWithErrorDisplay(_("Reconstruction failed."), waitCursor=True):
            if not ensureDependencies():
                return
            p = self._parameterNode
            if p.task == "super-resolution":
                self._superResolve()
                return
            nodes = dict(
                reference_node=p.referenceVolume, output_node=p.outputVolume, zero_filled_node=p.zeroFilledVolume
            )
            self.ui.resultsLabel.text = ""
            if p.runInBackground:
                self._job = self.logic.start_background(
                    p.inputVolume,
                    self.request(),
                    python_executable=pythonSlicerExecutable(),
                    env=slicer.util.startupEnvironment(),
                    **nodes,
                )
                self._setRunning(True, _("Reconstructing in the background..."))
                self._pollTimer.start()
                return
            self._setRunning(True, _("Reconstructing..."))
            try:
                outcome = self.logic.reconstruct(p.inputVolume, self.request(), progress=self._onProgress, **nodes)
            finally:
                self._setRunning(False)
            self._showOutcome(outcome)

    def onCancelButton(self) -> None:
        if self._job is not None:
            self.ui.statusLabel.text = _("Cancelling...")
            self._job.cancel()

    def onLoadFastMRIButton(self) -> None:
        """Choose a fastMRI single-coil .h5 file and make it the input."""
        path = qt.QFileDialog.getOpenFileName(
            slicer.util.mainWindow(), _("Load fastMRI file"), "", _("fastMRI k-space (*.h5 *.hdf5)")
        )
        if not path:
            return
        with slicer.util.tryWithErrorDisplay(_("Failed to load the fastMRI file."), waitCursor=True):
            if not ensureDependencies():
                return
            node = self.logic.load_fastmri(path)
            self._parameterNode.inputVolume = node
            slicer.util.setSliceViewerLayers(background=node, fit=True)

    # -- progress and results ------------------------------------------------------------------------------

    def _setRunning(self, running: bool, message: str = "") -> None:
        self.ui.progressBar.visible = running
        self.ui.progressBar.value = 0
        if message:
            self.ui.statusLabel.text = message
        self._checkCanApply()
        if running and self._job is None:  # in process: Apply stays disabled until the end
            self.ui.applyButton.enabled = False

    def _onProgress(self, done: int, total: int) -> None:
        if total:
            self.ui.progressBar.maximum = total
            self.ui.progressBar.value = done
        if self._job is None:  # in process: let the GUI repaint between batches
            slicer.app.processEvents()

    def _pollJob(self) -> None:
        """Timer slot: forward the worker's log, show progress, and write back the result once it has finished."""
        job = self._job
        if job is None:
            self._pollTimer.stop()
            return
        status = job.poll()
        for line in status.log:
            logging.info("CHPNetRecon worker: %s", line)
        self._onProgress(status.done, status.total)
        if not status.finished:
            return
        self._pollTimer.stop()
        self._job = None
        self._setRunning(False)
        try:
            outcome = job.finish()
        except ReconstructionCancelledError:
            self.ui.statusLabel.text = _("Cancelled.")
            return
        except Exception as error:  # shown to the user, with the worker's log
            self.ui.statusLabel.text = _("Failed.")
            slicer.util.errorDisplay(
                _("Reconstruction failed: {error}").format(error=error), detailedText="\n".join(job.log)
            )
            return
        self._showOutcome(outcome)

    def _showOutcome(self, outcome: ReconstructionOutcome) -> None:
        self._parameterNode.outputVolume = outcome.reconstruction
        self._parameterNode.zeroFilledVolume = outcome.zero_filled
        self.ui.statusLabel.text = _("Done in {seconds:.1f} s.").format(seconds=outcome.seconds)
        self.ui.resultsLabel.text = outcome.summary()
        slicer.util.resetSliceViews()
        if outcome.trust is not None:
            show_trust_overlay(slicer.mrmlScene, outcome.trust, self._parameterNode.trustOpacity)


#
# CHPNetReconLogic
#


class CHPNetReconLogic(ScriptedLoadableModuleLogic, ReconstructionLogic):
    """Everything the module computes, usable without the GUI (``CHPNetReconLib.logic.ReconstructionLogic`` on
    ``slicer.mrmlScene``), plus the module's parameter node."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        ReconstructionLogic.__init__(self, slicer.mrmlScene)

    def getParameterNode(self) -> CHPNetReconParameterNode:
        return CHPNetReconParameterNode(super().getParameterNode())


#
# CHPNetReconFileReader: drag-and-drop / "Add data" of fastMRI .h5 files
#


class CHPNetReconFileReader:
    """Scripted file reader: fastMRI single-coil ``.h5`` files load as volume nodes that remember their k-space."""

    def __init__(self, parent) -> None:
        self.parent = parent

    def description(self) -> str:
        return _("fastMRI k-space (CHPNetRecon)")

    def fileType(self) -> str:
        return "CHPNetReconFastMRIFile"

    def extensions(self) -> list:
        return [_("fastMRI k-space") + " (*.h5)", _("fastMRI k-space") + " (*.hdf5)"]

    def canLoadFile(self, filePath: str) -> bool:
        return is_fastmri_file(filePath)

    def load(self, properties) -> bool:
        try:
            if not ensureDependencies():
                return False
            node = CHPNetReconLogic().load_fastmri(properties["fileName"], properties.get("name"))
        except Exception as error:
            logging.error("CHPNetRecon: failed to load %s: %s", properties.get("fileName"), error)
            if hasattr(self.parent, "userMessages"):
                self.parent.userMessages().AddMessage(vtk.vtkCommand.ErrorEvent, str(error))
            return False
        self.parent.loadedNodes = [node.GetID()]
        return True


#
# CHPNetReconTest
#


class CHPNetReconTest(ScriptedLoadableModuleTest):
    """End to end inside Slicer, with slicer.util: the shipped sample on an oblique grid, reconstructed in process,
    in a PythonSlicer background process and from the GUI; bad input raises the library's specific errors."""

    def setUp(self) -> None:
        slicer.mrmlScene.Clear()

    def runTest(self) -> None:
        tests = (self.test_InProcess, self.test_Background, self.test_Widget, self.test_WidgetSuperResolution)
        for test in (*tests, self.test_BadInput):
            self.setUp()
            test()

    def _loadSample(self):
        """The shipped MNI T1 slab (20 x 256 x 256, 1 x 1 x 2 mm), rotated 20 degrees: an oblique grid."""
        self.assertTrue(ensureDependencies(), "monai_chpnet and Resources/requirements.txt must be installed")
        import numpy as np
        from monai_chpnet.data.sample import sample_volume_path

        node = slicer.util.loadVolume(str(sample_volume_path()))
        angle = np.deg2rad(20.0)
        rotation = np.eye(4)
        rotation[:2, :2] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
        matrix = rotation @ ijk_to_ras(node)
        node.SetIJKToRASMatrix(slicer.util.vtkMatrixFromArray(matrix))
        return node, matrix

    def _checkOutcome(self, outcome: ReconstructionOutcome, expectedMatrix) -> None:
        import numpy as np

        for node in (outcome.reconstruction, outcome.zero_filled):
            np.testing.assert_array_equal(ijk_to_ras(node), expectedMatrix)
        metrics = outcome.metrics
        self.assertGreater(metrics["reconstruction"]["psnr"], metrics["zero_filled"]["psnr"])
        layoutNode = slicer.app.layoutManager().layoutLogic().GetLayoutNode()
        self.assertEqual(layoutNode.GetViewArrangement(), COMPARISON_LAYOUT_ID)
        self.assertEqual(
            slicer.app.layoutManager()
            .sliceWidget("Yellow")
            .sliceLogic()
            .GetSliceCompositeNode()
            .GetBackgroundVolumeID(),
            outcome.reconstruction.GetID(),
        )

    def test_InProcess(self) -> None:
        self.delayDisplay("Reconstruct in process")
        node, matrix = self._loadSample()
        outcome = CHPNetReconLogic().reconstruct(node, ReconstructionRequest(acceleration=4.0))
        self._checkOutcome(outcome, matrix)
        self.delayDisplay(outcome.summary())

    def test_Background(self) -> None:
        self.delayDisplay("Reconstruct in a background process")
        node, matrix = self._loadSample()
        job = CHPNetReconLogic().start_background(
            node,
            ReconstructionRequest(acceleration=8.0, slice_axis="J"),
            python_executable=pythonSlicerExecutable(),
            env=slicer.util.startupEnvironment(),
        )
        deadline = time.monotonic() + 300
        while not job.poll().finished:
            self.assertLess(time.monotonic(), deadline, "background reconstruction timed out")
            slicer.app.processEvents()
            time.sleep(0.1)
        self._checkOutcome(job.finish(), matrix)

    def _panel(self, node):
        """The module's widget and parameter node, with ``node`` as the input."""
        slicer.util.selectModule("CHPNetRecon")
        widget = slicer.modules.chpnetrecon.widgetRepresentation().self()
        parameterNode = widget.logic.getParameterNode()
        parameterNode.inputVolume = node
        return widget, parameterNode

    def test_Widget(self) -> None:
        self.delayDisplay("Reconstruct from the module panel")
        node, matrix = self._loadSample()
        widget, parameterNode = self._panel(node)
        parameterNode.runInBackground = False
        parameterNode.sliceAxis = "I"
        widget.ui.applyButton.click()
        self.assertIsNotNone(parameterNode.outputVolume)
        import numpy as np

        np.testing.assert_array_equal(ijk_to_ras(parameterNode.outputVolume), matrix)
        self.assertIn("PSNR", widget.ui.resultsLabel.text)

    def test_WidgetSuperResolution(self) -> None:
        self.delayDisplay("Super-resolve x2 from the module panel, with the trust map off")
        node, _ = self._loadSample()
        widget, parameterNode = self._panel(node)
        parameterNode.task = "super-resolution"
        parameterNode.srScale = "2"
        parameterNode.sliceAxis = "K"
        widget.ui.applyButton.click()
        parameterNode.task = "reconstruction"
        result = slicer.mrmlScene.GetFirstNodeByName(f"{node.GetName()} CHPNet x2")
        self.assertIsNotNone(result)
        k, j, i = slicer.util.arrayFromVolume(node).shape
        self.assertEqual(slicer.util.arrayFromVolume(result).shape, (k, 2 * j, 2 * i))
        self.assertIn("x2 in-plane", widget.ui.resultsLabel.text)

    def test_BadInput(self) -> None:
        self.delayDisplay("Bad input raises specific errors")
        import numpy as np

        logic = CHPNetReconLogic()
        rgb = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLVectorVolumeNode", "RGB")
        slicer.util.updateVolumeFromArray(rgb, np.zeros((2, 8, 8, 3), np.uint8))
        with self.assertRaises(UnsupportedVolumeError):
            logic.reconstruct(rgb, ReconstructionRequest())
        node = slicer.util.addVolumeFromArray(np.ones((2, 8, 8), np.float32), name="Ones")
        with self.assertRaises(ParameterError):
            logic.reconstruct(node, ReconstructionRequest(acceleration=40.0))
        self.delayDisplay("Test passed")
