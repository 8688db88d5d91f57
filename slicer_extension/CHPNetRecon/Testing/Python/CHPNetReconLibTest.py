"""CHPNetReconLib checks that need no network: exact geometry copies, slice axes, file round trips, input errors,
the comparison layout.

ctest runs this in Slicer's Python against ``slicer.mrmlScene`` (``Testing/Python/CMakeLists.txt``); the
repository's pytest suite runs the same ``TestCase`` headlessly with the ``slicer-core`` wheel
(``tests/slicer/test_slicer_ctest_script.py``).
"""

import os
import sys
import tempfile
import unittest

import numpy as np
import slicer

_MODULE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if _MODULE_DIR not in sys.path:  # outside the application: CHPNetReconLib sits in the module folder
    sys.path.insert(0, _MODULE_DIR)

from CHPNetReconLib.axes import from_slices, to_slices  # noqa: E402
from CHPNetReconLib.errors import NoImageDataError, UnsupportedVolumeError  # noqa: E402
from CHPNetReconLib.views import COMPARISON_LAYOUT_ID, show_comparison  # noqa: E402
from CHPNetReconLib.volumes import (  # noqa: E402
    ijk_to_ras,
    read_volume_file,
    update_volume,
    voxel_array,
    write_volume_file,
)

# oblique (rotated about S), anisotropic, left-handed (K flipped), off-centre
_ANGLE = np.deg2rad(25.0)
IJK_TO_RAS = np.array(
    [
        [0.9 * np.cos(_ANGLE), -1.2 * np.sin(_ANGLE), 0.0, -31.5],
        [0.9 * np.sin(_ANGLE), 1.2 * np.cos(_ANGLE), 0.0, 7.25],
        [0.0, 0.0, -2.5, 60.0],
        [0.0, 0.0, 0.0, 1.0],
    ]
)


class CHPNetReconLibTest(unittest.TestCase):
    def setUp(self) -> None:
        scene = getattr(slicer, "mrmlScene", None)
        if scene is None:  # headless (slicer-core): a scene with the orientation presets Slicer adds at start-up
            scene = slicer.vtkMRMLScene()
            slicer.vtkMRMLSliceNode.AddDefaultSliceOrientationPresets(scene)
        else:
            scene.Clear()
        self.scene = scene

    def _volume(self, voxels: np.ndarray, name: str = "Volume"):
        node = self.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name)
        node.SetIJKToRASMatrix(slicer.util.vtkMatrixFromArray(IJK_TO_RAS))
        slicer.util.updateVolumeFromArray(node, voxels)
        node.CreateDefaultDisplayNodes()
        return node

    def test_output_gets_the_exact_geometry(self) -> None:
        source = self._volume(np.zeros((3, 4, 5), np.int16))
        out = update_volume(self.scene, np.ones((3, 4, 5)), source, name="Out")
        np.testing.assert_array_equal(ijk_to_ras(out), IJK_TO_RAS)
        np.testing.assert_array_equal(slicer.util.arrayFromVolume(out), np.ones((3, 4, 5)))

    def test_slice_axes_round_trip(self) -> None:
        voxels = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
        for axis, shape in (("K", (3, 4, 5)), ("J", (4, 3, 5)), ("I", (5, 3, 4))):
            self.assertEqual(to_slices(voxels, axis).shape, shape)
            np.testing.assert_array_equal(from_slices(to_slices(voxels, axis), axis), voxels)

    def test_files_keep_the_voxel_order_of_left_handed_grids(self) -> None:
        voxels = np.random.default_rng(0).integers(0, 100, (3, 4, 5)).astype(np.int16)
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "volume.nrrd")
            write_volume_file(self._volume(voxels), path)
            array, matrix = read_volume_file(path)
        np.testing.assert_array_equal(array, voxels)
        np.testing.assert_allclose(matrix, IJK_TO_RAS, atol=1e-9)

    def test_bad_volumes_raise_specific_errors(self) -> None:
        with self.assertRaises(NoImageDataError):
            voxel_array(self.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "Empty"))
        rgb = self.scene.AddNewNodeByClass("vtkMRMLVectorVolumeNode", "RGB")
        slicer.util.updateVolumeFromArray(rgb, np.zeros((2, 3, 4, 3), np.uint8))
        with self.assertRaises(UnsupportedVolumeError):
            voxel_array(rgb)

    def test_comparison_layout(self) -> None:
        volumes = [self._volume(np.random.default_rng(i).random((4, 5, 6)), name) for i, name in enumerate("ABC")]
        self.assertEqual(show_comparison(self.scene, volumes, "K"), ["Red", "Yellow", "Green"])
        layout = self.scene.GetFirstNodeByClass("vtkMRMLLayoutNode")
        self.assertEqual(layout.GetViewArrangement(), COMPARISON_LAYOUT_ID)


if __name__ == "__main__":
    unittest.main()
