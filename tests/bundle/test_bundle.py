"""The MONAI Bundle through its real command line (fresh processes, as users run it)."""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import SimpleITK as sitk
import torch

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "bundles" / "chpnet_mri_recon"
CONFIGS = BUNDLE / "configs"
SCHEMA = Path(__file__).with_name("meta_schema.json")
TINY = [
    "--teacher_preset",
    "tiny",
    "--student_preset",
    "tiny",
    "--max_epochs",
    "2",
    "--epoch_length",
    "2",
    "--batch_size",
    "2",
    "--patch_size",
    "32",
    "--num_workers",
    "0",
    "--val_interval",
    "2",
]


def bundle(*args, env=None, timeout=300):
    cmd = [sys.executable, "-m", "monai.bundle", *args]
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
    )
    return proc.returncode, proc.stdout + proc.stderr


def config(name):
    return [
        "--config_file",
        str(CONFIGS / name),
        "--meta_file",
        str(CONFIGS / "metadata.json"),
        "--logging_file",
        str(CONFIGS / "logging.conf"),
        "--bundle_root",
        str(BUNDLE),
    ]


def test_metadata_verifies_against_the_specification_schema(tmp_path):
    rc, log = bundle("verify_metadata", "--meta_file", str(CONFIGS / "metadata.json"), "--filepath", str(SCHEMA))
    assert rc == 0 and "metadata is verified with no error" in log, log[-2000:]
    # the schema is not a rubber stamp: a metadata file without its task is rejected
    meta = json.loads((CONFIGS / "metadata.json").read_text())
    del meta["task"]
    (tmp_path / "bad.json").write_text(json.dumps(meta))
    rc, log = bundle("verify_metadata", "--meta_file", str(tmp_path / "bad.json"), "--filepath", str(SCHEMA))
    assert rc != 0 and "'task' is a required property" in log
    assert meta["eval_metrics"], "eval_metrics must be filled from a real evaluation"


def test_metadata_eval_metrics_are_the_shipped_evaluation():
    from monai_chpnet.inference import metadata_eval_metrics

    rows = json.loads((BUNDLE / "eval" / "metrics.json").read_text())
    meta = json.loads((CONFIGS / "metadata.json").read_text())
    assert meta["eval_metrics"] == metadata_eval_metrics(rows)


def test_evaluate_config_writes_metrics_and_updates_metadata_on_request(tmp_path):
    vol = (np.random.default_rng(0).random((2, 32, 32)) > 0.5).astype(np.float32)
    vol[:, 8:24, 8:24] += 2.0
    sitk.WriteImage(sitk.GetImageFromArray(vol), str(tmp_path / "phantom.nii.gz"))
    meta_file = tmp_path / "metadata.json"
    shutil.copy(CONFIGS / "metadata.json", meta_file)
    common = [
        *config("evaluate.json"),
        "--output_dir",
        str(tmp_path / "eval"),
        "--metadata_file",
        str(meta_file),
        "--dataset",
        f"${{'phantom': {str(tmp_path / 'phantom.nii.gz')!r}}}",
        "--networks",
        "$dict([('zero-filled', None)])",
        "--accelerations",
        "[4.0]",
    ]
    rc, log = bundle("run", *common, "--update_metadata", "false")  # a command-line string, not a bool
    assert rc == 0, log[-2000:]
    rows = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    # every image source is evaluated as it is and as a phase-bearing acquisition
    assert [(r["source"], r["acquisition"], r["method"]) for r in rows] == [
        ("phantom", "magnitude", "zero-filled"),
        ("phantom", "phase", "zero-filled"),
    ]
    assert rows[0]["psnr"] > 0 and rows[1]["psnr"] > 0 and rows[0]["psnr"] != rows[1]["psnr"]
    assert meta_file.read_text() == (CONFIGS / "metadata.json").read_text()  # not asked: untouched
    rc, log = bundle("run", *common, "--update_metadata", "true")
    assert rc == 0 and "eval_metrics written to" in log, log[-2000:]
    meta = json.loads(meta_file.read_text())
    assert meta["eval_metrics"] == {
        "phantom_4x_zero_filled_psnr": round(rows[0]["psnr"], 3),
        "phantom_4x_zero_filled_ssim": round(rows[0]["ssim"], 4),
        "phantom_phase_4x_zero_filled_psnr": round(rows[1]["psnr"], 3),
        "phantom_phase_4x_zero_filled_ssim": round(rows[1]["ssim"], 4),
    }
    assert meta["version"] == json.loads((CONFIGS / "metadata.json").read_text())["version"]


