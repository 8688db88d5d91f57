"""The CHPNetRecon logic without Qt: volume nodes in, reconstructed volume nodes (+ metrics, linked views) out.

:class:`ReconstructionLogic` is what the module's ``CHPNetReconLogic`` inherits; it works on any
``vtkMRMLScene`` (``slicer.mrmlScene`` in Slicer, a headless ``slicer.vtkMRMLScene()`` in tests). Two ways to run:

* :meth:`ReconstructionLogic.reconstruct` -- in this process, blocking (scripts, tests, small volumes);
* :meth:`ReconstructionLogic.start_background` -- in a worker process: returns a :class:`BackgroundJob` to
  ``poll()`` (the widget does it from a ``QTimer``), ``cancel()`` or ``wait()``, then ``finish()`` to get the nodes.

Both validate everything before any work (:meth:`ReconstructionLogic.plan`) and raise the specific exceptions of
:mod:`.errors`; both write the outputs with the input's IJK-to-RAS matrix and parent transform.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import List, Mapping, Optional

import numpy as np
import slicer

from .background import BackgroundReconstruction, JobStatus
from .dependencies import monai_chpnet_root
from .errors import ParameterError, ReconstructionFailedError
from .fastmri import fastmri_source, load_fastmri_volume
from .reconstruction import (
    Metrics,
    Progress,
    ReconstructionArrays,
    ReconstructionRequest,
    metrics_lines,
    reconstruct_arrays,
)
from .views import show_comparison, show_trust_overlay
from .volumes import check_same_grid, grids_match, ijk_to_ras, node_label, update_volume, voxel_array, write_volume_file

__all__ = ["ReconstructionPlan", "ReconstructionOutcome", "ReconstructionLogic", "BackgroundJob"]


@dataclass
class ReconstructionPlan:
    """Validated inputs of one reconstruction.

    Attributes:
        input_node: the volume to reconstruct.
        request: validated parameters.
        volume: the input's voxels, float32 ``(K, J, I)``.
        reference_node: the user's reference volume, or ``None``.
        reference: its voxels ``(K, J, I)`` on the input's grid, or ``None``.
        output_node, zero_filled_node: nodes to overwrite, or ``None`` to create them.
        fastmri_file: the fastMRI file the input was loaded from, or ``None``.
    """

    input_node: slicer.vtkMRMLScalarVolumeNode
    request: ReconstructionRequest
    volume: np.ndarray
    reference_node: Optional[slicer.vtkMRMLScalarVolumeNode] = None
    reference: Optional[np.ndarray] = None
    output_node: Optional[slicer.vtkMRMLScalarVolumeNode] = None
    zero_filled_node: Optional[slicer.vtkMRMLScalarVolumeNode] = None
    fastmri_file: Optional[str] = None

    def output_name(self, kind: str) -> str:
        """``"<input> CHPNet 4x"`` / ``"<input> zero-filled 4x"`` (without the factor for undersampled input)."""
        factor = f" {self.request.acceleration:g}x" if self.request.simulate else ""
        return f"{self.input_node.GetName()} {kind}{factor}"


@dataclass
class ReconstructionOutcome:
    """The nodes a reconstruction wrote, and how good it is.

    Attributes:
        reconstruction, zero_filled: output scalar volumes on the input's grid.
        reference: the volume the metrics compare with (``None`` without one).
        metrics: ``{"zero_filled": {...}, "reconstruction": {...}}`` PSNR (dB) / SSIM / NMSE, or ``{}``.
        acceleration: realised undersampling factor.
        seconds: reconstruction wall time.
        slice_axis: ``"K"``, ``"J"`` or ``"I"``.
        trust: the trust map node (values in ``[0, 1]``), or ``None``; trust_error: why the map asked for is missing.
    """

    reconstruction: slicer.vtkMRMLScalarVolumeNode
    zero_filled: slicer.vtkMRMLScalarVolumeNode
    reference: Optional[slicer.vtkMRMLScalarVolumeNode]
    metrics: Metrics = field(default_factory=dict)
    acceleration: float = 1.0
    seconds: float = 0.0
    slice_axis: str = "K"
    trust: Optional[slicer.vtkMRMLScalarVolumeNode] = None
    trust_error: Optional[str] = None

    def summary(self) -> str:
        """Multi-line text for the GUI: timing, then one metrics line per method (or why there are none)."""
        head = f"{self.reconstruction.GetName()}: {self.acceleration:.2f}x, {self.seconds:.1f} s, slices along {self.slice_axis}"
        body = metrics_lines(self.metrics) if self.metrics else ["no reference volume: no metrics"]
        if self.trust is not None:
            body.append(f"trust map: {self.trust.GetName()}")
        if self.trust_error:
            body.append(self.trust_error)
        return "\n".join([head, *body])


class ReconstructionLogic:
    """Reconstruct volume nodes of ``scene`` with the chpnet_mri_recon bundle (see the module docstring).

    Args:
        scene: the MRML scene; ``None``: ``slicer.mrmlScene`` (inside Slicer). The constructor takes no other
            argument, so it can sit beside ``ScriptedLoadableModuleLogic`` (whose ``__init__`` calls
            ``super().__init__()``) in a module's logic class.
    """

    def __init__(self, scene: Optional[slicer.vtkMRMLScene] = None) -> None:
        self._scene = scene

    @property
    def scene(self) -> slicer.vtkMRMLScene:
        if self._scene is not None:
            return self._scene
        scene = getattr(slicer, "mrmlScene", None)
        if scene is None:
            raise RuntimeError("no MRML scene: pass one to ReconstructionLogic(scene) outside Slicer.")
        return scene

    # -- validation ----------------------------------------------------------------------------------------------

    def plan(
        self,
        input_node: Optional[slicer.vtkMRMLScalarVolumeNode],
        request: ReconstructionRequest,
        reference_node: Optional[slicer.vtkMRMLScalarVolumeNode] = None,
        output_node: Optional[slicer.vtkMRMLScalarVolumeNode] = None,
        zero_filled_node: Optional[slicer.vtkMRMLScalarVolumeNode] = None,
    ) -> ReconstructionPlan:
        """Check every input before any work.

        Raises:
            ParameterError: a parameter out of range, or an output node that is also an input.
            InputVolumeError (and subclasses): no input, no image data, vector/4-D volume, reference on another grid.
        """
        request = request.validated()
        volume = voxel_array(input_node, "input")
        inputs = [n for n in (input_node, reference_node) if n is not None]
        for out in (output_node, zero_filled_node):
            if out is not None and any(out is n for n in inputs):
                raise ParameterError(f"output volume {node_label(out)} is also an input; choose or create another one.")
        if output_node is not None and output_node is zero_filled_node:
            raise ParameterError(f"reconstruction and zero-filled outputs are the same node {node_label(output_node)}.")
        reference = None
        if reference_node is not None and reference_node is not input_node:
            reference = voxel_array(reference_node, "reference")
            check_same_grid(input_node, reference_node, volume.shape, reference.shape)
        return ReconstructionPlan(
            input_node=input_node,
            request=request,
            volume=volume,
            reference_node=reference_node,
            reference=reference,
            output_node=output_node,
            zero_filled_node=zero_filled_node,
            fastmri_file=fastmri_source(input_node),
        )

    # -- in process ------------------------------------------------------------------------------------------------

    def reconstruct(
        self,
        input_node: Optional[slicer.vtkMRMLScalarVolumeNode],
        request: ReconstructionRequest,
        reference_node: Optional[slicer.vtkMRMLScalarVolumeNode] = None,
        output_node: Optional[slicer.vtkMRMLScalarVolumeNode] = None,
        zero_filled_node: Optional[slicer.vtkMRMLScalarVolumeNode] = None,
        progress: Optional[Progress] = None,
        show: bool = True,
    ) -> ReconstructionOutcome:
        """Reconstruct in this process (blocks until done); see :meth:`plan` for the errors."""
        plan = self.plan(input_node, request, reference_node, output_node, zero_filled_node)
        arrays = reconstruct_arrays(plan.volume, plan.request, plan.reference, plan.fastmri_file, progress)
        return self.apply(plan, arrays, show)

    # -- background process ----------------------------------------------------------------------------------

    def start_background(
        self,
        input_node: Optional[slicer.vtkMRMLScalarVolumeNode],
        request: ReconstructionRequest,
        reference_node: Optional[slicer.vtkMRMLScalarVolumeNode] = None,
        output_node: Optional[slicer.vtkMRMLScalarVolumeNode] = None,
        zero_filled_node: Optional[slicer.vtkMRMLScalarVolumeNode] = None,
        python_executable: Optional[str] = None,
        env: Optional[Mapping[str, str]] = None,
        show: bool = True,
    ) -> "BackgroundJob":
        """Write the input (and reference) to a temporary folder as NRRD and start the worker process.

        Args:
            python_executable: a Python with ``monai_chpnet`` (``PythonSlicer`` in Slicer; default: this one).
            env: the worker's base environment (default: this process's).
            Others as :meth:`reconstruct`.
        """
        plan = self.plan(input_node, request, reference_node, output_node, zero_filled_node)
        temp_dir = tempfile.mkdtemp(prefix="CHPNetRecon-")
        try:
            input_file = os.path.join(temp_dir, "input.nrrd")
            write_volume_file(plan.input_node, input_file)
            reference_file = None
            if plan.reference is not None:
                reference_file = os.path.join(temp_dir, "reference.nrrd")
                write_volume_file(plan.reference_node, reference_file)
            root = monai_chpnet_root()
            process = BackgroundReconstruction(
                input_file,
                os.path.join(temp_dir, "output"),
                plan.request,
                reference_file=reference_file,
                fastmri_file=plan.fastmri_file,
                python_executable=python_executable,
                python_paths=[root] if root is not None else [],
                env=env,
            )
            process.start()
        except BaseException:
            shutil.rmtree(temp_dir, ignore_errors=True)
            raise
        return BackgroundJob(self, plan, process, temp_dir, show)

    # -- outputs -------------------------------------------------------------------------------------------------

    def apply(self, plan: ReconstructionPlan, arrays: ReconstructionArrays, show: bool = True) -> ReconstructionOutcome:
        """Write reconstruction arrays into the output nodes (created when ``None``) with the input's geometry.

        Raises:
            ReconstructionFailedError: the arrays are not on the input's grid.
        """
        expected = plan.volume.shape
        for name, array in (("reconstruction", arrays.reconstruction), ("zero-filled", arrays.zero_filled)):
            if array.shape != expected:
                raise ReconstructionFailedError(f"{name} has shape {array.shape}, expected the input's {expected}.")
        if arrays.ijk_to_ras is not None and not grids_match(arrays.ijk_to_ras, ijk_to_ras(plan.input_node)):
            raise ReconstructionFailedError(
                f"the background process's output grid differs from input {node_label(plan.input_node)}'s."
            )
        reconstruction = update_volume(
            self.scene, arrays.reconstruction, plan.input_node, plan.output_node, plan.output_name("CHPNet")
        )
        zero_filled = update_volume(
            self.scene, arrays.zero_filled, plan.input_node, plan.zero_filled_node, plan.output_name("zero-filled")
        )
        trust = None
        if arrays.trust is not None:
            if arrays.trust.shape != expected:
                raise ReconstructionFailedError(f"trust map has shape {arrays.trust.shape}, expected {expected}.")
            name = plan.output_name(f"CHPNet trust ({arrays.trust_method})")
            previous = self.scene.GetFirstNodeByName(name)  # the last map of this input and setting: replaced
            previous = previous if isinstance(previous, slicer.vtkMRMLScalarVolumeNode) else None
            trust = update_volume(self.scene, arrays.trust, plan.input_node, previous, name)
        # what the metrics compare with: the user's reference, else the fully-sampled input (or fastMRI target)
        reference = plan.reference_node or (plan.input_node if arrays.metrics else None)
        outcome = ReconstructionOutcome(
            reconstruction=reconstruction,
            zero_filled=zero_filled,
            reference=reference,
            metrics=arrays.metrics,
            acceleration=arrays.acceleration,
            seconds=arrays.seconds,
            slice_axis=plan.request.slice_axis,
            trust=trust,
            trust_error=arrays.trust_error,
        )
        if show:
            self.show(outcome)
        return outcome

    def show(self, outcome: ReconstructionOutcome) -> List[str]:
        """Zero-filled | reconstruction | reference in three linked views (see :mod:`.views`); returns their names."""
        volumes = (outcome.zero_filled, outcome.reconstruction, outcome.reference)
        names = show_comparison(self.scene, volumes, outcome.slice_axis)
        if outcome.trust is not None:
            show_trust_overlay(self.scene, outcome.trust)
        return names

    # -- files -----------------------------------------------------------------------------------------------------

    def load_fastmri(self, path: str, name: Optional[str] = None) -> slicer.vtkMRMLScalarVolumeNode:
        """Load a fastMRI single-coil ``.h5`` as a volume node (see :mod:`.fastmri`)."""
        return load_fastmri_volume(self.scene, path, name)


class BackgroundJob:
    """A running background reconstruction and the plan it will write back (see
    :meth:`ReconstructionLogic.start_background`). Call :meth:`finish` once :meth:`poll` says it has finished."""

    def __init__(
        self,
        logic: ReconstructionLogic,
        plan: ReconstructionPlan,
        process: BackgroundReconstruction,
        temp_dir: str,
        show: bool = True,
    ) -> None:
        self.logic, self.plan, self.process = logic, plan, process
        self.temp_dir, self.show = temp_dir, show

    def poll(self) -> JobStatus:
        """Progress and new log lines; never blocks."""
        return self.process.poll()

    def wait(self, timeout: Optional[float] = None) -> JobStatus:
        """Block until the worker has finished (headless use)."""
        return self.process.wait(timeout)

    def cancel(self) -> None:
        """Terminate the worker; :meth:`finish` then raises ``ReconstructionCancelledError``."""
        self.process.cancel()

    def finish(self) -> ReconstructionOutcome:
        """Read the worker's outputs into the output nodes and delete the temporary files.

        Raises:
            RuntimeError: the worker is still running (``wait()`` or ``cancel()`` first).
            ReconstructionCancelledError: it was cancelled.
            ReconstructionFailedError: it failed (the message carries the worker's error line).
        """
        if not self.poll().finished:
            raise RuntimeError("the background reconstruction is still running; wait for it or cancel it first.")
        try:
            return self.logic.apply(self.plan, self.process.outputs(), self.show)
        finally:
            self.cleanup()

    def cleanup(self) -> None:
        """Delete the temporary folder (input, reference and output files)."""
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    @property
    def log(self) -> List[str]:
        return list(self.process.log)
