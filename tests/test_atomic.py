"""The one atomic writer: files are checked before they are renamed, groups are written all or none, and a full
disk (simulated with RLIMIT_FSIZE in a child process: writes past the limit fail as on a full disk) leaves
neither a short file under a final name nor a temporary file."""

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from monai_chpnet.atomic import AtomicFiles, WriteError, atomic_path, json_safe, write_json, write_text
from monai_chpnet.data.volumes import Geometry, check_volume_file, read_volume, write_volume

ROOT = Path(__file__).resolve().parents[1]


def _geometry(shape):
    return Geometry((1.0, 1.0, 2.0), (0.0, 0.0, 0.0), tuple(np.eye(3).ravel()), shape)


def test_a_group_is_written_all_or_none(tmp_path):
    (tmp_path / "a.txt").write_text("old")
    with pytest.raises(ZeroDivisionError):
        with AtomicFiles() as files:
            write_text(tmp_path / "a.txt", "new", files=files)
            write_text(tmp_path / "b.txt", "new", files=files)
            1 / 0
    assert sorted(os.listdir(tmp_path)) == ["a.txt"] and (tmp_path / "a.txt").read_text() == "old"
    with AtomicFiles() as files:
        write_text(tmp_path / "a.txt", "new", files=files)
        write_text(tmp_path / "b.txt", "new", files=files)
    assert sorted(os.listdir(tmp_path)) == ["a.txt", "b.txt"] and (tmp_path / "a.txt").read_text() == "new"


def test_a_short_file_is_refused_before_the_rename(tmp_path):
    with pytest.raises(OSError, match=r"cannot write .*x.json: 3 of 8 bytes were written"):
        with atomic_path(tmp_path / "x.json", size=8) as tmp:
            tmp.write_text("abc")
    with pytest.raises(OSError, match=r"cannot write .*x.png: the PNG written has no end chunk"):
        with atomic_path(tmp_path / "x.png") as tmp:
            sitk.WriteImage(sitk.GetImageFromArray(np.zeros((8, 8), np.uint8)), str(tmp))
            tmp.write_bytes(tmp.read_bytes()[:-5])
    with pytest.raises(OSError, match=r"cannot write .*model.pt: the archive written is incomplete"):
        with atomic_path(tmp_path / "model.pt") as tmp:
            torch.save({"w": torch.zeros(3)}, tmp)
            tmp.write_bytes(tmp.read_bytes()[:100])
    assert os.listdir(tmp_path) == []


def test_write_volume_refuses_a_nifti_shorter_than_its_header(tmp_path, monkeypatch):
    """ITK's NIfTI writer returns without an error when it could not write everything (full disk)."""
    volume = np.random.default_rng(0).random((4, 16, 16)).astype(np.float32)
    real_write = sitk.WriteImage

    def short_write(image, path, *args, **kwargs):
        real_write(image, path, *args, **kwargs)
        Path(path).write_bytes(Path(path).read_bytes()[:-200])

    monkeypatch.setattr(sitk, "WriteImage", short_write)
    for name in ("v.nii.gz", "v.nii", "v.nrrd"):
        with pytest.raises(WriteError, match=f"cannot write .*{name}"):
            write_volume(volume, _geometry(volume.shape), tmp_path / name)
    assert os.listdir(tmp_path) == []


def test_a_truncated_nifti_is_refused_when_read(tmp_path):
    volume = np.random.default_rng(0).random((4, 16, 16)).astype(np.float32)
    for name in ("v.nii.gz", "v.nii"):
        path = write_volume(volume, _geometry(volume.shape), tmp_path / name)
        check_volume_file(path)  # complete: passes
        data = path.read_bytes()
        half = tmp_path / f"half_{name}"
        half.write_bytes(data[: len(data) // 2])
        with pytest.raises(OSError, match=f"volume .*half_{name} is incomplete"):
            read_volume(half)


def test_strict_json_has_null_for_undefined_numbers(tmp_path):
    payload = {"psnr": math.inf, "ssim": [1.0, math.nan], "n": 3}
    assert json_safe(payload) == {"psnr": None, "ssim": [1.0, None], "n": 3}
    text = write_json(tmp_path / "m.json", payload).read_text()
    assert json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}")) == json_safe(
        payload
    )


def test_a_file_name_the_file_system_cannot_hold_is_refused_before_writing(tmp_path):
    with pytest.raises(OSError, match="the file name has 300 bytes"):
        write_text(tmp_path / ("x" * 296 + ".txt"), "never written")
    assert os.listdir(tmp_path) == []


FULL_DISK = textwrap.dedent(
    """
    import resource, signal, sys
    import numpy as np
    from monai_chpnet.data.synthetic import ellipse_phantom
    from monai_chpnet.inference import reconstruct_volume, write_outputs

    result = reconstruct_volume(ellipse_phantom(8, (64, 64)) * 100 + np.random.default_rng(0).random((8, 64, 64)))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, as on a full disk
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]), int(sys.argv[2])))
    try:
        write_outputs(result, sys.argv[1])
    except OSError as err:
        print(f"error: {err}")
        sys.exit(2)
    """
)


@pytest.mark.parametrize("limit", [1_000, 60_000])  # the first NIfTI fails, or only the second
def test_a_full_disk_leaves_no_output_and_no_temporary_file(tmp_path, limit):
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(out), str(limit)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=300,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    errors = [line for line in proc.stdout.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"cannot write {out}" in errors[0], proc.stdout
    assert "Traceback" not in proc.stderr
    assert os.listdir(out) == [], "a full disk left files behind"
