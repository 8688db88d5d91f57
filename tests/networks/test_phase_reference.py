"""Phase reference from the k-space centre: estimate, invariance to a global phase, exact data consistency."""

import math

import pytest
import torch

from monai_chpnet.kspace import complex_to_channels, fft2c, ifft2c
from monai_chpnet.networks import student_from_preset, teacher_from_preset
from monai_chpnet.networks.phase import CentrePhaseReference, _centre_run, rotate_channels
from monai_chpnet.transforms.masks import RandomMaskFunc
from monai_chpnet.transforms.phase import RandSmoothPhase


def _object(h=64, w=64):
    """A smooth non-negative object on a dark background: a disc with a soft edge and some texture."""
    y, x = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    disc = torch.sigmoid((0.7 - (x**2 + y**2).sqrt()) * 30)
    return (disc * (0.6 + 0.3 * torch.cos(6 * x) * torch.sin(4 * y)))[None]  # (1, H, W)


def _acquisition(image, acceleration=4, center_fraction=0.16, seed=0):
    """(zero-filled 2-channel input, measured k-space, mask) batches of one complex image (1, H, W)."""
    mask = RandomMaskFunc(acceleration, center_fraction, seed=seed)(image.shape[-1]).mask.view(1, 1, 1, -1)
    kspace = fft2c(image.to(torch.complex64))[None] * mask
    return complex_to_channels(ifft2c(kspace)), kspace, mask


def test_centre_run_is_the_fully_sampled_block():
    mask = torch.zeros(2, 32)
    mask[0, 14:19] = 1  # centre column 16 in a run of 5
    mask[0, [2, 9, 25]] = 1
    mask[1, 16] = 1
    assert _centre_run(mask, 32).tolist() == [5.0, 1.0]


def test_estimate_follows_a_smooth_phase_inside_the_object():
    magnitude = _object()
    phaser = RandSmoothPhase(linear=1.0, quadratic=1.0, field=0.5, seed=0)
    image = phaser(magnitude)
    _, kspace, mask = _acquisition(image)
    p = CentrePhaseReference()(kspace, mask)
    assert p.shape == (1, 1, 64, 64) and torch.allclose(p.abs(), torch.ones(()), atol=1e-5)
    inside = magnitude > 0.3
    error = torch.angle(image[None] * p.conj()).abs()  # the phase left after removing the estimate
    assert float(error[inside[None]].median()) < 0.15
    assert float(torch.angle(image)[inside].abs().median()) > 0.5  # there was a phase to remove


def test_a_non_negative_image_keeps_a_unit_reference():
    _, kspace, mask = _acquisition(_object())
    p = CentrePhaseReference()(kspace, mask)
    assert torch.allclose(p, torch.ones_like(p), atol=1e-4)
    # so a network sees exactly what it saw without the reference
    net = student_from_preset("tiny", in_channels=2)
    plain = student_from_preset("tiny", in_channels=2, phase_reference=False)
    plain.load_state_dict(net.state_dict())
    image, kspace, mask = _acquisition(_object())
    assert torch.allclose(net(image, kspace, mask), plain(image, kspace, mask), atol=1e-4)


@pytest.mark.parametrize("factory", [student_from_preset, teacher_from_preset])
def test_a_global_phase_changes_nothing_but_the_phase(factory):
    """exp(iθ) on the whole acquisition rotates the reference by the same θ: the magnitude of the reconstruction is
    unchanged (to float precision) with the reference, and changes without it."""
    torch.manual_seed(0)
    net = factory("tiny", in_channels=2).eval()
    plain = factory("tiny", in_channels=2, phase_reference=False).eval()
    plain.load_state_dict(net.state_dict())
    image = RandSmoothPhase(seed=1)(_object())
    rotated = image * torch.polar(torch.ones(()), torch.tensor(2.0))
    for model, invariant in ((net, True), (plain, False)):
        a = model(*_acquisition(image))
        b = model(*_acquisition(rotated))
        mag_a = a.pow(2).sum(1).sqrt()
        mag_b = b.pow(2).sum(1).sqrt()
        assert torch.allclose(mag_a, mag_b, atol=1e-4) == invariant


@pytest.mark.parametrize("factory", [student_from_preset, teacher_from_preset])
def test_data_consistency_stays_exact_in_the_measured_frame(factory):
    net = factory("tiny", in_channels=2).eval()
    image, kspace, mask = _acquisition(RandSmoothPhase(seed=2)(_object()))
    out = net(image, kspace, mask)
    k_out = fft2c(torch.complex(out[:, 0:1], out[:, 1:2]))
    assert torch.allclose(k_out * mask, kspace, atol=1e-5)


def test_rotate_channels_round_trip_and_torchscript():
    x = torch.randn(2, 2, 8, 8)
    p = torch.polar(torch.ones(2, 1, 8, 8), torch.rand(2, 1, 8, 8) * 2 * math.pi)
    assert torch.allclose(rotate_channels(rotate_channels(x, p), p.conj()), x, atol=1e-6)
    net = student_from_preset("tiny", in_channels=2).eval()
    image, kspace, mask = _acquisition(RandSmoothPhase(seed=3)(_object()))
    assert torch.allclose(torch.jit.script(net)(image, kspace, mask), net(image, kspace, mask), atol=1e-5)


def test_phase_reference_must_be_a_bool():
    with pytest.raises(TypeError, match="phase_reference must be True or False"):
        student_from_preset("tiny", phase_reference="false")
    with pytest.raises(TypeError, match="phase_reference must be True or False"):
        teacher_from_preset("tiny", phase_reference="false")
    with pytest.raises(ValueError, match="bias"):
        CentrePhaseReference(bias=-1.0)


def test_a_few_iterations_on_phase_bearing_images_lower_the_loss():
    """The training recipe with phase_prob=1 on tiny images: 40 Adam steps of the tiny student lower its loss on
    that phase-bearing batch by more than a fifth (the reference frame makes the task learnable)."""
    from monai.data import DataLoader, Dataset

    from monai_chpnet.engines import ReconPrepareBatch, match_target
    from monai_chpnet.losses import ReconstructionLoss
    from monai_chpnet.transforms.recipes import train_transforms

    torch.manual_seed(0)
    images = [{"target": _object(48, 48) * (0.5 + 0.5 * k / 8)} for k in range(8)]
    transform = train_transforms(patch_size=32, phase_prob=1.0, augment=False)
    transform.set_random_state(0)
    batch = next(iter(DataLoader(Dataset(images, transform), batch_size=8)))
    image, target, _, kwargs = ReconPrepareBatch()(batch)
    assert float(ifft2c(batch["kspace"]).imag.abs().mean()) > 0.05  # the batch carries a phase
    net = student_from_preset("tiny", in_channels=2)
    loss_fn = ReconstructionLoss()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)

    def loss() -> torch.Tensor:
        return loss_fn(match_target(net(image, **kwargs), target.shape[-2:]), target)

    with torch.no_grad():
        before = float(loss())
    for _ in range(40):
        opt.zero_grad()
        value = loss()
        value.backward()
        opt.step()
    with torch.no_grad():
        after = float(loss())
    assert after < 0.8 * before, (before, after)
