"""The corrected distillation design (issue #18): a moving alpha, a feedback that moves the teacher, its guard, the
hint stage and the teacher's win rate -- with values, through the trainer."""

import math

import pytest
import torch
from ignite.engine import Engine, Events

from engine_fixtures import build, loader, networks

from monai_chpnet.engines import (
    AtomicCheckpointSaver,
    ResumeFromCheckpoint,
    RunConfig,
    TeacherGuard,
    latest_checkpoint,
    match_target,
    teacher_win_rate,
)
from monai_chpnet.losses import BalancedFeedbackWeight, DynamicKDWeight, ReconstructionLoss, TeacherFeedbackLoss


def _record(trainer, *keys):
    rows = []
    trainer.add_event_handler(
        Events.ITERATION_COMPLETED, lambda e: rows.append({k: e.state.output.get(k) for k in keys})
    )
    return rows


def _params(module):
    return [p.detach().clone() for p in module.parameters()]


def _same(before, module):
    return all(torch.equal(a, b) for a, b in zip(before, module.parameters()))


def test_batch_alpha_follows_each_batchs_error_ratio_in_dynamic_mode_only():
    alpha = DynamicKDWeight(initial=0.5, momentum=0.0, temperature=0.2, signal="batch")
    trainer, *_ = build("dynamic", max_epochs=3, alpha=alpha)
    rows = _record(trainer, "alpha", "kd_error_ratio")
    trainer.run()
    assert len(rows) == 6 and alpha.num_updates == 6
    for row in rows:  # without smoothing alpha is sigmoid(log(err_s / err_t) / T) of the batch just seen
        assert row["alpha"] == pytest.approx(1 / (1 + row["kd_error_ratio"] ** -5), rel=1e-6)
    assert len({round(r["alpha"], 6) for r in rows}) == 6  # it changes whenever the ratio does
    assert max(r["alpha"] for r in rows) - min(r["alpha"] for r in rows) > 0.01

    static = DynamicKDWeight(initial=0.5, momentum=0.0, temperature=0.2, signal="batch")
    trainer, *_ = build("static", max_epochs=1, alpha=static)
    rows = _record(trainer, "alpha", "kd_error_ratio")
    trainer.run()
    assert [r["alpha"] for r in rows] == [0.5, 0.5] and static.num_updates == 0  # static KD: a constant alpha
    assert all(r["kd_error_ratio"] > 0 for r in rows)  # still logged

    validation = DynamicKDWeight(initial=0.5, signal="validation")  # updated by DynamicKDWeightHandler only
    trainer, *_ = build("dynamic", max_epochs=1, alpha=validation)
    trainer.run()
    assert validation.num_updates == 0


class _RecordingBalance(BalancedFeedbackWeight):
    """Records the gradient norms it balanced, at the teacher's output."""

    def __init__(self, ratio):
        super().__init__(ratio)
        self.norms = []

    def weight(self, rec_grad, fb_grad):
        lam = super().weight(rec_grad, fb_grad)
        self.norms.append((float(rec_grad.norm()), float(fb_grad.norm()), lam))
        return lam


def test_dynamic_feedback_gradient_is_a_set_fraction_of_the_teachers_reconstruction_gradient():
    ratio = 0.5
    balance = _RecordingBalance(ratio)
    trainer, student, teacher, *_ = build("dynamic", max_epochs=2, feedback_weight=balance)
    rows = _record(trainer, "teacher_fb_weight", "teacher_fb")
    trainer.run()
    assert len(balance.norms) == 4
    for (rec_norm, fb_norm, lam), row in zip(balance.norms, rows):
        assert row["teacher_fb_weight"] == lam > 0
        assert lam * fb_norm / rec_norm == pytest.approx(ratio, rel=1e-5)  # at the teacher's output: exactly 0.5
    # through the network (the teacher's parameters) the two gradients stay within a factor 10 of that fraction
    image, target, _, kw = trainer.prepare_batch(next(iter(loader(seed=5))), "cpu")
    t_mag = match_target(teacher(image, **kw), target.shape[-2:])
    with torch.no_grad():
        s_mag = match_target(student(image, **kw), target.shape[-2:])
    rec, fb = ReconstructionLoss()(t_mag, target), TeacherFeedbackLoss()(t_mag, s_mag, target)
    lam = BalancedFeedbackWeight(ratio)(rec, fb, t_mag)
    params = list(teacher.parameters())
    g_rec = torch.cat([g.flatten() for g in torch.autograd.grad(rec, params, retain_graph=True)])
    g_fb = torch.cat([g.flatten() for g in torch.autograd.grad(lam * fb, params)])
    assert ratio / 10 < float(g_fb.norm() / g_rec.norm()) < ratio * 10


