#!/usr/bin/env python
"""Re-create the shipped sample data in ``monai_chpnet/data/sample/`` from installed wheels (no downloads).

    .venv/bin/pip install -c constraints.txt -e ".[sample-data,test]"   # nilearn, scikit-image, pydicom
    .venv/bin/python scripts/make_sample_data.py

Sources: the MNI ICBM152 2009a T1 template shipped inside the ``nilearn`` wheel, CC0 / public-domain photographs
shipped inside the ``scikit-image`` wheel, test files shipped inside the ``pydicom`` and ``nibabel`` wheels, and
raw Siemens k-space of a phantom in the ``twixtools`` source archive (fetched by pip from the package index, the
one step that needs it; offline the shipped file is kept). The output is deterministic: running the script twice
gives identical files.

Evaluation hygiene: the 20 demo slices come from a slab of the template (axial indices 96..134) whose voxels
appear in no training image -- axial training slices lie below the slab, and sagittal / coronal training
slices are cut off at its lower edge. The script asserts this before writing.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import nilearn.datasets
import numpy as np
import pydicom.data
import SimpleITK as sitk
import skimage.data

from monai_chpnet.data.folders import rgb_to_luma
from monai_chpnet.data.volumes import Geometry, write_volume

OUT = Path(__file__).resolve().parents[1] / "monai_chpnet" / "data" / "sample"
TEMPLATE = Path(nilearn.datasets.__file__).parent / "data" / "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
SLAB = range(96, 135, 2)  # the 20 demo slices (template axial indices), 2 mm apart: lateral ventricles to upper cortex
IN_PLANE = 256
BRAIN_MARGIN = 6  # voxels kept around the brain's bounding box in training slices
AXIAL_TRAIN = range(24, 89, 4)  # below the slab, at least 8 mm from it
SAGITTAL_TRAIN = range(41, 160, 7)  # x indices with >= 20 % brain below the slab
CORONAL_TRAIN = range(41, 200, 8)
NATURAL = ("camera", "astronaut", "coffee", "chelsea", "rocket", "coins", "brick", "grass", "gravel", "clock")
NATURAL_LICENCES = {
    "camera": "CC0 (photographer Lav Varshney)",
    "astronaut": "public domain (NASA)",
    "coffee": "CC0 (photographer Rachel Michetti)",
    "chelsea": "CC0 (photographer Stefan van der Walt)",
    "rocket": "public domain (SpaceX)",
    "coins": "no known copyright restrictions (Brooklyn Museum)",
    "brick": "CC0 (CC0Textures)",
    "grass": "CC0 (DeviantArt user linolafett)",
    "gravel": "CC0 (CC0Textures)",
    "clock": "public domain (photographer Stefan van der Walt)",
}

# inputs without a reference (distillation only): scikit-image pictures in neither training split (not ``cat``:
# it is ``chelsea``'s photograph; not ``horse``: a binary silhouette whose saturated background, once the
# training pipeline's intensity inversion applies, gives all-zero patches), none of them MR
UNLABELLED = (
    "cell",
    "hubble_deep_field",
    "immunohistochemistry",
    "microaneurysms",
    "retina",
    "shepp_logan_phantom",
    "text",
)
UNLABELLED_LICENCES = {
    "cell": "CC0",
    "hubble_deep_field": "public domain (NASA)",
    "immunohistochemistry": "no known copyright restrictions",
    "microaneurysms": "CC0 (Andreas Maier)",
    "retina": "CC0 1.0",
    "shepp_logan_phantom": "computed (Shepp and Logan's head phantom, 1974)",
    "text": "no known copyright restrictions, public domain",
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_png(array: np.ndarray, path: Path) -> None:
    """uint8 grayscale PNG via SimpleITK (deterministic bytes for identical input)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(sitk.GetImageFromArray(np.ascontiguousarray(array, dtype=np.uint8)), str(path))


