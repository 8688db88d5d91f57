"""The bad inputs of issue #19 through the Python API and the command line: each one a specific one-line error
naming the file / key / shape (or, where the input is valid, a warning or strict JSON), nothing left behind."""

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest
import SimpleITK as sitk
import torch

from monai_chpnet.__main__ import main
from monai_chpnet.data.synthetic import ellipse_phantom, write_fastmri_h5
from monai_chpnet.inference import (
    SettingsError,
    plan_outputs,
    reconstruct_file,
    reconstruct_volume,
    write_outputs,
)
from monai_chpnet.kspace import center_crop_hw, fft2c

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def volume_file(tmp_path):
    path = tmp_path / "brain.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray((ellipse_phantom(6, (48, 48)) * 100).astype(np.float32)), str(path))
    return path


def _cli(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, [line for line in captured.err.splitlines() if line.startswith("error:")]


def test_a_truncated_nifti_is_refused_naming_the_file(tmp_path, volume_file, capsys):
    half = tmp_path / "half.nii.gz"
    data = volume_file.read_bytes()
    half.write_bytes(data[: len(data) // 2])  # half its gzip: ITK reads it as a volume with its end zeroed
    with pytest.raises(OSError, match=r"volume .*half.nii.gz is incomplete: it holds a gzip stream that stops early"):
        reconstruct_file(half)
    code, out, errors = _cli(["reconstruct", str(half), "--output-dir", str(tmp_path / "out")], capsys)
    assert code == 2 and len(errors) == 1 and "half.nii.gz is incomplete" in errors[0]
    assert not (tmp_path / "out").exists() or not os.listdir(tmp_path / "out")


def _h5(path, slices=2, **edit):
    write_fastmri_h5(path, ellipse_phantom(slices, (32, 32)), kspace_shape=(40, 32), recon_size=(32, 32))
    with h5py.File(path, "a") as f:
        for name, value in edit.items():
            del f[name]
            f.create_dataset(name, data=value)
    return path


def test_a_fastmri_file_without_slices_is_refused(tmp_path, capsys):
    h5 = _h5(
        tmp_path / "empty.h5",
        kspace=np.zeros((0, 40, 32), np.complex64),
        reconstruction_esc=np.zeros((0, 32, 32), np.float32),
    )
    with pytest.raises(ValueError, match=r"fastMRI file .*empty.h5 has no k-space to reconstruct: 'kspace' has shape"):
        reconstruct_file(h5)
    code, _, errors = _cli(["reconstruct", str(h5), "--output-dir", str(tmp_path / "out")], capsys)
    assert code == 2 and len(errors) == 1 and "empty.h5 has no k-space" in errors[0]


def test_a_nan_reference_is_refused(tmp_path, capsys):
    h5 = _h5(tmp_path / "nan.h5")
    with h5py.File(h5, "a") as f:
        f["reconstruction_esc"][1, 4, 4] = np.nan
    with pytest.raises(ValueError, match=r"nan.h5: 'reconstruction_esc' of shape \(2, 32, 32\) has 1 NaN/inf value"):
        reconstruct_file(h5)
    code, _, errors = _cli(["reconstruct", str(h5), "--output-dir", str(tmp_path / "out")], capsys)
    assert code == 2 and "NaN" in errors[0]


def test_a_fully_sampled_file_taken_as_acquired_writes_strict_json(tmp_path):
    h5 = _h5(tmp_path / "full.h5")
    result = reconstruct_file(h5, undersampled=True)
    assert result.acceleration == 1.0 and result.metrics["zero_filled"]["psnr"] == float("inf")  # in memory
    text = write_outputs(result, tmp_path / "out")["metrics"].read_text()
    report = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))
    assert report["metrics"]["zero_filled"]["psnr"] is None and report["metrics"]["zero_filled"]["nmse"] == 0.0


def test_a_negative_batch_size_is_a_settings_error_not_a_key_error():
    with pytest.raises(SettingsError, match="batch_size must be an integer from 1 to"):
        reconstruct_volume(ellipse_phantom(2, (16, 16)), None, batch_size=-1)
    with pytest.raises(SettingsError, match="batch_size must be an integer from 1 to"):
        reconstruct_volume(ellipse_phantom(2, (16, 16)), None, batch_size=0)


def test_an_acceleration_the_mask_cannot_give_is_warned_about(tmp_path, caplog):
    image = tmp_path / "tiny.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray((ellipse_phantom(2, (7, 9)) + 0.1).astype(np.float32)), str(image))
    with caplog.at_level(logging.WARNING, logger="monai_chpnet.inference"):
        result = reconstruct_file(image, None, acceleration=4)
    assert result.acceleration == pytest.approx(9.0)
    assert "effective acceleration of 9.00x, not the 4x asked for" in caplog.text
    assert result.warnings and "tiny.nii.gz" in result.warnings[0]
    report = json.loads(write_outputs(result, tmp_path / "out")["metrics"].read_text())
    assert report["warnings"] == result.warnings
    quiet = reconstruct_volume(ellipse_phantom(2, (64, 64)), None, acceleration=4, mask_type="equispaced")
    assert quiet.warnings == []  # within 10 %: nothing to say


def test_an_output_name_too_long_fails_before_reconstructing(tmp_path, capsys):
    long = tmp_path / ("b" * 240 + ".nii.gz")  # the input's name fits; "<stem>_zero_filled.nii.gz" does not
    sitk.WriteImage(sitk.GetImageFromArray(ellipse_phantom(2, (32, 32)).astype(np.float32)), str(long))
    with pytest.raises(OSError, match="_zero_filled.nii.gz: the file name has 259 bytes"):
        plan_outputs([long], tmp_path / "out")
    code, out, errors = _cli(["reconstruct", str(long), "--output-dir", str(tmp_path / "out")], capsys)
    assert code == 2 and len(errors) == 1 and "the file name has 259 bytes" in errors[0]
    assert "reconstructing slices" not in out  # refused before any work
    assert not os.listdir(tmp_path / "out")


def test_a_stem_cannot_leave_the_output_folder(tmp_path, capsys):
    result = reconstruct_volume(ellipse_phantom(2, (16, 16)), None)
    for stem in ("../x", "sub/x", ".hidden", ""):
        with pytest.raises(ValueError, match="must be a plain file name"):
            write_outputs(result, tmp_path / "out", stem=stem)
    assert sorted(os.listdir(tmp_path)) == ["out"] and not os.listdir(tmp_path / "out")
    paths = write_outputs(result, tmp_path / "out", stem="named")
    assert paths["reconstruction"] == tmp_path / "out" / "named_recon.nii.gz"
    code, _, errors = _cli(["demo", "--output-dir", str(tmp_path / "cli"), "--stem", "../x"], capsys)
    assert code == 2 and "stem '../x' must be a plain file name" in errors[0]


def test_a_kspace_narrower_than_its_reconstruction_is_cropped_as_fastmri(tmp_path):
    """fastMRI's "FLAIR 203" case: k-space narrower than the reference (here 30 columns, reference 40 x 40): the
    zero-filled image, the reconstruction and the reference are all cropped to 30 x 30, as fastMRI crops them."""
    image = np.zeros((2, 64, 40), np.complex64)
    image[:, 8:56, 4:36] = ellipse_phantom(2, (48, 32)) * np.exp(0.3j)
    kspace = fft2c(torch.from_numpy(image))[..., 5:35].numpy()  # (2, 64, 30)
    target = np.abs(image)[:, 12:52, :].astype(np.float32)  # (2, 40, 40)
    h5 = _h5(tmp_path / "flair.h5", kspace=kspace, reconstruction_esc=target)
    result = reconstruct_file(h5, None, acceleration=4)
    assert result.reconstruction.shape == result.zero_filled.shape == (2, 30, 30)
    np.testing.assert_array_equal(result.reference, center_crop_hw(torch.from_numpy(target), (30, 30)).numpy())
    assert result.metrics["zero_filled"]["psnr"] > 0


def test_a_seed_outside_fastmris_range_is_refused(capsys):
    with pytest.raises(SettingsError, match="seed must be an integer from 0 to 4294967295"):
        reconstruct_volume(ellipse_phantom(2, (16, 16)), None, seed=2**32)
    with pytest.raises(SystemExit) as info:
        main(["demo", "--seed", str(2**32)])
    assert info.value.code == 2 and "--seed: must be an integer from 0 to 4294967295" in capsys.readouterr().err


CLI_ON_A_FULL_DISK = textwrap.dedent(
    """
    import resource, signal, sys
    from monai_chpnet.__main__ import main

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, as on a full disk
    resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
    sys.exit(main(["demo", "--output-dir", sys.argv[1]]))
    """
)


def test_a_full_disk_is_one_error_line_and_leaves_nothing(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-c", CLI_ON_A_FULL_DISK, str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=300,
    )
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and len(errors) == 1, proc.stdout + proc.stderr
    assert f"cannot write {out}" in errors[0] and "Traceback" not in proc.stderr
    assert os.listdir(out) == []  # no short file under a final name, no temporary file