def _fake_validation(score):
    evaluator = Engine(lambda e, b: None)
    evaluator.state.metrics = {"teacher_psnr": score}
    return evaluator


def test_guard_restores_the_best_teacher_and_halves_the_feedback_and_learning_rate_below_the_margin():
    teacher, _ = networks()
    opt = torch.optim.Adam(teacher.parameters(), lr=1e-3)
    balance = BalancedFeedbackWeight(ratio=1.0)
    evaluator = _fake_validation(30.0)
    guard = TeacherGuard(teacher, evaluator, balance, opt, margin=0.2, shrink=0.5, baseline=30.0)
    pretrained = _params(teacher)
    guard.start()

    def move():
        with torch.no_grad():
            for p in teacher.parameters():
                p.add_(0.01)

    move()
    evaluator.state.metrics["teacher_psnr"] = 29.85  # within the margin: kept, not a new best
    guard(evaluator)
    assert not _same(pretrained, teacher) and balance.ratio == 1.0 and guard.restores == 0
    move()
    evaluator.state.metrics["teacher_psnr"] = 30.3  # better: the new best state
    guard(evaluator)
    best = _params(teacher)
    move()
    evaluator.state.metrics["teacher_psnr"] = 29.79  # 0.21 dB below the pre-trained teacher: restore the best
    guard(evaluator)
    assert _same(best, teacher) and balance.ratio == 0.5 and guard.restores == 1
    assert opt.param_groups[0]["lr"] == 5e-4  # the teacher's own steps are halved too
    guard.publish(evaluator)  # what the next validation logs
    assert evaluator.state.metrics["teacher_baseline"] == 30.0 and evaluator.state.metrics["feedback_ratio"] == 0.5
    evaluator.state.metrics["teacher_psnr"] = 29.0
    guard(evaluator)
    assert _same(best, teacher) and balance.ratio == 0.25 and guard.restores == 2
    guard.publish(evaluator)
    assert opt.param_groups[0]["lr"] == 2.5e-4 and evaluator.state.metrics["teacher_lr_scale"] == 0.25
    # its state survives a checkpoint: baseline, best state and the reduced feedback
    fresh_balance = BalancedFeedbackWeight(ratio=1.0)
    again = TeacherGuard(networks(seed=3)[0], evaluator, fresh_balance, margin=0.2, baseline=1.0)
    again.load_state_dict(guard.state_dict())
    assert (again.baseline, again.best_score, again.restores, fresh_balance.ratio) == (30.0, 30.3, 2, 0.25)
    assert again.lr_scale == 0.25
    with pytest.raises(ValueError, match="margin"):
        TeacherGuard(teacher, evaluator, balance, margin=-1.0, baseline=1.0)
    with pytest.raises(ValueError, match="baseline"):
        TeacherGuard(teacher, evaluator, balance)


def test_guard_measures_the_pretrained_teacher_before_training_and_reduces_a_constant_feedback():
    from monai_chpnet.engines import ReconEvaluator
    from monai_chpnet.metrics import validation_metrics

    trainer, student, teacher, _, _, topt = build("dynamic", max_epochs=1, feedback_weight=2.0)
    evaluator = _fake_validation(0.0)
    guard = TeacherGuard(
        teacher, evaluator, None, topt, margin=0.1, val_data_loader=loader(), metric=validation_metrics()["val_psnr"]
    )
    expected = ReconEvaluator("cpu", loader(), teacher, key_val_metric={"psnr": validation_metrics()["val_psnr"]})
    expected.run()  # the pre-trained teacher's validation PSNR
    guard.attach(trainer)
    trainer.run()  # the baseline is measured before the first iteration, then the teacher learns
    assert guard.baseline == pytest.approx(expected.state.metrics["psnr"])
    evaluator.state.metrics["teacher_psnr"] = guard.baseline - 1.0
    guard(evaluator)
    assert trainer.feedback_weight == 1.0 and guard.restores == 1  # the trainer's constant lambda, halved
    for p, q in zip(teacher.state_dict().values(), guard.best_state["teacher"].values()):
        assert torch.equal(p, q)  # back to the pre-trained teacher