def test_network_io_verifies():
    rc, log = bundle("verify_net_in_out", "network_def", *config("inference.json"), "--n", "2")
    assert rc == 0 and "data shape of network is verified with no error" in log, log[-2000:]


def test_shipped_weights_load_and_torchscript_export_matches(tmp_path):
    from monai_chpnet.inference import load_network
    from monai_chpnet.networks import teacher_from_preset

    student = load_network(BUNDLE / "models" / "model.pt", preset="small")
    load_network(BUNDLE / "models" / "teacher.pt", network=teacher_from_preset("small", in_channels=2))
    rc, log = bundle(
        "ckpt_export",
        "network_def",
        "--filepath",
        str(tmp_path / "model.ts"),
        "--ckpt_file",
        str(BUNDLE / "models" / "model.pt"),
        *config("inference.json"),
    )
    assert rc == 0 and "exported to file" in log, log[-2000:]
    scripted = torch.jit.load(str(tmp_path / "model.ts"))
    x = torch.randn(1, 2, 64, 48)
    k = torch.randn(1, 1, 64, 48, dtype=torch.complex64)
    m = (torch.rand(1, 1, 1, 48) > 0.6).float()
    with torch.no_grad():
        assert torch.allclose(scripted(x, k * m, m), student(x, k * m, m), atol=1e-5)
        assert torch.allclose(scripted(x), student(x), atol=1e-5)
    shipped = BUNDLE / "models" / "model.ts"
    assert shipped.is_file()
    with torch.no_grad():
        assert torch.allclose(torch.jit.load(str(shipped))(x, k * m, m), student(x, k * m, m), atol=1e-5)


def test_main_job_beats_zero_filling_and_writes_geometry(tmp_path):
    rc, log = bundle("run", *config("inference.json"), "--output_dir", str(tmp_path))
    assert rc == 0, log[-3000:]
    report = json.loads((tmp_path / "sample_t1_brain_metrics.json").read_text())
    m = report["metrics"]
    assert m["reconstruction"]["psnr"] > m["zero_filled"]["psnr"] + 1.0, m
    assert m["reconstruction"]["ssim"] > m["zero_filled"]["ssim"], m
    assert report["seconds"] < 30
    from monai_chpnet.data.sample import sample_volume_path

    ref, out = sitk.ReadImage(str(sample_volume_path())), sitk.ReadImage(str(tmp_path / "sample_t1_brain_recon.nii.gz"))
    assert out.GetSize() == ref.GetSize() and np.allclose(out.GetDirection(), ref.GetDirection())
    assert np.allclose(out.GetOrigin(), ref.GetOrigin()) and np.allclose(out.GetSpacing(), ref.GetSpacing())
    assert (tmp_path / "sample_t1_brain_figure.png").is_file()


def test_inference_on_fastmri_h5_and_dicom_series(tmp_path):
    from monai_chpnet.data.synthetic import ellipse_phantom, write_fastmri_h5

    h5 = tmp_path / "file_knee.h5"
    write_fastmri_h5(h5, ellipse_phantom(2, (64, 48)), kspace_shape=(80, 64), recon_size=(48, 48))
    rc, log = bundle("run", *config("inference.json"), "--input_path", str(h5), "--output_dir", str(tmp_path / "h5"))
    assert rc == 0, log[-3000:]
    assert json.loads((tmp_path / "h5" / "file_knee_metrics.json").read_text())["slices"] == 2
    series = tmp_path / "series"
    series.mkdir()
    vol = (ellipse_phantom(3, (48, 48)) * 1000).astype(np.int16)
    img = sitk.GetImageFromArray(vol)
    img.SetSpacing((0.5, 0.5, 3.0))
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()  # else every file gets a new series UID
    for k in range(3):
        s = img[:, :, k]
        for tag, value in (
            ("0020|000e", "1.2.826.0.1.3680043.2.1125.1.77"),
            ("0020|0013", str(k + 1)),
            ("0020|0032", "\\".join(map(str, img.TransformIndexToPhysicalPoint((0, 0, k))))),
            ("0020|0037", "1\\0\\0\\0\\1\\0"),
            ("0008|0060", "MR"),
        ):
            s.SetMetaData(tag, value)
        writer.SetFileName(str(series / f"{k}.dcm"))
        writer.Execute(s)
    rc, log = bundle(
        "run",
        *config("inference.json"),
        "--input_path",
        str(series),
        "--output_dir",
        str(tmp_path / "dcm"),
        "--acceleration",
        "8",
    )
    assert rc == 0, log[-3000:]
    out = sitk.ReadImage(str(tmp_path / "dcm" / "series_recon.nii.gz"))
    assert out.GetSize() == (48, 48, 3) and np.allclose(out.GetSpacing(), (0.5, 0.5, 3.0), atol=1e-4)


