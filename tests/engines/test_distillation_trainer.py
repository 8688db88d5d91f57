import math

import pytest
import torch
from ignite.engine import Events

from engine_fixtures import build, loader, networks

from monai.utils.enums import CommonKeys

from monai_chpnet.engines import DistillationTrainer, scalar_outputs
from monai_chpnet.losses import DistillationLoss


def _params(module):
    return [p.detach().clone() for p in module.parameters()]


def _changed(before, module):
    return [not torch.equal(a, b.detach()) for a, b in zip(before, module.parameters())]


def test_static_mode_never_changes_the_teacher_and_trains_student_and_projectors():
    trainer, student, teacher, loss, _, _ = build("static")
    t0, s0, p0 = _params(teacher), _params(student), _params(loss)
    trainer.run()
    assert not any(_changed(t0, teacher)), "a static teacher must not change"
    assert all(_changed(s0, student)), "every student parameter must be updated"
    assert all(_changed(p0, loss)), "the feature projectors must be trained with the student"
    assert all(not p.requires_grad for p in teacher.parameters())


def test_dynamic_mode_updates_the_teacher_with_feedback():
    trainer, student, teacher, *_ = build("dynamic")
    t0 = _params(teacher)
    trainer.run()
    assert all(_changed(t0, teacher)), "in dynamic mode every teacher parameter learns"
    out = trainer.state.output
    for key in ("teacher_loss", "teacher_rec", "teacher_fb", "loss_rec", "loss_out", "loss_feat", "loss_edge", "alpha"):
        assert key in out and math.isfinite(out[key])
    assert out["loss_out"] > 0 and out["loss_feat"] > 0
    assert set(scalar_outputs(out)) >= {"loss", "alpha", "teacher_loss"}


def test_none_mode_trains_the_student_alone_without_distillation_terms():
    trainer, student, *_ = build("none")
    s0 = _params(student)
    trainer.run()
    assert all(_changed(s0, student))
    assert trainer.state.output["loss_out"] == 0.0 and trainer.state.output["loss_feat"] == 0.0
    assert trainer.state.output["alpha"] == 0.0


def test_every_student_loss_term_sends_gradient_to_the_student():
    """A gradient check per term: each weighted term alone gives the student a non-zero gradient."""
    trainer, student, teacher, loss, *_ = build("dynamic")
    batch = next(iter(loader()))
    image, target, _, kw = trainer.prepare_batch(batch, "cpu")
    t_out, t_feats = teacher.forward_features(image, **kw)
    from monai_chpnet.engines import match_target

    for term in ("rec", "out", "feat", "edge"):
        student.zero_grad()
        s_out, s_feats = student.forward_features(image, **kw)
        terms = loss(
            match_target(s_out, target.shape[-2:]),
            match_target(t_out, target.shape[-2:]).detach(),
            target,
            0.5,
            s_feats,
            {k: v.detach() for k, v in t_feats.items()},
        )
        terms[term].backward()
        norm = sum(p.grad.norm() ** 2 for p in student.parameters() if p.grad is not None) ** 0.5
        assert norm > 0, f"term {term} does not reach the student"


def test_thirty_iterations_lower_the_training_loss():
    """The student's reconstruction loss on a fixed batch falls after 30 dynamic-KD iterations."""
    from monai_chpnet.engines import match_target

    trainer, student, *_ = build("dynamic", max_epochs=15, lr=1e-2)  # 2 iterations/epoch
    image, target, _, kw = trainer.prepare_batch(next(iter(loader(seed=123))), "cpu")

    def fixed_batch_loss():
        with torch.no_grad():
            return float(
                trainer.loss_function.reconstruction(match_target(student(image, **kw), target.shape[-2:]), target)
            )

    before = fixed_batch_loss()
    trainer.run()
    assert trainer.state.iteration == 30
    after = fixed_batch_loss()
    assert after < 0.9 * before, (before, after)