def make_demo_volume(template: sitk.Image) -> Path:
    """The 20 slab slices, zero-padded in-plane to 256 x 256 (SimpleITK keeps the geometry right), as uint16."""
    slab = template[:, :, SLAB.start : SLAB.stop : SLAB.step]
    size = slab.GetSize()
    lower = [(IN_PLANE - size[0]) // 2, (IN_PLANE - size[1]) // 2, 0]
    upper = [IN_PLANE - size[0] - lower[0], IN_PLANE - size[1] - lower[1], 0]
    padded = sitk.ConstantPad(slab, lower, upper, 0)
    array = sitk.GetArrayFromImage(padded).astype(np.uint16)
    geometry = Geometry(padded.GetSpacing(), padded.GetOrigin(), padded.GetDirection(), array.shape)
    return write_volume(array, geometry, OUT / "sample_t1_brain.nii.gz")


def make_training_mri(volume: np.ndarray) -> list:
    """Axial, sagittal and coronal training slices of the template below the demo slab (uint8 PNG, >= 96 px).

    ``volume`` is SimpleITK's ``(z, y, x)`` array (LPS: rows of an axial slice run posterior -> anterior); every
    slice is flipped vertically so that anterior / superior is up.
    """
    z0 = SLAB.start
    nz = np.nonzero(volume)
    lo = [max(int(n.min()) - BRAIN_MARGIN, 0) for n in nz]
    hi = [min(int(n.max()) + BRAIN_MARGIN + 1, s) for n, s in zip(nz, volume.shape)]
    used = np.zeros(volume.shape, dtype=bool)
    written = []

    def save(name: str, index: tuple) -> None:
        used[index] = True
        path = OUT / "train" / "mri" / f"{name}.png"
        write_png(np.flipud(volume[index]), path)
        written.append(path)

    zs, ys, xs = slice(lo[0], z0), slice(lo[1], hi[1]), slice(lo[2], hi[2])
    for z in AXIAL_TRAIN:
        save(f"mni_t1_axial_z{z:03d}", (z, ys, xs))
    for x in SAGITTAL_TRAIN:
        save(f"mni_t1_sagittal_x{x:03d}", (zs, ys, x))
    for y in CORONAL_TRAIN:
        save(f"mni_t1_coronal_y{y:03d}", (zs, y, xs))
    assert not used[z0:].any(), "a training image touches the demo slab"
    return written


def make_natural(names: tuple, folder: Path) -> list:
    """scikit-image pictures as BT.601 luma (full range), uint8 PNG (float / boolean pictures scaled from [0, 1])."""
    written = []
    for name in names:
        image = getattr(skimage.data, name)()
        if image.dtype == bool or image.dtype.kind == "f":
            image = np.round(np.clip(image.astype(np.float64), 0.0, 1.0) * 255.0)
        elif image.ndim == 3:
            image = np.round(rgb_to_luma(image[..., :3] / 255.0) * 255.0)
        path = folder / f"{name}.png"
        write_png(image, path)
        written.append(path)
    return written


def make_training_natural() -> list:
    return make_natural(NATURAL, OUT / "train" / "natural")


def make_unlabelled() -> list:
    return make_natural(UNLABELLED, OUT / "unlabelled")


def make_epi_volume() -> Path:
    """First time point, axial slices 6..17 of nibabel's 4-D EPI test file, as a 3-D NIfTI with its geometry."""
    import nibabel.tests

    source = Path(nibabel.tests.__file__).parent / "data" / "example4d.nii.gz"
    volume = sitk.ReadImage(str(source))[:, :, 6:18, 0]
    path = OUT / "heldout" / "epi_brain.nii.gz"
    sitk.WriteImage(volume, str(path), useCompression=True)
    return path


TWIXTOOLS = ("twixtools==0.24", "d9ee05cc9cdf5287d6e331e5aa693b8bd15c33bdb4d4e73e4f2f259aeaedfdaa")  # sdist sha256


def make_phantom_kspace() -> Path:
    """Real complex k-space: twixtools' example Siemens GRE acquisition of a structured phantom (2 receive channels,
    160 x 160, fully sampled) as a fastMRI single-coil ``.h5``: the channels are phase-aligned by one constant each
    and summed (a linear combination of k-spaces, as fastMRI emulates single-coil data), read-out along rows,
    phase encoding along the columns the masks select. The data ship only in twixtools' source archive, which
    pip fetches from the package index; without it (offline) the file already shipped is kept."""
    import subprocess
    import sys
    import tarfile
    import tempfile

    import torch

    from monai_chpnet.data.synthetic import write_fastmri_h5
    from monai_chpnet.kspace import ifft2c

    dest = OUT / "heldout" / "phantom_gre.h5"
    with tempfile.TemporaryDirectory() as tmp:
        get = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--no-binary",
            ":all:",
            "-d",
            tmp,
            TWIXTOOLS[0],
        ]
        try:
            import twixtools

            subprocess.run(get, check=True)
        except (ImportError, subprocess.CalledProcessError) as err:
            if not dest.exists():
                raise FileNotFoundError(f"{dest} is missing and {TWIXTOOLS[0]} is not available ({err}).") from err
            print(f"{TWIXTOOLS[0]} is not available ({err}): keeping {dest}")
            return dest
        archive = next(Path(tmp).glob("twixtools-*.tar.gz"))
        if sha256(archive) != TWIXTOOLS[1]:
            raise ValueError(f"{archive.name} has sha256 {sha256(archive)}, expected {TWIXTOOLS[1]}.")
        with tarfile.open(archive) as tar:
            tar.extract("twixtools-0.24/example_data/gre.dat", tmp, filter="data")
        image = twixtools.map_twix(str(Path(tmp) / "twixtools-0.24/example_data/gre.dat"), verbose=False)[-1]["image"]
        image.flags["remove_os"] = True
        image.flags["squeeze_singletons"] = True
        kspace = np.asarray(image[:]).transpose(
            1, 2, 0
        )  # (Lin, Cha, Col) -> (Cha, Col, Lin); read while the file exists
    coils = ifft2c(torch.from_numpy(np.ascontiguousarray(kspace))).numpy()
    align = np.exp(-1j * np.angle((np.conj(coils[0]) * coils).sum(axis=(-2, -1))))
    combined = (align[:, None, None] * coils).sum(0)
    combined = combined / np.abs(combined).max()  # unit maximum: the scanner's arbitrary units carry no meaning
    return write_fastmri_h5(
        dest,
        combined[None].astype(np.complex64),
        kspace_shape=None,
        recon_size=combined.shape,
        acquisition="GRE_PHANTOM",
        patient_id="twixtools_example_gre",
    )