def test_bad_inputs_are_one_line_errors(tmp_path):
    cases = [
        (["--ckpt_dir", str(tmp_path / "none")], "network weights not found"),
        (["--input_path", str(tmp_path / "missing.nii.gz")], "input not found"),
        (["--output_dir", str(Path(__file__))], "exists and is a file"),
    ]
    bad_h5 = tmp_path / "multi.h5"
    from monai_chpnet.data.synthetic import ellipse_phantom, write_fastmri_h5

    write_fastmri_h5(bad_h5, ellipse_phantom(2, (32, 32)), kspace_shape=(32, 32), recon_size=(32, 32), num_coils=2)
    cases.append((["--input_path", str(bad_h5)], "multi-coil"))
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "model.pt")
    cases.append((["--ckpt_dir", str(tmp_path)], "do not fit SubpixelCNNStudent"))
    for args, message in cases:
        rc, log = bundle("run", *config("inference.json"), "--output_dir", str(tmp_path / "out"), *args)
        errors = [line for line in log.splitlines() if line.startswith("error:")]
        assert rc != 0 and len(errors) == 1 and message in errors[0], (args, log[-1500:])
        assert "Traceback" not in log
    assert not list((tmp_path / "out").glob("*.nii.gz")) if (tmp_path / "out").exists() else True


def test_student_trains_on_fastmri_singlecoil_folders(tmp_path):
    """--dataset fastmri reads <dataset_dir>/singlecoil_train and singlecoil_val (the model card's retraining path)."""
    from monai_chpnet.data.synthetic import ellipse_phantom, write_fastmri_h5

    for split, n in (("train", 3), ("val", 2)):
        write_fastmri_h5(
            tmp_path / "knee" / f"singlecoil_{split}" / f"{split}1.h5",
            ellipse_phantom(n, (32, 32)),
            kspace_shape=(64, 64),
            recon_size=(32, 32),
        )
    rc, log = bundle(
        "run",
        *config("train_student.json"),
        "--ckpt_dir",
        str(tmp_path / "models"),
        "--output_dir",
        str(tmp_path / "s"),
        "--dataset",
        "fastmri",
        "--dataset_dir",
        str(tmp_path / "knee"),
        "--kd",
        "none",
        *TINY,
    )
    assert rc == 0 and (tmp_path / "models" / "model.pt").is_file(), log[-3000:]
    assert "val_psnr" in log and "zf_psnr" in log
    from monai.bundle import ConfigParser

    for name in ("train_student.json", "train_teacher.json"):  # each volume's 'max' is its data range
        parser = ConfigParser()
        parser.read_config(str(CONFIGS / name))
        parser.update({"bundle_root": str(BUNDLE), "dataset": "fastmri", "kd": "none"})
        metrics = parser.get_parsed_content("validate#metrics")
        assert {(m.volume_key, m.data_range_key) for m in metrics.values()} == {("fname", "max")}, name
    # distillation on the test split's prospectively undersampled files: taken as acquired, truth-free
    from monai_chpnet.networks import teacher_from_preset

    h5 = tmp_path / "knee" / "singlecoil_test" / "test1.h5"
    write_fastmri_h5(h5, ellipse_phantom(2, (32, 32)), kspace_shape=(64, 64), recon_size=(32, 32))
    with h5py.File(h5, "a") as f:
        f["kspace"][..., 1::3] = 0  # acquired on two columns in three
        del f["reconstruction_esc"]
    torch.save(teacher_from_preset("tiny", in_channels=2).state_dict(), tmp_path / "models" / "teacher.pt")
    rc, log = bundle(
        "run",
        *config("train_student.json"),
        "--ckpt_dir",
        str(tmp_path / "models"),
        "--output_dir",
        str(tmp_path / "u"),
        "--dataset",
        "fastmri",
        "--dataset_dir",
        str(tmp_path / "knee"),
        "--kd",
        "static",
        "--unlabelled_dataset",
        "fastmri_acquired",
        "--unlabelled_dir",
        str(h5.parent),
        *TINY[:4],
        "--max_epochs",
        "1",
        "--epoch_length",
        "10",
        *TINY[8:14],
        "--val_interval",
        "1",
    )  # 10 iterations: the stats line is logged every 10th
    assert rc == 0, log[-3000:]
    unl = [float(x) for x in re.findall(r"loss_unl: ([0-9.]+)", log)]
    assert unl and all(v > 0 for v in unl), log[-2000:]


