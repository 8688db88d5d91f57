"""Packaging for monai-chpnet: fast MRI reconstruction by heterogeneous knowledge distillation on MONAI."""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent

# Core runtime needs only. torch is pinned by constraints.txt at install time, not here, so that users
# with their own (e.g. CUDA) torch keep it.
INSTALL_REQUIRES = [
    "torch>=2.1",
    "monai>=1.4",
    "numpy>=1.24",
    "SimpleITK>=2.2",
    "isal>=1.0",  # ISA-L gzip: writing a .nii.gz volume 10x faster than ITK's own compression
    "h5py>=3.8",
    "pytorch-ignite>=0.4.11",
    "einops>=0.7",
    "fire>=0.4",  # `python -m monai.bundle` (the primary interface) needs it; MONAI does not install it
]

EXTRAS = {
    # logging / training extras used by the engines and bundle training configs
    "train": ["tensorboard>=2.12", "tqdm>=4.60"],
    # test-only: reference implementations to compare against, and data-format fixtures
    "test": [
        "pytest>=7",
        "scikit-image>=0.21",
        "pydicom>=2.4",
        "nibabel>=5",
        "jsonschema>=4",
        "tensorboard>=2.12",
        "tqdm>=4.60",
        "ruff==0.17.6",  # the repository's formatter (ruff.toml); tests/test_formatting.py checks it
    ],
    # MONAI Label is not an extra: pip cannot install monailabel without its declared deps (sam2, torchvision,
    # a CUDA torch); scripts/setup.sh installs its minimal set from requirements-monailabel*.txt
    # only needed to re-create the shipped sample data (scripts/make_sample_data.py)
    "sample-data": ["nilearn>=0.10", "scikit-image>=0.21", "nibabel>=5", "twixtools==0.24"],
    # headless MRML scenes (with vtk) to test the 3D Slicer extension's library (tests/slicer); Slicer itself
    # ships its own MRML, so the extension never needs this
    "slicer": ["slicer-core>=5.11"],
}

setup(
    name="monai-chpnet",
    version="0.1.0",
    description="Fast MRI reconstruction with a lightweight CNN student distilled from a ViT teacher that learns while teaching",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.9",
    packages=find_packages(include=["monai_chpnet", "monai_chpnet.*"]),
    include_package_data=True,
    package_data={
        "monai_chpnet.data": ["sample/*", "sample/**/*"],
        # the sample MONAI Label app is a folder MONAI Label loads by path, not a package
        "monai_chpnet.monailabel": ["README.md", "app/*.py", "app/lib/*.py", "app/lib/configs/*.py"],
    },
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["monai-chpnet=monai_chpnet.__main__:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Medical Science Apps.",
        "License :: OSI Approved :: Apache Software License",
    ],
)
