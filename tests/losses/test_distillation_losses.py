import pytest
import torch
from torch import nn

from monai_chpnet.losses import (
    BalancedFeedbackWeight,
    DistillationLoss,
    DynamicKDWeight,
    EdgeCorrectedKnowledge,
    EdgeLoss,
    HeterogeneousFeatureLoss,
    OutputDistillationLoss,
    ReconstructionLoss,
    TeacherFeedbackLoss,
)


def _images(seed=0, shape=(2, 1, 12, 12)):
    g = torch.Generator().manual_seed(seed)
    gt = torch.rand(shape, generator=g)
    teacher = gt + 0.1 * torch.randn(shape, generator=g)
    student = gt + 0.2 * torch.randn(shape, generator=g)
    return student, teacher, gt


@pytest.mark.parametrize("distance, expected", [("l1", 0.5), ("l2", 0.5)])
def test_output_distillation_values_and_stop_gradient(distance, expected):
    student = torch.tensor([[[[1.0, 2.0]]]], requires_grad=True)
    knowledge = torch.tensor([[[[1.0, 1.0]]]], requires_grad=True)
    loss = OutputDistillationLoss(distance)(student, knowledge)
    assert loss.item() == pytest.approx(expected)
    loss.backward()
    assert student.grad.norm() > 0 and knowledge.grad is None
    assert OutputDistillationLoss(distance)(knowledge, knowledge).item() == 0
    with pytest.raises(ValueError, match="distance"):
        OutputDistillationLoss("kl")


def test_bounded_output_distillation_only_where_the_knowledge_beats_the_student():
    gt = torch.tensor([[[[0.0, 0.0, 0.0, 0.0]]]])
    student = torch.tensor([[[[0.4, 0.1, -0.2, 0.3]]]], requires_grad=True)
    knowledge = torch.tensor([[[[0.1, 0.5, 0.2, -0.1]]]])
    # the knowledge is closer to the truth at pixels 0 and 3; pixel 2 is a tie (not closer), pixel 1 is worse
    loss = OutputDistillationLoss(bounded=True)(student, knowledge, gt)
    assert loss.item() == pytest.approx((0.3 + 0.4) / 4)  # normalised by all pixels: it fades as the student wins
    loss.backward()
    assert student.grad[0, 0, 0].tolist() == pytest.approx([0.25, 0.0, 0.0, 0.25])
    squared = OutputDistillationLoss("l2", bounded=True)(student, knowledge, gt)
    assert squared.item() == pytest.approx((0.3**2 + 0.4**2) / 4)
    # a student better than its teacher everywhere is not pulled back; the unbounded loss would pull it
    assert OutputDistillationLoss(bounded=True)(gt, knowledge, gt).item() == 0
    assert OutputDistillationLoss()(gt, knowledge, gt).item() == pytest.approx(0.225)
    with pytest.raises(ValueError, match="target"):
        OutputDistillationLoss(bounded=True)(student, knowledge)
    with pytest.raises(ValueError, match="same shape"):
        OutputDistillationLoss(bounded=True)(student, knowledge, gt[..., :2])


def test_distillation_loss_passes_the_truth_to_a_bounded_output_term():
    s, t, gt = _images()
    bounded = DistillationLoss(output=OutputDistillationLoss(bounded=True))(s, t, gt, alpha=1.0)
    plain = DistillationLoss()(s, t, gt, alpha=1.0)
    mask = ((t - gt).abs() < (s - gt).abs()).float()
    assert bounded["out"].item() == pytest.approx((mask * (s - t).abs()).mean().item())
    assert 0 < bounded["out"] < plain["out"]


