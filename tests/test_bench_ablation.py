"""The ablation's resume rule: a results folder is reused only for the run that made it."""

import importlib.util
from pathlib import Path

import pytest

SPEC = importlib.util.spec_from_file_location(
    "bench_ablation", Path(__file__).resolve().parents[1] / "benchmarks" / "bench_ablation.py"
)
bench = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(bench)

ALONE = "--config_file c.json --ckpt_dir out/student_alone --max_epochs 20 --teacher_weights out/{t}/teacher.pt --kd none --seed 0"
KD = "--config_file c.json --ckpt_dir out/dynamic_kd --max_epochs 20 --teacher_weights out/{t}/teacher.pt --kd dynamic --seed 0"


def test_same_run_ignores_the_teacher_only_without_distillation():
    assert bench.same_run(ALONE.format(t="teacher_continued"), ALONE.format(t="teacher_continued_2"))
    assert not bench.same_run(KD.format(t="teacher_continued"), KD.format(t="teacher_continued_2"))
    assert bench.same_run(KD.format(t="teacher_continued"), KD.format(t="teacher_continued"))
    assert not bench.same_run(ALONE.format(t="a"), ALONE.format(t="a").replace("--seed 0", "--seed 1"))


def test_train_refuses_a_folder_trained_by_another_command(tmp_path):
    d = tmp_path / "dynamic_kd"
    d.mkdir()
    (d / "model.pt").write_bytes(b"weights")
    recorded = bench.command_text(
        bench.bundle_command("train_student.json", d, {"kd": "dynamic", "teacher_weights": "old/teacher.pt"})
    )
    (d / "train_record.json").write_text(bench.json.dumps({"train_seconds": 1.0, "command": recorded}))
    # the same run is reused without training
    record = bench.train(
        "dynamic KD",
        "train_student.json",
        "model.pt",
        {"kd": "dynamic", "teacher_weights": "old/teacher.pt"},
        False,
        tmp_path,
    )
    assert record["train_seconds"] == 1.0
    # another teacher is refused with both commands in the message
    with pytest.raises(RuntimeError, match="trained by another command"):
        bench.train(
            "dynamic KD",
            "train_student.json",
            "model.pt",
            {"kd": "dynamic", "teacher_weights": "new/teacher.pt"},
            False,
            tmp_path,
        )


def test_retrain_forgets_the_resumable_checkpoints_not_the_history(tmp_path):
    d = tmp_path / "dynamic_kd"
    (d / "run").mkdir(parents=True)
    for name in (
        "run/checkpoint_checkpoint_950.pt",
        "run/checkpoint_checkpoint_1000.pt",
        "train_record.json",
        "model.pt",
        "train.log",
        "run/events.out.tfevents.1",
    ):
        (d / name).write_bytes(b"x")
    gone = bench.start_afresh(d)
    assert sorted(p.name for p in gone) == [
        "checkpoint_checkpoint_1000.pt",
        "checkpoint_checkpoint_950.pt",
        "train_record.json",
    ]
    assert sorted(p.relative_to(d).as_posix() for p in d.rglob("*") if p.is_file()) == [
        "model.pt",
        "run/events.out.tfevents.1",
        "train.log",
    ]
    assert bench.start_afresh(tmp_path / "never_trained") == []


def test_arms_change_one_switch_of_the_bundle_defaults_and_the_hint_stage_takes_its_share():
    assert bench.ARMS["dynamic KD"] == {"kd": "dynamic"}  # the new defaults, as the bundle ships them
    assert bench.arm_overrides("dynamic KD, hint stage", 1000, 0.2) == {"kd": "dynamic", "hint_iterations": 200}
    assert bench.arm_overrides("dynamic KD, soft knowledge", 1000, 0.2) == {
        "kd": "dynamic",
        "knowledge_rule": "soft",
        "tau": 0.1,
    }
    for name, overrides in bench.ARMS.items():
        if overrides.get("kd") == "dynamic" and name != "dynamic KD":
            assert len(overrides) >= 2 and name.startswith("dynamic KD, "), name
    assert "dynamic KD, in-domain unlabelled" in bench.DEFAULT_ARMS
    assert "dynamic KD, teacher-bounded" not in bench.DEFAULT_ARMS and "static KD" in bench.DEFAULT_ARMS
    assert bench.OUT.name == "ablation_complex"
    with pytest.raises(SystemExit):
        bench.main(["--arms", "dynamic KD", "no such arm"])
    with pytest.raises(SystemExit):
        bench.main(["--arms", "dynamic KD"])  # every comparison is against the student alone


def _write_runs(run_dir):
    from torch.utils.tensorboard import SummaryWriter

    train = SummaryWriter(str(run_dir))
    for step in range(1, 31):
        hint = step <= 5
        train.add_scalar("loss", 1.0, step)
        train.add_scalar("hint", float(hint), step)
        train.add_scalar("alpha", 0.5 if hint else 0.9 - 0.01 * (step - 6), step)
        train.add_scalar("kd_corrected", 0.0 if hint else 0.2, step)
        train.add_scalar("teacher_fb_weight", 3.0, step)
    train.close()
    val = SummaryWriter(str(run_dir))
    for epoch, (student, teacher) in enumerate([(20.0, 25.0), (22.0, 25.3), (23.0, 24.9)], start=1):
        val.add_scalar("val_psnr", student, epoch)
        val.add_scalar("teacher_psnr", teacher, epoch)
        val.add_scalar("teacher_baseline", 25.1, epoch)
    val.close()
    rewrite = SummaryWriter(str(run_dir))  # a resumed run writes step 30 again: the later value counts
    rewrite.add_scalar("loss", 1.0, 30)
    rewrite.add_scalar("alpha", 0.55, 30)
    rewrite.close()


