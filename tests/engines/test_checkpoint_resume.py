import os

import pytest
import torch
from ignite.engine import Events

from engine_fixtures import build

from monai_chpnet.engines import AtomicCheckpointSaver, ResumeFromCheckpoint, RunConfig, latest_checkpoint

CONFIG = {"teacher": "tiny", "student": "tiny", "kd": "dynamic"}


def _objects(trainer, student, teacher, loss, opt, topt, config=CONFIG):
    return {
        "trainer": trainer,
        "student": student,
        "teacher": teacher,
        "projectors": loss,
        "optimizer": opt,
        "teacher_optimizer": topt,
        "alpha": trainer.alpha,
        "run_config": RunConfig(config),
    }


def _killed_run(tmp_path, kill_at, save_interval=1):
    trainer, student, teacher, loss, opt, topt = build("dynamic", max_epochs=4)  # 2 iterations per epoch

    def kill(engine):
        if engine.state.iteration == kill_at:
            raise KeyboardInterrupt(f"killed at {kill_at}")

    trainer.add_event_handler(Events.ITERATION_COMPLETED, kill)  # before the saver: iteration kill_at is never saved
    AtomicCheckpointSaver(
        str(tmp_path), _objects(trainer, student, teacher, loss, opt, topt), save_interval, n_saved=2
    ).attach(trainer)
    with pytest.raises(KeyboardInterrupt):
        trainer.run()


def test_kill_mid_epoch_and_resume_with_identical_state(tmp_path):
    _killed_run(tmp_path, kill_at=6)
    ckpt = latest_checkpoint(str(tmp_path))
    assert ckpt.name == "checkpoint_checkpoint_5.pt"  # mid-epoch 3 (2 iterations per epoch)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint_checkpoint_4.pt", "checkpoint_checkpoint_5.pt"]
    saved = torch.load(ckpt, weights_only=True)

    trainer, student, teacher, loss, opt, topt = build(
        "dynamic", max_epochs=4, seed=99
    )  # other init: must be overwritten
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
    with pytest.raises(ValueError, match="different configuration .*kd: checkpoint='dynamic' run='static'"):
        ResumeFromCheckpoint(str(tmp_path), objs).attach(trainer)  # refused before the engine starts
    started = []
    trainer.add_event_handler(Events.STARTED, lambda e: started.append(1))
    with pytest.raises(ValueError, match="different configuration"):  # also when called without attach
        ResumeFromCheckpoint(str(tmp_path), objs)(trainer)
    assert not started


def test_resume_refuses_another_architecture(tmp_path):
    _killed_run(tmp_path, kill_at=3, save_interval=0)
    from monai_chpnet.networks.student import student_from_preset

    trainer, student, teacher, loss, opt, topt = build("dynamic", max_epochs=4)
    other = student_from_preset("small", in_channels=2)
    objs = _objects(trainer, other, teacher, loss, opt, topt)
    with pytest.raises(ValueError, match="entry 'student' is from another architecture"):
        ResumeFromCheckpoint(str(tmp_path), objs).attach(trainer)


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


def test_an_epoch_end_checkpoint_holds_the_epoch_end_state(tmp_path):
    """With ``save_interval`` = epoch length, the save at an epoch's last iteration must wait for the epoch-end
    handlers (epoch-level LR step, validation, alpha): saved before them, a resumed run would repeat one LR step
    less than an uninterrupted one."""
    from monai.handlers import LrScheduleHandler

    trainer, student, teacher, loss, opt, topt = build("dynamic", max_epochs=4)  # 2 iterations per epoch
    scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    LrScheduleHandler(scheduler, print_lr=False).attach(trainer)  # epoch-level, attached before the saver

    def kill(engine):
        if engine.state.iteration == 5:
            raise KeyboardInterrupt("killed at 5")

    trainer.add_event_handler(Events.ITERATION_COMPLETED, kill)
    objects = {**_objects(trainer, student, teacher, loss, opt, topt), "lr_scheduler": scheduler}
    AtomicCheckpointSaver(str(tmp_path), objects, save_interval=2, n_saved=2).attach(trainer)
    with pytest.raises(KeyboardInterrupt):
        trainer.run()
    saved = torch.load(latest_checkpoint(str(tmp_path)), weights_only=True)
    assert saved["trainer"]["iteration"] == 4 and saved["lr_scheduler"]["last_epoch"] == 2  # both epochs' steps
    assert saved["optimizer"]["param_groups"][0]["lr"] == pytest.approx(opt.defaults["lr"] * 0.25)


def test_a_resumed_run_keeps_its_best_score_and_model(tmp_path):
    """The best-metric saver is part of the training checkpoint: after a resume, a validation worse than the best
    before the interruption must not overwrite ``model.pt``."""
    from ignite.engine import Engine

    from monai_chpnet.networks.student import student_from_preset

    net = student_from_preset("tiny", in_channels=2)

    def validation(saver, psnr, epoch):
        evaluator = Engine(lambda e, b: None)
        evaluator.state.metrics, evaluator.state.epoch = {"val_psnr": psnr}, epoch
        saver._save_best(evaluator)
        return torch.load(tmp_path / "model.pt", weights_only=True)

    def best_saver():
        return AtomicCheckpointSaver(
            str(tmp_path), {"model": net}, key_metric_name="val_psnr", key_metric_filename="model.pt"
        )

    def train_a_bit():
        with torch.no_grad():
            for p in net.parameters():
                p.add_(1.0)

    def same(a, b):
        return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    before = best_saver()
    first = validation(before, 30.0, 1)
    torch.save({"best_model": before.state_dict()}, tmp_path / "ckpt.pt")  # as the training checkpoint stores it

    train_a_bit()
    resumed = best_saver()  # a new process
    resumed.load_state_dict(torch.load(tmp_path / "ckpt.pt", weights_only=True)["best_model"])
    assert same(validation(resumed, 25.0, 2), first)  # worse than before the interruption: kept
    better = validation(resumed, 31.0, 3)
    assert not same(better, first) and same(better, net.state_dict())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt", "model.pt"]
    train_a_bit()
    forgetful = best_saver()  # without the saved state, a worse score overwrites the best model
    assert same(validation(forgetful, 20.0, 4), net.state_dict())


def test_a_checkpoint_from_before_the_best_score_was_saved_still_resumes(tmp_path, caplog):
    _killed_run(tmp_path, kill_at=3, save_interval=0)  # its checkpoint has no best-model saver state
    trainer, student, teacher, loss, opt, topt = build("dynamic", max_epochs=4)
    best = AtomicCheckpointSaver(
        str(tmp_path / "best"), {"model": student}, key_metric_name="val_psnr", key_metric_filename="model.pt"
    )
    resume = ResumeFromCheckpoint(
        str(tmp_path), {**_objects(trainer, student, teacher, loss, opt, topt), "best_model": best}
    )
    resume.attach(trainer)
    with caplog.at_level("WARNING"):
        trainer.run()
    assert resume.loaded_from is not None and trainer.state.iteration == 8
    assert "has no ['best_model']" in caplog.text and "resuming without the best score" in caplog.text


def test_settings_a_checkpoint_does_not_record_are_named_as_such():
    old = RunConfig({"kd": "dynamic"}).state_dict()
    with pytest.raises(
        ValueError, match=r"learning_rate: checkpoint=None run=0.001.*does not record \['learning_rate'\]"
    ):
        RunConfig({"kd": "dynamic", "learning_rate": 0.001}).load_state_dict(old)