def test_output_distillation_with_structure_adds_one_minus_ssim_to_the_knowledge():
    s, t, gt = _images()
    s.requires_grad_(True)
    plain = OutputDistillationLoss()(s, t)
    structured = OutputDistillationLoss(ssim_weight=0.5)(s, t)
    one_minus_ssim = ReconstructionLoss().structural(s, t)
    assert 0 < one_minus_ssim.item() < 1
    assert structured.item() == pytest.approx(plain.item() + 0.5 * one_minus_ssim.item(), rel=1e-6)
    # with ssim_weight 1 it is the reconstruction loss with the knowledge in place of the truth
    assert OutputDistillationLoss(ssim_weight=1.0)(s, t).item() == pytest.approx(
        ReconstructionLoss()(s, t).item(), rel=1e-6
    )
    assert OutputDistillationLoss(ssim_weight=1.0)(t, t).item() == pytest.approx(0.0, abs=1e-5)
    structured.backward()
    assert s.grad.norm() > 0
    with pytest.raises(ValueError, match="ssim_weight"):
        OutputDistillationLoss(ssim_weight=-1.0)


def test_convex_mix_moves_the_weight_from_the_truth_to_the_knowledge():
    s, t, gt = _images()
    add = DistillationLoss()(s, t, gt, alpha=0.7)
    convex = DistillationLoss(mix="convex")(s, t, gt, alpha=0.7)
    for k in ("rec", "out", "edge"):
        assert convex[k] == add[k]
    assert convex["total"].item() == pytest.approx((0.3 * add["rec"] + 0.7 * add["out"] + 0.5 * add["edge"]).item())
    # alpha = 1: the truth only reaches the student through the edge term; no teacher: the student-alone loss
    only_k = DistillationLoss(mix="convex", gamma=0.0)(s, t, gt, alpha=1.0)
    assert only_k["total"].item() == pytest.approx(only_k["out"].item())
    alone = DistillationLoss(mix="convex")(s, None, gt, alpha=0.7)
    assert alone["total"].item() == pytest.approx((alone["rec"] + 0.5 * alone["edge"]).item())
    with pytest.raises(ValueError, match="mix"):
        DistillationLoss(mix="sum")


def test_feedback_pulls_the_teacher_toward_the_student_only_where_the_student_is_closer():
    gt = torch.tensor([[[[0.0, 0.0, 0.0, 0.0]]]])
    student = torch.tensor([[[[0.1, 0.5, -0.2, 0.3]]]], requires_grad=True)
    teacher = torch.tensor([[[[0.4, 0.2, 0.2, -0.3]]]], requires_grad=True)
    # student closer at pixel 0 only (|0.1| < |0.4|); pixels 2 and 3 are ties (not closer)
    loss = TeacherFeedbackLoss(friendliness_weight=0.0)(teacher, student, gt)
    assert loss.item() == pytest.approx(0.3 / 4)
    loss.backward()
    assert student.grad is None
    assert torch.allclose(teacher.grad, torch.tensor([[[[0.25, 0.0, 0.0, 0.0]]]]))
    friendly = TeacherFeedbackLoss(friendliness_weight=0.1)(teacher, student, gt)
    gap = (teacher - student).abs().mean()
    assert friendly.item() == pytest.approx(0.3 / 4 + 0.1 * gap.item())


def test_feedback_is_zero_when_teacher_equals_student_and_reaches_only_the_teacher():
    student, teacher, gt = _images()
    assert TeacherFeedbackLoss()(student, student, gt).item() == 0
    teacher.requires_grad_(True)
    student.requires_grad_(True)
    TeacherFeedbackLoss()(teacher, student, gt).backward()
    assert teacher.grad.norm() > 0 and student.grad is None
    with pytest.raises(ValueError, match="same shape"):
        TeacherFeedbackLoss()(teacher, student[:1], gt)


def test_dynamic_weight_follows_the_error_gap():
    alpha = DynamicKDWeight()
    assert float(alpha) == 0.5
    assert alpha.update(student_error=3.0, teacher_error=1.0) == pytest.approx(0.75)
    assert alpha.update(1.0, 1.0) == pytest.approx(0.5)
    assert alpha.update(1.0, 3.0) == pytest.approx(0.25)  # the student overtook the teacher: distillation fades
    assert alpha.update(0.0, 0.0) == 0.5
    assert DynamicKDWeight(alpha_min=0.3, alpha_max=0.6).update(9.0, 1.0) == pytest.approx(0.6)
    assert DynamicKDWeight(alpha_min=0.3, alpha_max=0.6).update(1.0, 9.0) == pytest.approx(0.3)
    smoothed = DynamicKDWeight(initial=0.5, momentum=0.5)
    assert smoothed.update(3.0, 1.0) == pytest.approx(0.625)
    assert smoothed.update(3.0, 1.0) == pytest.approx(0.6875)


