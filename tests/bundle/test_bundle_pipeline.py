"""inference.json as a model-zoo pipeline through the bundle's command line: several inputs of both kinds in one
run, settings as overrides, and evaluate.json as an override of it."""

import json

import numpy as np
import SimpleITK as sitk
from test_bundle import bundle, config

from monai_chpnet.data.synthetic import ellipse_phantom, write_fastmri_h5


def test_a_datalist_of_both_kinds_and_evaluate_as_an_override(tmp_path):
    volume = tmp_path / "brain.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray((ellipse_phantom(3, (48, 48)) * 100).astype(np.float32)), str(volume))
    h5 = write_fastmri_h5(
        tmp_path / "knee.h5", ellipse_phantom(2, (48, 40)), kspace_shape=(64, 48), recon_size=(40, 40)
    )
    out = tmp_path / "out"
    datalist = json.dumps([str(volume), str(h5)])
    args = ["--datalist", datalist, "--output_dir", str(out), "--acceleration", "8", "--mask_type", "equispaced"]
    rc, log = bundle("run", *config("inference.json"), *args)
    assert rc == 0, log[-3000:]
    for stem, slices in (("brain", 3), ("knee", 2)):
        report = json.loads((out / f"{stem}_metrics.json").read_text())
        assert report["slices"] == slices and 6 < report["acceleration"] < 10, report
        assert (out / f"{stem}_recon.nii.gz").is_file() and (out / f"{stem}_figure.png").is_file()
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []
    layered = json.dumps([str(config("inference.json")[1]), str(config("evaluate.json")[1])])
    common = config("inference.json")[2:]  # the meta, logging and bundle_root options
    rc, log = bundle(
        "run",
        "--config_file",
        layered,
        *common,
        "--output_dir",
        str(tmp_path / "eval"),
        "--dataset",
        f"${{'brain': {str(volume)!r}}}",
        "--networks",
        "$dict([('zero-filled', None)])",
        "--accelerations",
        "[4.0]",
    )
    assert rc == 0, log[-3000:]
    rows = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert [(r["source"], r["acquisition"]) for r in rows] == [("brain", "magnitude"), ("brain", "phase")]