@pytest.mark.slow
def test_train_teacher_then_distil_student_with_tiny_overrides(tmp_path):
    ckpt = tmp_path / "models"
    rc, log = bundle(
        "run", *config("train_teacher.json"), "--ckpt_dir", str(ckpt), "--output_dir", str(tmp_path / "t"), *TINY
    )
    assert rc == 0 and (ckpt / "teacher.pt").is_file(), log[-3000:]
    rc, log = bundle(
        "run",
        *config("train_student.json"),
        "--ckpt_dir",
        str(ckpt),
        "--output_dir",
        str(tmp_path / "s"),
        "--kd",
        "dynamic",
        *TINY,
    )
    assert rc == 0 and (ckpt / "model.pt").is_file(), log[-3000:]
    assert "teacher guard: pre-trained teacher teacher_psnr" in log and "teacher_nmse" in log
    assert sorted(p.name for p in (tmp_path / "s").glob("checkpoint_*.pt")) == [
        "checkpoint_checkpoint_2.pt",
        "checkpoint_checkpoint_4.pt",
    ]
    # a second run of the same command resumes from the last checkpoint (and finds nothing left to do)
    rc, log = bundle(
        "run",
        *config("train_student.json"),
        "--ckpt_dir",
        str(ckpt),
        "--output_dir",
        str(tmp_path / "s"),
        "--kd",
        "dynamic",
        *TINY,
    )
    assert rc == 0 and "resumed from" in log and "checkpoint_checkpoint_4.pt" in log, log[-3000:]
    saved = torch.load(tmp_path / "s" / "checkpoint_checkpoint_4.pt", weights_only=True)
    assert saved["best_model"]["_saved"], "the best score travels with the training checkpoint"
    assert json.loads(saved["run_config"]["config"])["teacher_weights"] == str((ckpt / "teacher.pt").resolve())
    # the ablation switches really switch (command-line strings included: fire passes 'false' as a string)
    from monai.bundle import ConfigParser

    for overrides, knowledge_on, feature_on, bounded in (
        ({}, True, True, False),
        ({"edge_correction": "false"}, False, True, False),
        ({"feature_kd": "false"}, True, False, False),
        ({"kd": "none"}, True, False, False),
        ({"teacher_bounded": "true"}, True, True, True),
        ({"kd_mix": "convex", "kd_ssim_weight": "1.0"}, True, True, False),
    ):
        parser = ConfigParser()
        parser.read_config(str(CONFIGS / "train_student.json"))
        parser.update(
            {
                "bundle_root": str(BUNDLE),
                "ckpt_dir": str(ckpt),
                "teacher_preset": "tiny",
                "student_preset": "tiny",
                **overrides,
            }
        )
        loss = parser.get_parsed_content("loss")
        assert (loss.knowledge is not None) is knowledge_on and (loss.feature is not None) is feature_on, overrides
        assert loss.output.bounded is bounded, overrides
        if knowledge_on:  # the default knowledge: the teacher, replaced by the truth only where its edges are wrong
            assert (loss.knowledge.rule, loss.knowledge.tau, loss.knowledge.dilation) == ("mask", 0.3, 0), overrides
        assert (loss.mix, loss.output.ssim_weight) == (
            overrides.get("kd_mix", "add"),
            float(overrides.get("kd_ssim_weight", 0)),
        ), overrides
    # the other ablation arms run through the same config
    for kd, extra in (
        ("none", []),
        (
            "static",
            [
                "--feature_kd",
                "false",
                "--edge_correction",
                "false",
                "--unlabelled_dataset",
                "sample",
                "--unlabelled_weight",
                "0.5",
            ],
        ),
    ):
        rc, log = bundle(
            "run",
            *config("train_student.json"),
            "--ckpt_dir",
            str(ckpt),
            "--output_dir",
            str(tmp_path / kd),
            "--kd",
            kd,
            *extra,
            *TINY,
        )
        assert rc == 0, (kd, log[-3000:])
    # inputs without a reference: the trainer gets their loader (truth deleted), and only where a teacher is
    parser = ConfigParser()
    parser.read_config(str(CONFIGS / "train_student.json"))
    parser.update(
        {
            "bundle_root": str(BUNDLE),
            "ckpt_dir": str(ckpt),
            "teacher_preset": "tiny",
            "student_preset": "tiny",
            "patch_size": 32,
            "num_workers": 0,
            "unlabelled_dataset": "sample",
            "unlabelled_weight": "0.5",
        }
    )
    trainer = parser.get_parsed_content("train#trainer")
    batch = next(iter(trainer.unlabelled_data_loader))
    assert "target" not in batch and "kspace" not in batch and batch["image"].shape[1:] == (2, 32, 32)
    assert trainer.loss_function.unlabelled_weight == 0.5
    assert parser.get_parsed_content("run_config").config["unlabelled"] == {
        "dataset": "sample",
        "dir": None,
        "weight": 0.5,
    }
    # the defaults of kd=dynamic: depth-matched pairs, alpha from each batch, a balanced feedback and the guard
    assert trainer.loss_function.feature.pairs == [("cascade0_dec", "group0"), ("cascade1_dec", "group1")]
    assert (trainer.alpha.signal, trainer.alpha.temperature, trainer.alpha.momentum) == ("batch", 0.25, 0.9)
    assert trainer.feedback_weight.ratio == 0.5 and trainer.hint_iterations == 0
    guard = parser.get_parsed_content("train#teacher_guard")
    assert guard.margin == 0.2 and guard.feedback is trainer.feedback_weight
    assert any(h is guard for h in parser.get_parsed_content("train#handlers"))