def test_dynamic_weight_state_round_trip_and_errors():
    alpha = DynamicKDWeight(momentum=0.3)
    alpha.update(2.0, 1.0)
    restored = DynamicKDWeight(momentum=0.3)
    restored.load_state_dict(alpha.state_dict())
    assert restored.state_dict() == alpha.state_dict() == {"value": alpha.value, "num_updates": 1}
    assert restored.update(1.0, 2.0) == alpha.update(1.0, 2.0)
    with pytest.raises(KeyError, match="num_updates"):
        restored.load_state_dict({"value": 0.2})
    with pytest.raises(ValueError, match="finite"):
        alpha.update(float("nan"), 1.0)
    with pytest.raises(ValueError, match="momentum"):
        DynamicKDWeight(momentum=1.0)
    with pytest.raises(ValueError, match="alpha_min"):
        DynamicKDWeight(alpha_min=0.8, alpha_max=0.2)


class _TinyNet(nn.Module):
    """A stand-in network with the forward_features/feature_info contract."""

    def __init__(self, channels: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.encode = nn.Conv2d(1, channels, 3, stride=stride, padding=1)
        self.decode = nn.Sequential(nn.Conv2d(channels, stride * stride, 3, padding=1), nn.PixelShuffle(stride))

    def feature_info(self):
        return {"feat": (self.encode.out_channels, self.stride)}

    def forward_features(self, x):
        f = torch.relu(self.encode(x))
        return x + self.decode(f), {"feat": f}


TERMS = ["rec", "out", "feat", "edge"]


@pytest.mark.parametrize("term", TERMS)
def test_every_student_term_reaches_the_student_parameters_and_never_the_teacher(term):
    torch.manual_seed(0)
    student_net, teacher_net = _TinyNet(4, 2), _TinyNet(6, 1)
    x = torch.rand(2, 1, 12, 12)
    gt = x + 0.1
    s, s_feats = student_net.forward_features(x)
    t, t_feats = teacher_net.forward_features(x)
    feature = HeterogeneousFeatureLoss(student_net.feature_info(), teacher_net.feature_info(), [("feat", "feat")])
    loss_fn = DistillationLoss(knowledge=EdgeCorrectedKnowledge(), feature=feature)
    terms = loss_fn(s, t, gt, alpha=0.7, student_features=s_feats, teacher_features=t_feats)
    assert set(terms) == {*TERMS, "unl", "total", "corrected"} and terms["unl"] == 0  # no unlabelled rows
    assert 0 <= float(terms["corrected"]) <= 1 and not terms["corrected"].requires_grad
    expected_total = terms["rec"] + 0.7 * terms["out"] + 0.1 * terms["feat"] + 0.5 * terms["edge"]
    assert torch.allclose(terms["total"], expected_total)
    terms[term].backward()
    assert student_net.encode.weight.grad.norm() > 0
    assert all(p.grad is None for p in teacher_net.parameters())


def test_switched_off_terms_are_zero_and_features_are_required_when_used():
    s, t, gt = _images()
    terms = DistillationLoss(gamma=0.0)(s, t, gt, alpha=0.0)
    assert terms["out"] == 0 and terms["feat"] == 0 and terms["edge"] == 0
    assert terms["total"] == terms["rec"] == ReconstructionLoss()(s, gt)
    plain = DistillationLoss(reconstruction=ReconstructionLoss(ssim_weight=0.0), edge=EdgeLoss("scharr"))(s, t, gt, 1.0)
    assert plain["out"] == OutputDistillationLoss()(s, t)  # without edge correction K is the teacher output
    feature = HeterogeneousFeatureLoss({"a": (2, 1)}, {"b": (2, 1)}, [("a", "b")])
    with pytest.raises(ValueError, match="student_features"):
        DistillationLoss(feature=feature)(s, t, gt, alpha=1.0)
    with pytest.raises(ValueError, match="same shape"):
        DistillationLoss()(s, t[:1], gt, alpha=1.0)


def test_rows_beyond_the_target_are_distilled_from_the_teacher_only():
    """Unlabelled rows: ``L_unl = L1(S_u, T_u)`` weighted by ``unlabelled_weight``; truth terms see labelled rows."""
    torch.manual_seed(0)
    student_net, teacher_net = _TinyNet(4, 2), _TinyNet(6, 1)
    x = torch.rand(5, 1, 12, 12)
    gt = x[:3] + 0.1  # rows 3 and 4 have no reference
    s, s_feats = student_net.forward_features(x)
    t, t_feats = teacher_net.forward_features(x)
    feature = HeterogeneousFeatureLoss(student_net.feature_info(), teacher_net.feature_info(), [("feat", "feat")])
    loss_fn = DistillationLoss(knowledge=EdgeCorrectedKnowledge(), feature=feature, unlabelled_weight=2.0)
    terms = loss_fn(s, t, gt, alpha=0.7, student_features=s_feats, teacher_features=t_feats)
    labelled = DistillationLoss(knowledge=EdgeCorrectedKnowledge(), feature=feature)(
        s[:3],
        t[:3],
        gt,
        alpha=0.7,
        student_features={"feat": s_feats["feat"][:3]},
        teacher_features={"feat": t_feats["feat"][:3]},
    )
    for key in ("rec", "out", "edge"):
        assert torch.allclose(terms[key], labelled[key]), key
    assert torch.allclose(terms["unl"], (s[3:] - t[3:]).abs().mean())
    assert torch.allclose(terms["feat"], feature(s_feats, t_feats))  # feature KD needs no truth: all five rows
    expected = terms["rec"] + 0.7 * terms["out"] + 0.1 * terms["feat"] + 0.5 * terms["edge"] + 2.0 * terms["unl"]
    assert torch.allclose(terms["total"], expected)
    terms["unl"].backward()
    assert student_net.encode.weight.grad.norm() > 0 and all(p.grad is None for p in teacher_net.parameters())


def test_unlabelled_rows_need_a_teacher_and_cannot_be_bounded():
    s, t, gt = _images()
    extra = torch.cat([s, s])
    with pytest.raises(ValueError, match="need a teacher"):
        DistillationLoss()(extra, None, gt, alpha=0.0)
    with pytest.raises(ValueError, match="teacher-bounded"):
        DistillationLoss(output=OutputDistillationLoss(bounded=True))(extra, torch.cat([t, t]), gt, alpha=0.5)
    with pytest.raises(ValueError, match="same shape"):
        DistillationLoss()(s[:1], t[:1], gt, alpha=0.5)  # fewer student rows than targets
    with pytest.raises(ValueError, match="unlabelled_weight"):
        DistillationLoss(unlabelled_weight=-1.0)


def test_alpha_follows_the_error_ratio_through_a_tempered_sigmoid():
    import math

    # temperature 1 is the first design's err_s / (err_s + err_t): it barely moves for a student 10 % behind
    assert DynamicKDWeight().target(1.1, 1.0) == pytest.approx(1.1 / 2.1)
    alpha = DynamicKDWeight(temperature=0.2, alpha_min=0.0, alpha_max=1.0, signal="batch")
    assert alpha.target(1.1, 1.0) == pytest.approx(1 / (1 + 1.1**-5))  # sigmoid(log(1.1) / 0.2) = 0.6184
    values = [alpha.update(ratio, 1.0) for ratio in (3.0, 1.3, 1.1, 1.0, 0.9)]
    assert values == pytest.approx([1 / (1 + r**-5) for r in (3.0, 1.3, 1.1, 1.0, 0.9)])
    assert values[0] > 0.99 and values[3] == 0.5 and values[4] < 0.4  # it moves with the ratio, both ways
    assert all(a > b for a, b in zip(values, values[1:]))
    assert alpha.target(1.0, 0.0) == 1.0 and alpha.target(0.0, 1.0) == 0.0 and alpha.target(0.0, 0.0) == 0.5
    assert alpha.target(1e6, 1e-6) == 1.0 and alpha.target(1e-6, 1e6) == pytest.approx(0.0)  # no overflow
    smoothed = DynamicKDWeight(initial=0.5, momentum=0.9, temperature=0.2)
    assert smoothed.update(3.0, 1.0) == pytest.approx(0.9 * 0.5 + 0.1 * (1 / (1 + 3.0**-5)))
    assert math.isclose(DynamicKDWeight(alpha_max=0.9, temperature=0.2).update(3.0, 1.0), 0.9)
    with pytest.raises(ValueError, match="temperature"):
        DynamicKDWeight(temperature=0.0)
    with pytest.raises(ValueError, match="signal"):
        DynamicKDWeight(signal="epoch")


def test_balanced_feedback_weight_sets_the_feedback_gradient_to_a_fraction_of_the_reconstruction_gradient():
    s, t, gt = _images(3)
    t = t.clone().requires_grad_(True)
    rec, fb = ReconstructionLoss()(t, gt), TeacherFeedbackLoss()(t, s, gt)
    g_rec = torch.autograd.grad(rec, t, retain_graph=True)[0].norm()
    g_fb = torch.autograd.grad(fb, t, retain_graph=True)[0].norm()
    for ratio in (1.0, 0.25):
        lam = BalancedFeedbackWeight(ratio=ratio)(rec, fb, t)
        assert lam == pytest.approx(ratio * float(g_rec / g_fb), rel=1e-5)
        assert float(lam * g_fb / g_rec) == pytest.approx(ratio, rel=1e-5)  # exactly the set fraction
    assert BalancedFeedbackWeight(ratio=1.0, max_weight=0.01)(rec, fb, t) == 0.01  # capped
    assert BalancedFeedbackWeight(ratio=0.0)(rec, fb, t) == 0.0
    same = TeacherFeedbackLoss(friendliness_weight=0.0)(t, t.detach(), gt)  # the student nowhere closer: no gradient
    assert BalancedFeedbackWeight()(rec, same, t) == 0.0
    balance = BalancedFeedbackWeight(ratio=0.5)
    restored = BalancedFeedbackWeight()
    restored.load_state_dict(balance.state_dict())
    assert restored.ratio == 0.5
    with pytest.raises(ValueError, match="ratio"):
        BalancedFeedbackWeight(ratio=-1.0)


def test_hint_stage_trains_on_the_feature_term_alone():
    torch.manual_seed(0)
    student_net, teacher_net = _TinyNet(4, 2), _TinyNet(6, 1)
    x = torch.rand(2, 1, 12, 12)
    s, s_feats = student_net.forward_features(x)
    t, t_feats = teacher_net.forward_features(x)
    feature = HeterogeneousFeatureLoss(student_net.feature_info(), teacher_net.feature_info(), [("feat", "feat")])
    loss_fn = DistillationLoss(knowledge=EdgeCorrectedKnowledge(), feature=feature, beta=0.0)
    terms = loss_fn(s, t, x, alpha=0.7, student_features=s_feats, teacher_features=t_feats, hint=True)
    assert torch.allclose(terms["total"], feature(s_feats, t_feats))  # unweighted, whatever beta
    assert terms["out"] == 0 and terms["edge"] == 0 and terms["rec"] > 0  # rec is only logged
    terms["total"].backward()
    assert student_net.encode.weight.grad.norm() > 0
    assert student_net.decode[0].weight.grad is not None  # layers after the tap stay in the graph (DDP), with 0
    assert student_net.decode[0].weight.grad.abs().max() == 0
    with pytest.raises(ValueError, match="hint stage"):
        DistillationLoss()(s, t, x, alpha=0.5, hint=True)
