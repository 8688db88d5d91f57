"""Bad inputs of issue #19 through the bundle's inference.json: one error line each, before any work, nothing
written (the bundle's real command line, in fresh processes)."""

import numpy as np
import SimpleITK as sitk
from test_bundle import bundle, config

from monai_chpnet.data.synthetic import ellipse_phantom


def test_bad_inputs_stop_the_bundle_with_one_line(tmp_path):
    volume = tmp_path / "brain.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray((ellipse_phantom(3, (32, 32)) * 100).astype(np.float32)), str(volume))
    half = tmp_path / "half.nii.gz"
    half.write_bytes(volume.read_bytes()[: volume.stat().st_size // 2])
    long = tmp_path / ("b" * 240 + ".nii.gz")
    long.write_bytes(volume.read_bytes())
    cases = [
        (["--datalist", "[]"], "no input to reconstruct: the dataset is empty"),
        (["--input_path", str(volume), "--batch_size", "0"], "batch_size must be an integer from 1"),
        (["--input_path", str(volume), "--seed", str(2**32)], "seed must be an integer from 0 to 4294967295"),
        (["--input_path", str(volume), "--acceleration", "fast"], "acceleration must be a number, got 'fast'"),
        (["--input_path", str(long)], "the file name has 259 bytes"),
        (["--input_path", str(half)], "half.nii.gz is incomplete"),
    ]
    out = tmp_path / "out"
    for args, message in cases:
        rc, log = bundle("run", *config("inference.json"), "--output_dir", str(out), *args)
        errors = [line for line in log.splitlines() if line.startswith("error:")]
        assert rc != 0 and len(errors) == 1 and message in errors[0], (args, log[-1500:])
        assert "Traceback" not in log and "terminating due to exception" not in log, (args, log[-1500:])
        assert not out.exists() or not list(out.iterdir()), (args, sorted(out.iterdir()))