def test_bad_configuration_and_shapes_raise():
    teacher, student = networks()
    loss = DistillationLoss()
    opt = torch.optim.SGD(student.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="kd must be one of"):
        DistillationTrainer("cpu", 1, loader(), student, opt, loss, teacher=teacher, kd="online")
    with pytest.raises(ValueError, match="needs a teacher network"):
        DistillationTrainer("cpu", 1, loader(), student, opt, loss, kd="static")
    with pytest.raises(ValueError, match="teacher_optimizer"):
        DistillationTrainer("cpu", 1, loader(), student, opt, loss, teacher=teacher, kd="dynamic")
    # a teacher on another output grid (x2 upsampler, image mode) is refused with both shapes named, never cropped
    from monai_chpnet.engines import ReconPrepareBatch
    from monai_chpnet.networks.teacher import teacher_from_preset

    wrong = teacher_from_preset("tiny", in_channels=2, upscale=2)
    trainer = DistillationTrainer(
        "cpu",
        1,
        loader(),
        student,
        opt,
        loss,
        teacher=wrong,
        kd="static",
        prepare_batch=ReconPrepareBatch(kspace_key=None),
    )
    with pytest.raises(ValueError, match=r"teacher output \(4, 2, 64, 64\) and student output \(4, 2, 32, 32\)"):
        trainer.run()


def test_nan_loss_stops_with_the_iteration(tmp_path):
    trainer, student, *_ = build("none")
    calls = {"n": 0}
    original = student.forward_features

    def poisoned(*a, **k):
        calls["n"] += 1
        out, feats = original(*a, **k)
        return (out * float("nan") if calls["n"] == 2 else out), feats

    student.forward_features = poisoned
    with pytest.raises(FloatingPointError, match="non-finite student loss at iteration 2"):
        trainer.run()


# ---- inputs without a reference --------------------------------------------------------------------------------


def test_unlabelled_batches_teach_the_student_through_the_teacher_only():
    """Each iteration adds an unlabelled batch: ``L_unl`` is logged, it alone moves the student, the loader is
    cycled past its end, and the teacher (dynamic) is not trained on it."""
    from engine_fixtures import unlabelled_loader

    trainer, student, teacher, loss, *_ = build("dynamic", max_epochs=3, unlabelled_data_loader=unlabelled_loader(n=2))
    seen = []
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda e: seen.append(e.state.output["loss_unl"]))
    trainer.run()
    assert len(seen) == 6 and all(math.isfinite(v) and v > 0 for v in seen)  # 6 iterations, 1-batch loader cycled
    assert trainer._unlabelled_passes == 6
    assert trainer.state.output[CommonKeys.PRED].shape[0] == 4, "the prediction holds the labelled rows only"

    # gradient check: the unlabelled term alone gives the student a gradient (and never the teacher)
    from monai_chpnet.engines import match_target

    u_batch = next(iter(unlabelled_loader(n=2)))
    image, target, _, kw = trainer.prepare_batch(next(iter(loader())), "cpu")
    u_image, u_target, _, u_kw = trainer.prepare_batch(u_batch, "cpu")
    assert u_target is None and "kspace" not in u_batch and "target" not in u_batch
    student.zero_grad()
    teacher.zero_grad()
    s_out, s_feats = student.forward_features(
        torch.cat([image, u_image]), **{k: torch.cat([v, u_kw[k]]) for k, v in kw.items()}
    )
    with torch.no_grad():
        t_out, t_feats = teacher.forward_features(
            torch.cat([image, u_image]), **{k: torch.cat([v, u_kw[k]]) for k, v in kw.items()}
        )
    size = target.shape[-2:]
    terms = loss(match_target(s_out, size), match_target(t_out, size), target, 0.5, s_feats, t_feats)
    terms["unl"].backward()
    norm = sum(p.grad.norm() ** 2 for p in student.parameters() if p.grad is not None) ** 0.5
    assert norm > 0 and all(p.grad is None for p in teacher.parameters())


def test_unlabelled_data_needs_a_teacher_no_target_and_the_labelled_shapes():
    from monai.data import DataLoader, Dataset

    from engine_fixtures import unlabelled_loader

    with pytest.raises(ValueError, match="needs a teacher"):
        build("none", unlabelled_data_loader=unlabelled_loader())
    labelled = loader().dataset  # still holds its target
    trainer, *_ = build("static", unlabelled_data_loader=DataLoader(labelled, batch_size=2))
    with pytest.raises(ValueError, match="holds a target"):
        trainer.run()
    small = [
        {k: (v[..., :16] if torch.is_tensor(v) and v.ndim >= 2 else v) for k, v in item.items()}
        for item in unlabelled_loader().dataset
    ]
    trainer, *_ = build("static", unlabelled_data_loader=DataLoader(Dataset(small), batch_size=2))
    with pytest.raises(ValueError, match=r"unlabelled batch 'image' has shape \(2, 2, 32, 16\)"):
        trainer.run()
    trainer, *_ = build("static", unlabelled_data_loader=DataLoader(Dataset([]), batch_size=2))
    with pytest.raises(ValueError, match="yields no batch"):
        trainer.run()
