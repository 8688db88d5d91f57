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