@pytest.mark.slow
def test_multi_gpu_config_runs_under_torchrun_on_cpu(tmp_path):
    ckpt = tmp_path / "models"
    rc, log = bundle(
        "run", *config("train_teacher.json"), "--ckpt_dir", str(ckpt), "--output_dir", str(tmp_path / "t"), *TINY
    )
    assert rc == 0, log[-2000:]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    files = json.dumps([str(CONFIGS / "train_student.json"), str(CONFIGS / "multi_gpu_train.json")])
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(port),
        "-m",
        "monai.bundle",
        "run",
        "--config_file",
        files,
        "--meta_file",
        str(CONFIGS / "metadata.json"),
        "--logging_file",
        str(CONFIGS / "logging.conf"),
        "--bundle_root",
        str(BUNDLE),
        "--ckpt_dir",
        str(ckpt),
        "--output_dir",
        str(tmp_path / "ddp"),
        "--unlabelled_dataset",
        "sample",
        *TINY,
    ]
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        log, _ = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        pytest.fail("torchrun did not finish in 300 s")
    assert proc.returncode == 0, log[-3000:]
    assert log.count("Engine run finished") >= 2 and (ckpt / "model.pt").is_file()
    writers = {p.name.split(".")[-2] for p in (tmp_path / "ddp").glob("events.out.tfevents.*")}  # the writers' pids
    assert len(writers) == 1, f"TensorBoard files from {len(writers)} processes: only rank 0 logs"


def test_teacher_config_starts_from_init_weights_and_names_a_wrong_file(tmp_path):
    """``init_weights`` warm-starts the teacher (e.g. a second cosine cycle); another architecture is refused."""
    from monai.bundle import ConfigParser

    from monai_chpnet.networks import student_from_preset, teacher_from_preset

    torch.manual_seed(1)
    source = teacher_from_preset("tiny", in_channels=2)
    torch.save({"model": source.state_dict()}, tmp_path / "teacher.pt")
    torch.save(student_from_preset("tiny", in_channels=2).state_dict(), tmp_path / "student.pt")

    def network(init_weights):
        parser = ConfigParser()
        parser.read_config(str(CONFIGS / "train_teacher.json"))
        parser.update(
            {
                "bundle_root": str(BUNDLE),
                "teacher_preset": "tiny",
                "device": "$torch.device('cpu')",
                "init_weights": init_weights,
            }
        )
        return parser.get_parsed_content("network")

    warm = network(str(tmp_path / "teacher.pt"))
    for name, value in source.state_dict().items():
        assert torch.equal(warm.state_dict()[name], value), name
    cold = network(None)  # the default: a fresh SwinIR initialisation, not the file's weights
    assert not torch.equal(cold.state_dict()["conv_first.weight"], source.state_dict()["conv_first.weight"])
    with pytest.raises(RuntimeError) as info:  # MONAI's config parser chains the loader's specific error
        network(str(tmp_path / "student.pt"))
    assert isinstance(info.value.__cause__, ValueError) and "student.pt" in str(info.value.__cause__)
    assert "do not fit SwinRestorationTeacher" in str(info.value.__cause__)


