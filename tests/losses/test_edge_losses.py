import math

import pytest
import torch

from monai_chpnet.losses import EdgeCorrectedKnowledge, EdgeLoss, EdgeMagnitude, OutputDistillationLoss


def _step(height=2.0, size=8, edge_col=4):
    """(1, 1, size, size): 0 left of column ``edge_col``, ``height`` from it on."""
    x = torch.zeros(1, 1, size, size)
    x[..., edge_col:] = height
    return x


@pytest.mark.parametrize("operator", ["sobel", "scharr"])
def test_step_edge_has_half_its_height_beside_it_and_nothing_elsewhere(operator):
    op = EdgeMagnitude(operator)
    e = op(_step(2.0))[0, 0]
    expected = math.sqrt(1.0**2 + op.eps) - math.sqrt(op.eps)
    assert torch.allclose(e[:, 3:5], torch.full((8, 2), expected), atol=1e-6)
    others = torch.cat([e[:, :3], e[:, 5:]], dim=1)
    assert others.abs().max() == 0  # including the image border: replicate padding makes no fake edges


@pytest.mark.parametrize("operator", ["sobel", "scharr"])
def test_ramp_has_its_slope_as_magnitude(operator):
    ramp = (0.5 * torch.arange(10.0)).view(1, 1, 10, 1).expand(1, 1, 10, 10)  # slope 0.5 down the rows
    e = EdgeMagnitude(operator)(ramp)[0, 0]
    assert torch.allclose(e[1:-1, 1:-1], torch.full((8, 8), 0.5), atol=1e-4)


def test_flat_image_gives_zero_and_finite_gradient():
    x = torch.full((2, 3, 6, 6), 0.7, requires_grad=True)
    e = EdgeMagnitude()(x)
    assert e.shape == (2, 3, 6, 6) and e.abs().max() == 0
    e.sum().backward()
    assert torch.isfinite(x.grad).all()


def test_edge_operator_errors():
    with pytest.raises(ValueError, match="operator"):
        EdgeMagnitude("canny")
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        EdgeMagnitude()(torch.ones(8, 8))


def test_edge_loss_zero_when_equal_and_reaches_prediction():
    target = _step()
    assert EdgeLoss()(target, target).item() == 0
    pred = (target + 0.1 * torch.randn_like(target)).requires_grad_(True)
    EdgeLoss("scharr")(pred, target).backward()
    assert pred.grad.norm() > 0


def test_knowledge_is_teacher_where_edges_agree_and_gt_where_they_are_wrong():
    gt = torch.ones(1, 1, 8, 8)
    teacher = gt + 100.0 * _step(1.0)  # flat like GT except a strong false edge at columns 3-4
    correct = EdgeCorrectedKnowledge(tau=0.1)
    w = correct.confidence(teacher, gt)
    k = correct(teacher, gt)
    wrong = torch.zeros_like(gt, dtype=torch.bool)
    wrong[..., 3:5] = True
    assert torch.equal(w[~wrong], torch.ones_like(w[~wrong]))  # edges agree: w = 1, K = T
    assert torch.equal(k[~wrong], teacher[~wrong])
    assert w[wrong].max() < 1e-30  # edges maximally wrong: w -> 0, K -> GT
    assert torch.allclose(k[wrong], gt[wrong])
    # a teacher whose edges all agree (constant offset) is passed through unchanged
    assert torch.equal(correct(gt + 0.5, gt), gt + 0.5)


def test_knowledge_stops_the_gradient_to_the_teacher():
    gt = _step()
    teacher = (gt + 0.2 * torch.randn_like(gt)).requires_grad_(True)
    student = (gt + 0.2 * torch.randn_like(gt)).requires_grad_(True)
    k = EdgeCorrectedKnowledge()(teacher, gt)
    assert not k.requires_grad
    OutputDistillationLoss()(student, k).backward()
    assert teacher.grad is None and student.grad.norm() > 0