def test_hint_stage_trains_features_only_with_a_frozen_teacher_then_resumes_into_ground_truth_training(tmp_path):
    trainer, student, teacher, loss, opt, topt = build("dynamic", max_epochs=2, hint_iterations=3)
    rows = _record(trainer, "hint", "loss", "loss_feat", "alpha", "teacher_fb_weight")
    pretrained = _params(teacher)
    changed = []
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda e: changed.append(not _same(pretrained, teacher)))
    trainer.run()
    assert [r["hint"] for r in rows] == [1.0, 1.0, 1.0, 0.0]
    assert changed == [False, False, False, True]  # the teacher does not move during the hints
    for r in rows[:3]:
        assert float(r["loss"].detach()) == pytest.approx(r["loss_feat"]) and r["teacher_fb_weight"] is None
    assert float(rows[3]["loss"].detach()) > rows[3]["loss_feat"] and rows[3]["teacher_fb_weight"] is not None

    # killed during the hint stage, resumed: the stage follows the restored iteration count
    trainer, student, teacher, loss, opt, topt = build("dynamic", max_epochs=2, hint_iterations=3)

    def kill(engine):
        if engine.state.iteration == 3:
            raise KeyboardInterrupt

    trainer.add_event_handler(Events.ITERATION_COMPLETED, kill)
    objects = lambda t, s, te, lo, o, to: {  # noqa: E731
        "trainer": t,
        "student": s,
        "teacher": te,
        "projectors": lo,
        "optimizer": o,
        "teacher_optimizer": to,
        "run_config": RunConfig({"hint_iterations": 3}),
    }
    AtomicCheckpointSaver(str(tmp_path), objects(trainer, student, teacher, loss, opt, topt), 1).attach(trainer)
    with pytest.raises(KeyboardInterrupt):
        trainer.run()
    assert latest_checkpoint(str(tmp_path)).name == "checkpoint_checkpoint_2.pt"
    trainer, student, teacher, loss, opt, topt = build("dynamic", max_epochs=2, hint_iterations=3, seed=7)
    ResumeFromCheckpoint(str(tmp_path), objects(trainer, student, teacher, loss, opt, topt)).attach(trainer)
    rows = _record(trainer, "hint")
    trainer.run()
    assert [r["hint"] for r in rows] == [1.0, 0.0]  # iteration 3 still a hint, 4 ground truth
    with pytest.raises(ValueError, match="hint_iterations"):
        ResumeFromCheckpoint(
            str(tmp_path),
            {**objects(trainer, student, teacher, loss, opt, topt), "run_config": RunConfig({"hint_iterations": 4})},
        ).check()
    with pytest.raises(ValueError, match="hint stage"):
        build("none", hint_iterations=2)
    with pytest.raises(ValueError, match="hint stage"):
        build("static", hint_iterations=2, feature_kd=False)


def test_teacher_win_rate_counts_the_pixels_where_the_teacher_is_closer():
    class Offset(torch.nn.Module):
        """The truth plus a constant: every pixel's error is |offset|."""

        def __init__(self, offset):
            super().__init__()
            self.offset = offset

        def forward(self, image, kspace=None, mask=None):
            return self.target + self.offset

    batches = list(loader())
    near, far = Offset(0.01), Offset(0.1)

    class Feed:
        def __iter__(self):
            for batch in batches:
                near.target = far.target = batch["target"]
                yield batch

    result = teacher_win_rate(near, far, Feed(), batches=2)
    assert result["win_rate"] == 1.0 and result["win_rate_foreground"] == 1.0
    assert result["error_ratio"] == pytest.approx(10.0, rel=1e-4)
    assert teacher_win_rate(far, near, Feed(), batches=2)["win_rate"] == 0.0
    assert teacher_win_rate(near, near, Feed(), batches=1)["win_rate"] == 0.0  # ties count for neither
    assert result["pixels"] == 8 * 32 * 32 and math.isfinite(result["teacher_l1"])
