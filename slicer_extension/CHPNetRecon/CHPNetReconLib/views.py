"""The comparison layout: zero-filled | reconstruction | reference in three linked slice views, side by side.

Done in MRML alone, so it works headless and inside Slicer, where the layout manager observes the layout node and
builds the views:

* a custom layout (:data:`COMPARISON_LAYOUT_ID`) of Slicer's Red, Yellow and Green slice views in a row;
* each view shows one volume as background, cut along the reconstruction's slice axis (the nearest of axial /
  coronal / sagittal, then rotated onto the volume's own planes, so oblique volumes are cut along their voxels);
* all three composite nodes are linked (moving or zooming one moves the others) and centred on the same slice;
* all three volumes get one window/level (from the reference, or the reconstruction), so grey levels compare.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np
import slicer

from .axes import slice_axis_index
from .volumes import ijk_to_ras

__all__ = [
    "COMPARISON_LAYOUT_ID",
    "TRUST_COLOR_NAME",
    "TRUST_LEGEND",
    "VIEW_NAMES",
    "comparison_layout_xml",
    "show_comparison",
    "show_trust_overlay",
    "slice_orientation",
    "trust_color_node",
]

COMPARISON_LAYOUT_ID = 5731  # user layouts start at vtkMRMLLayoutNode.SlicerLayoutUserView (100)
VIEW_NAMES: Tuple[str, str, str] = ("Red", "Yellow", "Green")
VIEW_LABELS: Tuple[str, str, str] = ("ZF", "CHP", "Ref")
_VIEW_COLORS: Tuple[str, str, str] = ("#F34A33", "#EDD54C", "#6EB04B")
_ORIENTATIONS = ("Sagittal", "Coronal", "Axial")  # the view whose normal is the R, A or S axis


def comparison_layout_xml(orientation: str = "Axial") -> str:
    """Slicer layout XML of the three views in a row (zero-filled | reconstruction | reference)."""
    items = "".join(
        f'<item><view class="vtkMRMLSliceNode" singletontag="{name}">'
        f'<property name="orientation" action="default">{orientation}</property>'
        f'<property name="viewlabel" action="default">{label}</property>'
        f'<property name="viewcolor" action="default">{color}</property>'
        "</view></item>"
        for name, label, color in zip(VIEW_NAMES, VIEW_LABELS, _VIEW_COLORS)
    )
    return f'<layout type="horizontal">{items}</layout>'


def slice_orientation(ijk_to_ras_matrix: np.ndarray, slice_axis: str) -> str:
    """``"Axial"``, ``"Coronal"`` or ``"Sagittal"``: the standard view closest to planes of constant ``slice_axis``.

    ``slice_axis`` is a ``(K, J, I)`` array axis (see :mod:`.axes`); its direction in RAS is the matching column of
    the IJK-to-RAS matrix (``K`` -> column 2).
    """
    ijk_column = 2 - slice_axis_index(slice_axis)
    normal = np.abs(np.asarray(ijk_to_ras_matrix, dtype=np.float64)[:3, ijk_column])
    return _ORIENTATIONS[int(np.argmax(normal))]


def _layout_node(scene: slicer.vtkMRMLScene) -> slicer.vtkMRMLLayoutNode:
    node = scene.GetFirstNodeByClass("vtkMRMLLayoutNode")
    return node if node is not None else scene.AddNewNodeByClass("vtkMRMLLayoutNode")


def _view_nodes(
    scene: slicer.vtkMRMLScene, name: str
) -> Tuple[slicer.vtkMRMLSliceNode, slicer.vtkMRMLSliceCompositeNode]:
    """The slice node and slice composite node of view ``name``; created when missing (a scene without views)."""

    def find(class_name: str) -> Optional[slicer.vtkMRMLNode]:
        for i in range(scene.GetNumberOfNodesByClass(class_name)):
            node = scene.GetNthNodeByClass(i, class_name)
            if node.GetLayoutName() == name:
                return node
        return None

    slice_node = find("vtkMRMLSliceNode")
    if slice_node is None:
        slicer.vtkMRMLSliceNode.AddDefaultSliceOrientationPresets(scene)
        slice_node = scene.AddNewNodeByClass("vtkMRMLSliceNode", name)
        slice_node.SetLayoutName(name)
    composite = find("vtkMRMLSliceCompositeNode")
    if composite is None:
        composite = scene.AddNewNodeByClass("vtkMRMLSliceCompositeNode")
        composite.SetLayoutName(name)
    return slice_node, composite


def _center_ras(node: slicer.vtkMRMLVolumeNode) -> Tuple[float, float, float]:
    bounds = [0.0] * 6
    node.GetRASBounds(bounds)
    return (0.5 * (bounds[0] + bounds[1]), 0.5 * (bounds[2] + bounds[3]), 0.5 * (bounds[4] + bounds[5]))


def _shared_window(node: slicer.vtkMRMLScalarVolumeNode) -> Tuple[float, float]:
    """Robust display range of a volume: its 0.5th to 99.5th percentile."""
    array = slicer.util.arrayFromVolume(node)
    low, high = (float(v) for v in np.percentile(array, (0.5, 99.5)))
    return low, max(high, low + 1e-6)


def show_comparison(
    scene: slicer.vtkMRMLScene,
    volumes: Sequence[Optional[slicer.vtkMRMLScalarVolumeNode]],
    slice_axis: str = "K",
) -> List[str]:
    """Switch to the comparison layout and show ``volumes`` (zero-filled, reconstruction, reference) left to right.

    Args:
        scene: the MRML scene (``slicer.mrmlScene`` in Slicer).
        volumes: up to three volume nodes on one grid; ``None`` leaves a view empty.
        slice_axis: the reconstruction's slice axis, ``"K"``, ``"J"`` or ``"I"``.

    Returns:
        the layout names of the views used, left to right.
    """
    shown = [v for v in volumes if v is not None]
    if not shown:
        return []
    orientation = slice_orientation(ijk_to_ras(shown[0]), slice_axis)
    layout = _layout_node(scene)
    if not layout.IsLayoutDescription(COMPARISON_LAYOUT_ID):
        layout.AddLayoutDescription(COMPARISON_LAYOUT_ID, comparison_layout_xml(orientation))
    layout.SetViewArrangement(COMPARISON_LAYOUT_ID)

    window_source = volumes[2] if len(volumes) > 2 and volumes[2] is not None else shown[-1]
    window = _shared_window(window_source)
    center = _center_ras(shown[0])
    names = []
    for name, volume in zip(VIEW_NAMES, volumes):
        slice_node, composite = _view_nodes(scene, name)
        composite.SetBackgroundVolumeID(volume.GetID() if volume is not None else None)
        composite.SetForegroundVolumeID(None)
        composite.SetLinkedControl(True)
        if slice_node.HasSliceOrientationPreset(orientation):
            slice_node.SetOrientation(orientation)
        if volume is not None:
            slice_node.RotateToVolumePlane(volume)
            _set_window(volume, window)
        slice_node.JumpSliceByCentering(*center)
        names.append(name)
    return names


def _set_window(volume: slicer.vtkMRMLScalarVolumeNode, window: Tuple[float, float]) -> None:
    display = volume.GetDisplayNode()
    if display is None:
        volume.CreateDefaultDisplayNodes()
        display = volume.GetDisplayNode()
    display.AutoWindowLevelOff()
    display.SetWindowLevelMinMax(*window)


TRUST_COLOR_NAME = "CHPNet trust"
#: what the overlay means, and what it does not (the panel shows it beside the opacity slider)
TRUST_LEGEND = (
    "Trust map: transparent = the student agrees with its teacher (teacher map) or with itself under flips (tta); "
    "yellow = the least trusted regions of this volume. Look twice where it is bright. It ranks regions of this "
    "volume only: dark does not prove a region right, and its values are not intensity errors."
)


def trust_color_node(scene: slicer.vtkMRMLScene) -> slicer.vtkMRMLColorTableNode:
    """The trust map's colour table (created once per scene): 256 entries from transparent black through opaque red
    to yellow, so low-disagreement regions leave the reconstruction visible underneath."""
    node = scene.GetFirstNodeByName(TRUST_COLOR_NAME)
    if node is not None:
        return node
    node = scene.AddNewNodeByClass("vtkMRMLColorTableNode", TRUST_COLOR_NAME)
    node.SetTypeToUser()
    node.SetNumberOfColors(256)
    node.SetNamesInitialised(True)
    for i in range(256):
        t = i / 255.0
        node.SetColor(i, f"{i}", min(1.0, 2.0 * t), max(0.0, 2.0 * t - 1.0), 0.0, min(1.0, 1.5 * t))
    return node


def show_trust_overlay(
    scene: slicer.vtkMRMLScene,
    trust: slicer.vtkMRMLScalarVolumeNode,
    opacity: float = 0.5,
    view: str = "Yellow",
) -> slicer.vtkMRMLSliceCompositeNode:
    """Show the trust map ``trust`` (values in ``[0, 1]``) over the reconstruction in ``view`` (the comparison
    layout's middle view), coloured by :func:`trust_color_node` with the window fixed to ``[0, 1]``, at
    ``opacity``. Returns the view's composite node (its foreground opacity is the panel's slider)."""
    display = trust.GetDisplayNode()
    if display is None:
        trust.CreateDefaultDisplayNodes()
        display = trust.GetDisplayNode()
    display.SetAndObserveColorNodeID(trust_color_node(scene).GetID())
    display.AutoWindowLevelOff()
    display.SetWindowLevelMinMax(0.0, 1.0)
    _, composite = _view_nodes(scene, view)
    composite.SetForegroundVolumeID(trust.GetID())
    composite.SetForegroundOpacity(float(min(max(opacity, 0.0), 1.0)))
    return composite