def write_readme(files: dict, template_sha: str, dicom_sha: str) -> None:
    kib = {group: f"{sum(p.stat().st_size for p in paths) / 1024:.0f} KiB" for group, paths in files.items()}
    total = sum(p.stat().st_size for paths in files.values() for p in paths)
    photos = "\n".join(f"  * `{name}`: {NATURAL_LICENCES[name]}" for name in NATURAL)
    unlabelled = "\n".join(f"  * `{name}`: {UNLABELLED_LICENCES[name]}" for name in UNLABELLED)
    text = f"""# Shipped sample data

Generated by `scripts/make_sample_data.py` (deterministic, no downloads); do not edit by hand.
Total {total / 2**20:.2f} MiB. Load it through `monai_chpnet.data.sample`.

## Evaluation data (never train on these)

* `sample_t1_brain.nii.gz` ({kib["demo"]}) -- the demo volume: 20 axial slices of 256 x 256, uint16,
  1 x 1 x 2 mm, with the template's LPS geometry (template axial indices {SLAB.start}..{SLAB.stop - 1} step
  {SLAB.step}, zero-padded in-plane from 197 x 233). No voxel of it appears in the training images (asserted by
  the script), but it comes from the same template: it measures in-distribution quality.
* `heldout/` ({kib["heldout"]}) -- real MR from other scanners, subjects, anatomies and contrasts: the
  out-of-distribution check.
  * `MR_small.dcm` -- a brain MR slice, 64 x 64 int16, 0.3125 mm pixels;
  * `abdomen_mr.dcm` -- an axial abdominal MR slice (Siemens, liver lesion), 300 x 484 uint16, 0.72 mm pixels;
  * `epi_brain.nii.gz` -- 12 axial slices of a T2*-weighted gradient-echo EPI (fMRI) brain volume,
    96 x 128 pixels, 2 x 2 x 2.2 mm (first time point, slices 6..17 of nibabel's `example4d.nii.gz`);
  * `phantom_gre.h5` -- **raw complex k-space**: one 160 x 160 gradient-echo slice of a structured phantom
    (Siemens Skyra 2.89 T, TE 3 ms, 200 mm field of view, 2 receive channels combined into one), in fastMRI's
    single-coil layout: the only real phase-bearing acquisition here (its phase is the scanner's own, smooth
    with a range of about 3 rad inside the phantom); the masks undersample its phase-encoding lines.

## Training data

* `train/mri/` ({kib["mri"]}) -- {len(files["mri"])} uint8 PNG slices of the template in three orientations,
  all below the demo slab: axial slices (indices {AXIAL_TRAIN.start}..{AXIAL_TRAIN[-1]} step {AXIAL_TRAIN.step}),
  sagittal and coronal slices cut off at the slab's lower edge (96 rows: cerebellum, brainstem, temporal
  lobes, basal ganglia); cropped to the brain's bounding box + {BRAIN_MARGIN} voxels and flipped so that
  anterior / superior is up; the smallest side is 96 px. The template is uint8, so the PNGs are lossless.
  Only one contrast (T1) is available offline: `skimage.data.brain()` needs a download and is not used.
* `train/natural/` ({kib["natural"]}) -- {len(files["natural"])} photographs from scikit-image converted to
  ITU-R BT.601 luma (full range), uint8 PNG.

## Inputs without a reference (distillation only)

* `unlabelled/` ({kib["unlabelled"]}) -- {len(files["unlabelled"])} further scikit-image pictures (microscopy,
  astronomy, a fundus photograph, a head phantom, text; none of them MR), the same way. Training
  uses them only as simulated undersampled acquisitions whose truth is deleted
  (`monai_chpnet.data.selection.unlabelled_dataset`): the student learns the teacher's reconstruction of them.

## Provenance and licences

* **MNI ICBM152 2009a nonlinear symmetric T1 template**, as shipped by nilearn (BSD-3-Clause) in
  `nilearn/datasets/data/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz`
  (sha256 `{template_sha}`).
  Fonov et al., NeuroImage 54(1), 2011 and NeuroImage 47(S1) S102, 2009;
  http://www.bic.mni.mcgill.ca/ServicesAtlases/ICBM152NLin2009. nilearn's description lists the licence as
  "unknown"; the notice distributed with the ICBM 2009 templates reads: "Copyright (C) 1993-2004 Louis
  Collins, McConnell Brain Imaging Centre, Montreal Neurological Institute, McGill University. Permission to
  use, copy, modify, and distribute this software and its documentation for any purpose and without fee is
  hereby granted, provided that the above copyright notice appear in all copies. The authors and McGill
  University make no representations about the suitability of this software for any purpose. It is
  provided 'as is' without express or implied warranty. The authors are not responsible for any data loss,
  equipment damage, property loss, or injury to subjects or patients resulting from the use or misuse of
  this software package."
* **MR_small.dcm**, copied unchanged from the pydicom wheel
  (`pydicom.data.get_testdata_file("MR_small.dcm")`, sha256 `{dicom_sha}`; pydicom is MIT-licensed);
  pydicom's notes: "Downsized to 64x64 from 'MR1_UNC', ftp://medical.nema.org/MEDICAL/Dicom/DataSets/WG04/"
  (the NEMA WG04 DICOM sample images).
* **abdomen_mr.dcm**, copied unchanged from the pydicom wheel (`examples_overlay.dcm`, sha256
  `{sha256(OUT / "heldout" / "abdomen_mr.dcm")}`); pydicom's notes: "MR-SIEMENS-DICOM-WithOverlays.dcm with
  cropped Pixel Data and Overlay Data", originally from GDCM's test data (BSD-3-Clause).
* **epi_brain.nii.gz**, derived from nibabel's test file `nibabel/tests/data/example4d.nii.gz` (nibabel is
  MIT-licensed): first volume, slices 6..17, written with SimpleITK keeping the geometry.
* **phantom_gre.h5**, from `example_data/gre.dat` in the source archive of twixtools 0.24 (PyPI, sha256
  `{TWIXTOOLS[1]}`; MIT licence, copyright (c) 2021 Philipp Ehses), read with twixtools (read-out
  oversampling removed), channels phase-aligned and summed, scaled to a maximum of 1.
* **Photographs** from the scikit-image wheel (`skimage/data/`; licences as stated in their docstrings):
{photos}
* **Unlabelled pictures** from the scikit-image wheel (licences as stated in their docstrings):
{unlabelled}
"""
    (OUT / "README.md").write_text(text, encoding="utf-8")


