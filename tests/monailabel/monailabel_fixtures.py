"""Helpers of the MONAI Label tests: a small volume with a non-trivial geometry, and geometry checks."""

from pathlib import Path

import pytest
import SimpleITK as sitk

from monai_chpnet.data.sample import sample_volume_path

#: MONAI Label's API, or a skip (it is an optional extra; `bash scripts/setup.sh test` installs it)
MONAILABEL_REQUIRED = "monailabel.interfaces.config"


def write_slab(path: Path) -> Path:
    """Four axial slices (8-11) of the shipped sample volume: 256 x 256 x 4, 1 x 1 x 2 mm, the template's LPS
    direction, the origin moved with the crop -- small enough to reconstruct in well under a second."""
    sitk.WriteImage(sitk.ReadImage(str(sample_volume_path()))[:, :, 8:12], str(path))
    return path


def assert_same_geometry(image: sitk.Image, reference: sitk.Image) -> None:
    """Same size, spacing, origin and direction (to float precision)."""
    assert image.GetSize() == reference.GetSize()
    for get in ("GetSpacing", "GetOrigin", "GetDirection"):
        assert getattr(image, get)() == pytest.approx(getattr(reference, get)(), abs=1e-5), get
