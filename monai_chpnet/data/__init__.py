"""Data sources: fastMRI single-coil HDF5, image folders, SimpleITK volumes, synthetic files and shipped samples.

Every dataset yields dictionaries keyed by :class:`monai_chpnet.keys.ReconKeys` (``"kspace"``, ``"target"``)
plus plain metadata (``"fname"``, ...), and applies an optional MONAI transform to them.
"""

from monai_chpnet.data.fastmri import FASTMRI_SPLITS, FastMRISliceDataset, fastmri_volume_loader, parse_ismrmrd_header
from monai_chpnet.data.folders import (
    BRAIN_TUMOR_CLASSES,
    IMAGE_SUFFIXES,
    BrainTumorMRIDataset,
    ImageFileDataset,
    MixedDataset,
    NaturalImageDataset,
    read_grayscale,
    rgb_to_luma,
)
from monai_chpnet.data.sample import (
    heldout_evaluation_files,
    sample_training_dataset,
    sample_training_files,
    sample_volume_path,
)
from monai_chpnet.data.synthetic import ellipse_phantom, write_fastmri_h5
from monai_chpnet.data.volumes import VOLUME_SUFFIXES, Geometry, read_volume, write_volume

__all__ = [
    "BRAIN_TUMOR_CLASSES",
    "FASTMRI_SPLITS",
    "IMAGE_SUFFIXES",
    "VOLUME_SUFFIXES",
    "BrainTumorMRIDataset",
    "FastMRISliceDataset",
    "Geometry",
    "ImageFileDataset",
    "MixedDataset",
    "NaturalImageDataset",
    "ellipse_phantom",
    "fastmri_volume_loader",
    "heldout_evaluation_files",
    "parse_ismrmrd_header",
    "read_grayscale",
    "read_volume",
    "rgb_to_luma",
    "sample_training_dataset",
    "sample_training_files",
    "sample_volume_path",
    "write_fastmri_h5",
    "write_volume",
]