def test_knowledge_errors():
    with pytest.raises(ValueError, match="tau"):
        EdgeCorrectedKnowledge(tau=0.0)
    with pytest.raises(ValueError, match="same shape"):
        EdgeCorrectedKnowledge()(torch.ones(1, 1, 8, 8), torch.ones(1, 1, 8, 9))


def test_mask_rule_corrects_exactly_the_columns_whose_edges_disagree():
    """A flat truth and a teacher with a false step of 100: the Sobel edge is wrong on the two columns beside the
    step (50 there, 0 elsewhere), so 2 of 8 columns are corrected, 4 of 8 with the mask dilated by 1 pixel."""
    gt = torch.ones(1, 1, 8, 8)
    teacher = gt + 100.0 * _step(1.0)
    for dilation, columns in ((0, [3, 4]), (1, [2, 3, 4, 5])):
        knowledge, corrected = EdgeCorrectedKnowledge(tau=0.3, dilation=dilation).correct(teacher, gt)
        wrong = torch.zeros_like(gt, dtype=torch.bool)
        wrong[..., columns] = True
        assert float(corrected) == len(columns) / 8
        assert torch.equal(knowledge[wrong], gt[wrong]) and torch.equal(knowledge[~wrong], teacher[~wrong])


def test_mask_rule_is_the_teacher_wherever_its_edges_agree_with_the_truth():
    torch.manual_seed(0)
    gt = torch.nn.functional.avg_pool2d(torch.rand(2, 1, 40, 40), 5, 1, 2) * 4  # smooth, intensities O(1)
    teacher = gt + 0.01 * torch.randn_like(gt)  # small edge errors everywhere...
    teacher[..., 10:20, 10:20] += 2.0 * torch.rand(2, 1, 10, 10)  # ...and a region it gets wrong
    rule = EdgeCorrectedKnowledge()  # the default: mask, tau 0.3, no dilation
    assert (rule.rule, rule.tau, rule.dilation) == ("mask", 0.3, 0)
    knowledge, corrected = rule.correct(teacher, gt)
    disagree = (EdgeMagnitude()(teacher) - EdgeMagnitude()(gt)).abs() > 0.3
    assert torch.equal(knowledge[~disagree], teacher[~disagree])  # K == T exactly where the edges agree
    assert torch.equal(knowledge[disagree], gt[disagree])  # and GT only where they disagree
    assert float(corrected) == float(disagree.float().mean())
    inside = torch.zeros_like(disagree)
    inside[..., 9:21, 9:21] = True  # the wrong region and the edge operator's one-pixel reach around it
    assert disagree.any() and not (disagree & ~inside).any()  # confined to where the teacher is wrong
    assert 0.02 < float(corrected) < 0.07  # of 3200 pixels, at most the 12 x 12 x 2 around the region
    assert torch.equal(rule(gt + 0.5, gt), gt + 0.5)  # edges that all agree: the teacher passes unchanged


def test_soft_rule_is_the_first_designs_blend():
    torch.manual_seed(1)
    gt, teacher = torch.rand(1, 1, 12, 12), torch.rand(1, 1, 12, 12)
    rule = EdgeCorrectedKnowledge(tau=0.1, rule="soft")
    w = torch.exp(-(EdgeMagnitude()(teacher) - EdgeMagnitude()(gt)).abs() / 0.1)
    knowledge, corrected = rule.correct(teacher, gt)
    assert torch.allclose(knowledge, w * teacher + (1 - w) * gt) and torch.allclose(rule.confidence(teacher, gt), w)
    assert float(corrected) == pytest.approx(float((1 - w).mean()))
    with pytest.raises(ValueError, match="rule"):
        EdgeCorrectedKnowledge(rule="hard")
    with pytest.raises(ValueError, match="dilation"):
        EdgeCorrectedKnowledge(dilation=-1)
