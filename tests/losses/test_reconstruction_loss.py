import pytest
import torch
import torch.nn.functional as F
from monai.losses import SSIMLoss

from monai_chpnet.losses import ReconstructionLoss


def _pair(seed=0, shape=(2, 1, 16, 16)):
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(shape, generator=g) * torch.tensor([1.0, 5.0]).view(-1, 1, 1, 1)
    return target + 0.1 * torch.randn(shape, generator=g), target


def test_value_is_l1_plus_monai_ssim_with_per_sample_data_range():
    pred, target = _pair()
    loss = ReconstructionLoss(ssim_weight=0.7)(pred, target)
    ssim_terms = [
        SSIMLoss(2, data_range=float(t.max() - t.min()), kernel_type="uniform", win_size=7)(p[None], t[None])
        for p, t in zip(pred, target)
    ]
    expected = F.l1_loss(pred, target) + 0.7 * torch.stack(ssim_terms).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_fixed_data_range_and_plain_l1():
    pred, target = _pair()
    fixed = ReconstructionLoss(data_range=2.0)(pred, target)
    expected = F.l1_loss(pred, target) + SSIMLoss(2, data_range=2.0, kernel_type="uniform", win_size=7)(pred, target)
    assert fixed.item() == pytest.approx(expected.item(), rel=1e-5)
    assert ReconstructionLoss(ssim_weight=0)(pred, target).item() == pytest.approx(F.l1_loss(pred, target).item())


def test_zero_when_equal_and_gradient_reaches_prediction():
    pred, target = _pair()
    assert ReconstructionLoss()(target, target).item() == pytest.approx(0.0, abs=1e-6)
    pred.requires_grad_(True)
    ReconstructionLoss()(pred, target).backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.norm() > 0


def test_errors():
    with pytest.raises(ValueError, match="same shape"):
        ReconstructionLoss()(torch.ones(1, 1, 8, 8), torch.ones(1, 1, 8, 9))
    with pytest.raises(ValueError, match="data_range"):
        ReconstructionLoss(data_range=0.0)
