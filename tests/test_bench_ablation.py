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
