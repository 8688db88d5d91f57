"""Super-resolution networks: the degradation-aware first estimate and consistency step, and that they learn."""

import pytest
import torch

from monai_chpnet.kspace import fft2c, ifft2c
from monai_chpnet.losses import ReconstructionLoss
from monai_chpnet.networks import student_from_preset, teacher_from_preset
from monai_chpnet.networks.data_consistency import LearnedAdjointUpdate
from monai_chpnet.resampling import downsample, upsample


@pytest.mark.parametrize("mode", ["kspace", "bicubic", "average"])
def test_consistency_step_reduces_the_measurement_residual(mode):
    """x <- x - delta [U (D x - y) + eta (x - v)] with v = x: a step towards D x = y, for each degradation's D."""
    torch.manual_seed(0)
    y = torch.rand(2, 1, 12, 12)
    x = upsample(y, 2, "bicubic") + 0.2 * torch.randn(2, 1, 24, 24)  # an estimate that does not explain y
    step = LearnedAdjointUpdate(1, 2, mode)
    with torch.no_grad():
        step.delta_raw.fill_(-1.0)  # a small step (softplus -> 0.31)
        after = step(x, x, y)
    residual = lambda z: (downsample(z, 2, mode) - y).norm()  # noqa: E731
    assert residual(after) < 0.9 * residual(x)


def test_first_estimate_of_a_kspace_student_is_consistent_with_its_input():
    """Before any learning the k-space student starts from zero-padding, whose k-space degradation is the input."""
    k = fft2c(torch.rand(1, 1, 16, 16).to(torch.complex64))
    k[..., 0, :] = 0  # no Nyquist line (index 0 of a centred even-sized spectrum): it has no partner in a real image
    k[..., :, 0] = 0
    y = ifft2c(k).real
    student = student_from_preset("tiny", in_channels=1, upscale=4, degradation="kspace")
    assert torch.allclose(downsample(upsample(y, 4, "kspace"), 4, "kspace"), y, atol=1e-5)
    assert student.upsampler is None  # x0 is this zero-padding, not a learned up-sampler


@pytest.mark.parametrize("net", ["student", "teacher"])
def test_a_few_iterations_lower_the_sr_loss(net):
    torch.manual_seed(0)
    build = student_from_preset if net == "student" else teacher_from_preset
    model = build("tiny", in_channels=1, upscale=2, degradation="kspace")
    target = torch.rand(4, 1, 32, 32)
    target = torch.nn.functional.avg_pool2d(target, 3, 1, 1)  # smooth, so there is structure to learn
    low = downsample(target, 2, "kspace").clamp_min(0)
    loss_fn, opt = ReconstructionLoss(), torch.optim.Adam(model.parameters(), 2e-3)
    losses = []
    for _ in range(25):
        loss = loss_fn(model(low), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < 0.8 * losses[0]


def test_bad_degradation_is_named():
    with pytest.raises(ValueError, match="degradation must be one of"):
        student_from_preset("tiny", in_channels=1, upscale=2, degradation="nearest")
    with pytest.raises(ValueError, match="degradation must be None or one of"):
        teacher_from_preset("tiny", in_channels=1, upscale=2, degradation="lanczos")
