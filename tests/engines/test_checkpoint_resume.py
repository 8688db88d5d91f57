import os

import pytest
import torch
from ignite.engine import Events

from engine_fixtures import build

from monai_chpnet.engines import AtomicCheckpointSaver, ResumeFromCheckpoint, RunConfig, latest_checkpoint

CONFIG = {"teacher": "tiny", "student": "tiny", "kd": "dynamic"}


def _objects(trainer, student, teacher, loss, opt, topt, config=CONFIG):
    return {
        "trainer": trainer, "student": student, "teacher": teacher, "projectors": loss,
        "optimizer": opt, "teacher_optimizer": topt, "alpha": trainer.alpha, "run_config": RunConfig(config),
    }


def _killed_run(tmp_path, kill_at, save_interval=1):
    trainer, student, teacher, loss, opt, topt = build("dynamic", max_epochs=4)  # 2 iterations per epoch

    def kill(engine):
        if engine.state.iteration == kill_at:
            raise KeyboardInterrupt(f"killed at {kill_at}")

    trainer.add_event_handler(Events.ITERATION_COMPLETED, kill)  # before the saver: iteration kill_at is never saved
    AtomicCheckpointSaver(str(tmp_path), _objects(trainer, student, teacher, loss, opt, topt), save_interval, n_saved=2).attach(trainer)
    with pytest.raises(KeyboardInterrupt):
        trainer.run()


def test_kill_mid_epoch_and_resume_with_identical_state(tmp_path):
    _killed_run(tmp_path, kill_at=6)
    ckpt = latest_checkpoint(str(tmp_path))
    assert ckpt.name == "checkpoint_checkpoint_5.pt"  # mid-epoch 3 (2 iterations per epoch)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint_checkpoint_4.pt", "checkpoint_checkpoint_5.pt"]
    saved = torch.load(ckpt, weights_only=True)

    trainer, student, teacher, loss, opt, topt = build("dynamic", max_epochs=4, seed=99)  # other init: must be overwritten
    resume = ResumeFromCheckpoint(str(tmp_path), _objects(trainer, student, teacher, loss, opt, topt))
    resume.attach(trainer)
    seen = {}

    @trainer.on(Events.STARTED)
    def check_restored(engine):  # registered after the resume handler, so it sees the restored state
        seen["iteration"], seen["epoch"] = engine.state.iteration, engine.state.epoch
        for name, obj in (("optimizer", opt), ("teacher_optimizer", topt)):
            state = obj.state_dict()
            for pid, pstate in saved[name]["state"].items():
                for k, v in pstate.items():
                    assert torch.equal(torch.as_tensor(state["state"][pid][k]), torch.as_tensor(v)), (name, pid, k)
        for k, v in saved["student"].items():
            assert torch.equal(student.state_dict()[k], v)

    iterations = []
    trainer.add_event_handler(Events.ITERATION_STARTED, lambda e: iterations.append(e.state.iteration))
    trainer.run()
    assert resume.loaded_from == ckpt
    assert seen["iteration"] == 5
    assert iterations == [6, 7, 8]  # continues from the saved iteration, to the same end
    assert trainer.state.epoch == 4


def test_checkpoints_are_atomic_and_readable(tmp_path):
    _killed_run(tmp_path, kill_at=3, save_interval=0)
    names = os.listdir(tmp_path)
    assert names == ["checkpoint_checkpoint_2.pt"]  # epoch end only, no temp files left behind
    path = tmp_path / names[0]
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    assert set(torch.load(path, weights_only=True)) >= {"trainer", "student", "teacher", "optimizer", "run_config"}


def test_resume_refuses_a_different_configuration(tmp_path):
    _killed_run(tmp_path, kill_at=3, save_interval=0)
    trainer, student, teacher, loss, opt, topt = build("dynamic", max_epochs=4)
    objs = _objects(trainer, student, teacher, loss, opt, topt, config={**CONFIG, "kd": "static"})
    ResumeFromCheckpoint(str(tmp_path), objs).attach(trainer)
    with pytest.raises(ValueError, match="different configuration .*kd: checkpoint='dynamic' run='static'"):
        trainer.run()


def test_resume_refuses_another_architecture(tmp_path):
    _killed_run(tmp_path, kill_at=3, save_interval=0)
    from monai_chpnet.networks.student import student_from_preset

    trainer, student, teacher, loss, opt, topt = build("dynamic", max_epochs=4)
    other = student_from_preset("small", in_channels=2)
    objs = _objects(trainer, other, teacher, loss, opt, topt)
    ResumeFromCheckpoint(str(tmp_path), objs).attach(trainer)
    with pytest.raises(ValueError, match="entry 'student' is from another architecture"):
        trainer.run()


def test_no_checkpoint_means_a_fresh_start(tmp_path):
    trainer, student, teacher, loss, opt, topt = build("none", max_epochs=1)
    resume = ResumeFromCheckpoint(str(tmp_path / "empty"), _objects(trainer, student, teacher, loss, opt, topt))
    resume.attach(trainer)
    trainer.run()
    assert resume.loaded_from is None and trainer.state.iteration == 2


def test_a_setting_added_later_resumes_while_unset_and_is_refused_when_set():
    """A checkpoint written before a setting existed (e.g. ``unlabelled``) resumes under a run that leaves it unset."""
    old = RunConfig({"kd": "dynamic"}).state_dict()
    RunConfig({"kd": "dynamic", "unlabelled": None}).load_state_dict(old)
    with pytest.raises(ValueError, match="unlabelled: checkpoint=None run=.*'sample'"):
        RunConfig({"kd": "dynamic", "unlabelled": {"dataset": "sample"}}).load_state_dict(old)