def test_trajectories_are_read_from_tensorboard_and_summarised_without_the_hint_stage(tmp_path):
    import time

    _write_runs(tmp_path)
    time.sleep(0.01)
    scalars = bench.read_scalars(tmp_path)
    assert [s for s, _ in scalars["train"]["alpha"]] == list(range(1, 31))
    assert scalars["train"]["alpha"][-1][1] == pytest.approx(0.55)
    assert [v for _, v in scalars["val"]["teacher_psnr"]] == pytest.approx([25.0, 25.3, 24.9])
    t = bench.trajectory_summary(scalars)
    assert t["hint_iterations"] == 5
    assert t["alpha"] == pytest.approx({"first": 0.9, "last": 0.55, "min": 0.55, "max": 0.9})
    assert t["corrected_mean"] == pytest.approx(0.2) and t["feedback_weight_mean"] == pytest.approx(3.0)
    assert t["teacher_psnr"] == pytest.approx(
        {"pretrained": 25.1, "first_validation": 25.0, "last_validation": 24.9, "min": 24.9, "max": 25.3}
    )
    lines = bench.trajectory_table({"dynamic KD": {**t, "guard_restores": 1}})
    assert lines[-1] == "| dynamic KD | 0.90 -> 0.55 (0.55-0.90) | 25.10 -> 24.90 (24.90) | 0.200 | 3.00 | 1 |"
    assert bench.read_scalars(tmp_path / "nothing") == {"train": {}, "val": {}}
    assert bench.guard_restores(tmp_path) is None  # no checkpoint
    figure = bench.plot_trajectories({"dynamic KD": {"0": scalars}}, tmp_path / "trajectories.png")
    assert figure is None or figure.stat().st_size > 0


def test_summary_rows_keep_the_schema_and_average_sources_then_seeds():
    rows = [
        {"source": src, "acquisition": acq, "acceleration": 4.0, "method": m, "psnr": p, "ssim": 0.5, "nmse": 0.01}
        for m, base in (("dynamic KD", 30.0), ("dynamic KD [seed 1]", 31.0), ("student alone", 29.0))
        for src, acq, p in (
            ("t1_demo", "magnitude", base),
            ("epi_brain", "magnitude", base + 2),
            ("t1_demo", "phase", base - 1),
        )
    ]
    arm_of = lambda m: m.split(" [")[0]  # noqa: E731
    summary = bench.summarise(rows, ["dynamic KD", "student alone"], arm_of, {"dynamic KD": {"params": 1}})
    first = summary[0]
    assert set(first) >= {"method", "acceleration", "acquisition", "psnr", "psnr_seeds", "psnr_sd", "psnr_ood"}
    assert (first["method"], first["acquisition"], first["psnr_seeds"]) == ("dynamic KD", "magnitude", [31.0, 32.0])
    assert first["psnr"] == 31.5 and first["psnr_ood"] == 32.5 and first["params"] == 1
    assert [(s["method"], s["acquisition"], s["psnr"]) for s in summary[1:]] == [
        ("student alone", "magnitude", 30.0),
        ("dynamic KD", "phase", 29.5),
        ("student alone", "phase", 28.0),
    ]
    assert "| dynamic KD | magnitude | 4x | 31.50 |" in "\n".join(bench.summary_table(summary, 1))


def test_win_rate_of_a_teacher_over_a_student_on_training_patches(tmp_path):
    import torch

    from monai_chpnet.networks import student_from_preset, teacher_from_preset

    torch.manual_seed(0)
    torch.save(teacher_from_preset("small", in_channels=2).state_dict(), tmp_path / "teacher.pt")
    torch.save(student_from_preset("small", in_channels=2).state_dict(), tmp_path / "model.pt")
    result = bench.measure_win_rate(tmp_path / "teacher.pt", tmp_path / "model.pt", 32, 2, batches=2)
    assert 0 <= result["win_rate"] <= 1 and result["pixels"] == 2 * 2 * 32 * 32
    assert result["batches"] == 2 and result["error_ratio"] > 0


def test_recorded_settings_are_json_with_paths_as_text():
    """``--teacher-weights`` and ``--out`` arrive as paths; ``ablation.json`` must still be written (it once was not)."""
    import argparse
    import json

    args = argparse.Namespace(out=Path("results/x"), teacher_weights=Path("models/teacher.pt"), seeds=[0], no_unet=True)
    recorded = bench.recorded_settings(args)
    assert json.loads(json.dumps(recorded)) == {
        "out": "results/x",
        "teacher_weights": "models/teacher.pt",
        "seeds": [0],
        "no_unet": True,
    }