def copy_pydicom_file(name: str, dest: Path) -> Path:
    """Copy pydicom's test file ``name``; pydicom versions without it keep the copy already in ``dest``."""
    source = pydicom.data.get_testdata_file(name)
    if source is None:
        if not dest.exists():
            raise FileNotFoundError(f"pydicom {pydicom.__version__} does not ship {name!r} and {dest} is missing.")
        print(f"pydicom {pydicom.__version__} does not ship {name!r}: keeping {dest}")
        return dest
    return Path(shutil.copyfile(source, dest))


def main() -> None:
    for folder in ("train", "unlabelled"):
        if (OUT / folder).exists():
            shutil.rmtree(OUT / folder)
    template = sitk.ReadImage(str(TEMPLATE))
    files = {
        "demo": [make_demo_volume(template)],
        "mri": make_training_mri(sitk.GetArrayFromImage(template)),
        "natural": make_training_natural(),
        "unlabelled": make_unlabelled(),
    }
    dicom = Path(pydicom.data.get_testdata_file("MR_small.dcm"))
    (OUT / "heldout").mkdir(parents=True, exist_ok=True)
    files["heldout"] = [
        Path(shutil.copyfile(dicom, OUT / "heldout" / "MR_small.dcm")),
        copy_pydicom_file("examples_overlay.dcm", OUT / "heldout" / "abdomen_mr.dcm"),
        make_epi_volume(),
        make_phantom_kspace(),
    ]
    write_readme(files, sha256(TEMPLATE), sha256(dicom))
    for group, paths in files.items():
        print(f"{group:8s} {len(paths):3d} files, {sum(p.stat().st_size for p in paths) / 1024:8.1f} KiB")


if __name__ == "__main__":
    main()