def test_a_second_stage_in_the_first_stages_folder_is_refused_not_resumed(tmp_path):
    """Changing the learning rate or the starting weights is a new run: resuming the old one instead would
    silently continue its schedule and discard ``init_weights`` (the model card's second teacher cycle)."""
    ckpt = tmp_path / "models"
    stage1 = [*config("train_teacher.json"), "--ckpt_dir", str(ckpt), "--output_dir", str(tmp_path / "t1"), *TINY]
    rc, log = bundle("run", *stage1)
    assert rc == 0, log[-2000:]
    shutil.copy(ckpt / "teacher.pt", tmp_path / "stage1.pt")
    second = ["--learning_rate", "0.00025", "--init_weights", str(tmp_path / "stage1.pt"), "--max_epochs", "4"]
    rc, log = bundle("run", *stage1, *second)
    errors = [line for line in log.splitlines() if line.startswith("error:")]
    assert rc != 0 and len(errors) == 1 and "cannot resume" in errors[0], log[-2000:]
    assert "learning_rate: checkpoint=0.0005 run=0.00025" in errors[0] and "init_weights" in errors[0]
    assert "Traceback" not in log  # refused before the engine starts: one line, no engine exception report
    rc, log = bundle(
        "run",
        *config("train_teacher.json"),
        "--ckpt_dir",
        str(ckpt),
        "--output_dir",
        str(tmp_path / "t2"),
        *TINY,
        *second,
    )
    assert rc == 0 and "resumed from" not in log, log[-2000:]


def _tensorboard_scalars(folder, tag):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    values = {}
    for events in sorted(Path(folder).glob("events.out.tfevents.*")):
        acc = EventAccumulator(str(events))
        acc.Reload()
        if tag in acc.Tags()["scalars"]:
            values.update({e.step: e.value for e in acc.Scalars(tag)})
    return values


@pytest.mark.slow
def test_hint_then_ground_truth_training_runs_through_the_bundle_and_resumes(tmp_path):
    """--hint_iterations: the first iterations train on the teacher's features alone, the rest on the truth; a run
    stopped inside the hint stage resumes in the right stage, and another hint length is refused on resume."""
    from monai_chpnet.networks import teacher_from_preset

    (tmp_path / "models").mkdir()
    torch.save(teacher_from_preset("tiny", in_channels=2).state_dict(), tmp_path / "models" / "teacher.pt")

    def run(hint="3", epochs="2"):
        tiny = [epochs if i > 0 and TINY[i - 1] == "--max_epochs" else v for i, v in enumerate(TINY)]
        out = ["--ckpt_dir", str(tmp_path / "models"), "--output_dir", str(tmp_path / "s")]
        return bundle("run", *config("train_student.json"), *out, *tiny, "--hint_iterations", hint)

    rc, log = run(epochs="1")  # 2 iterations, both in the hint stage
    assert rc == 0 and "teacher guard: pre-trained teacher" in log, log[-3000:]
    rc, log = run()  # resumed: iteration 3 is a hint, 4 ground truth, then the validation and its guard
    assert rc == 0 and "resumed from" in log and "checkpoint_checkpoint_2.pt" in log, log[-3000:]
    assert "teacher guard: pre-trained teacher" not in log and "teacher guard: teacher_psnr" in log
    assert _tensorboard_scalars(tmp_path / "s", "hint") == {1: 1.0, 2: 1.0, 3: 1.0, 4: 0.0}
    assert set(_tensorboard_scalars(tmp_path / "s", "kd_corrected")) == {1, 2, 3, 4}
    saved = torch.load(tmp_path / "s" / "checkpoint_checkpoint_4.pt", weights_only=True)
    assert json.loads(saved["run_config"]["config"])["hint_iterations"] == 3
    assert saved["teacher_guard"]["baseline"] is not None
    rc, log = run(hint="2")
    errors = [line for line in log.splitlines() if line.startswith("error:")]
    assert rc != 0 and len(errors) == 1 and "hint_iterations: checkpoint=3 run=2" in errors[0], log[-2000:]
