"""The super-resolution bundle through MONAI's bundle command line: metadata, network I/O, train -> export -> infer."""

import json

import numpy as np
import SimpleITK as sitk
import torch

from tests.bundle.test_bundle import ROOT, SCHEMA, TINY, bundle

BUNDLE = ROOT / "bundles" / "chpnet_mri_sr"
CONFIGS = BUNDLE / "configs"


def config(name):
    return ["--config_file", str(CONFIGS / name), "--meta_file", str(CONFIGS / "metadata.json"),
            "--logging_file", str(CONFIGS / "logging.conf"), "--bundle_root", str(BUNDLE)]  # fmt: skip


def test_sr_metadata_and_network_io_verify():
    rc, log = bundle("verify_metadata", "--meta_file", str(CONFIGS / "metadata.json"), "--filepath", str(SCHEMA))
    assert rc == 0 and "metadata is verified with no error" in log, log[-2000:]
    rc, log = bundle("verify_net_in_out", "network_def", *config("inference.json"), "--n", "2")
    assert rc == 0 and "data shape of network is verified with no error" in log, log[-2000:]


def test_sr_teacher_then_student_then_export_and_inference(tmp_path):
    ckpt = tmp_path / "models"
    rc, log = bundle(
        "run", *config("train_teacher.json"), "--ckpt_dir", str(ckpt), "--output_dir", str(tmp_path / "t"), *TINY
    )
    assert rc == 0 and (ckpt / "teacher.pt").is_file(), log[-3000:]
    student = [
        "run",
        *config("train_student.json"),
        "--ckpt_dir",
        str(ckpt),
        "--output_dir",
        str(tmp_path / "s"),
        *TINY,
    ]
    rc, log = bundle(*student)
    assert rc == 0 and (ckpt / "model.pt").is_file(), log[-3000:]
    assert "teacher guard: pre-trained teacher teacher_psnr" in log
    rc, log = bundle(*student)  # the same command resumes from its last checkpoint
    assert rc == 0 and "resumed from" in log, log[-3000:]

    rc, log = bundle("ckpt_export", "network_def", "--filepath", str(tmp_path / "sr.ts"), "--ckpt_file",
                     str(ckpt / "model.pt"), *config("inference.json"), "--student_preset", "tiny")  # fmt: skip
    assert rc == 0 and "exported to file" in log, log[-2000:]
    from monai_chpnet.inference.superres import load_sr_network

    eager = load_sr_network(ckpt / "model.pt", 2, "kspace", "tiny")
    x = torch.rand(1, 1, 32, 24)
    with torch.no_grad():
        assert torch.allclose(torch.jit.load(str(tmp_path / "sr.ts"))(x), eager(x), atol=1e-5)

    # evaluation (degrade the sample, score) and prospective (upsample it) through inference.json
    common = [*config("inference.json"), "--student_preset", "tiny", "--ckpt_dir", str(ckpt)]
    rc, log = bundle("run", *common, "--output_dir", str(tmp_path / "eval"))
    assert rc == 0, log[-3000:]
    report = json.loads((tmp_path / "eval" / "sample_t1_brain_sr_metrics.json").read_text())
    assert set(report["metrics"]) == {"bicubic", "sinc", "super_resolved"} and report["degradation"] == "kspace"
    rc, log = bundle("run", *common, "--output_dir", str(tmp_path / "pro"), "--evaluate", "false")
    assert rc == 0, log[-3000:]
    from monai_chpnet.data.sample import sample_volume_path

    src, out = (
        sitk.ReadImage(str(sample_volume_path())),
        sitk.ReadImage(str(tmp_path / "pro" / "sample_t1_brain_sr.nii.gz")),
    )
    assert out.GetSize() == (2 * src.GetSize()[0], 2 * src.GetSize()[1], src.GetSize()[2])
    assert np.allclose(out.GetSpacing(), (src.GetSpacing()[0] / 2, src.GetSpacing()[1] / 2, src.GetSpacing()[2]))
    assert not (tmp_path / "pro" / "sample_t1_brain_sr_metrics.json").exists()
