"""TorchScript round trips, gradient flow to every parameter, inference mode and bf16 autocast."""

import io

import pytest
import torch

from monai_chpnet.kspace import complex_to_channels, fft2c, ifft2c
from monai_chpnet.networks import FastMRIUNet, student_from_preset, teacher_from_preset

CASES = {
    "teacher_kspace": lambda: teacher_from_preset("tiny", in_channels=2),
    "teacher_sr2": lambda: teacher_from_preset("tiny", in_channels=1, upscale=2),
    "student_hard": lambda: student_from_preset("tiny", in_channels=2),
    "student_soft": lambda: student_from_preset("tiny", in_channels=2, data_consistency="soft"),
    "student_sr4": lambda: student_from_preset("tiny", in_channels=1, upscale=4),
    "unet": lambda: FastMRIUNet(in_channels=2, chans=4, num_pool_layers=2),
}


def _inputs(net, h=19, w=21):
    g = torch.Generator().manual_seed(0)
    if net.in_channels == 1:
        return (torch.rand(2, 1, h, w, generator=g),)
    kspace = fft2c(torch.randn(2, 1, h, w, generator=g, dtype=torch.complex64))
    mask = (torch.rand(2, 1, 1, w, generator=g) < 0.4).float()
    kspace = kspace * mask
    return complex_to_channels(ifft2c(kspace)), kspace, mask


@pytest.mark.parametrize("case", sorted(CASES))
def test_torchscript_round_trip(case):
    torch.manual_seed(0)
    net = CASES[case]().eval()
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(net), buffer)
    buffer.seek(0)
    scripted = torch.jit.load(buffer)
    args = _inputs(net)
    with torch.inference_mode():
        ref_out, ref_taps = net.forward_features(*args)
        out, taps = scripted.forward_features(*args)
        assert torch.allclose(scripted(*args), ref_out, atol=1e-6)
    assert torch.allclose(out, ref_out, atol=1e-6)
    assert list(taps) == list(ref_taps) and all(torch.allclose(taps[k], ref_taps[k], atol=1e-6) for k in taps)
    if len(args) == 3:  # without kspace/mask the same scripted module runs in image mode
        with torch.inference_mode():
            assert torch.allclose(scripted(args[0]), net(args[0]), atol=1e-6)


@pytest.mark.parametrize("case", sorted(CASES))
def test_gradients_reach_every_parameter(case):
    torch.manual_seed(0)
    net = CASES[case]().train()
    out, taps = net.forward_features(*_inputs(net))
    loss = out.square().mean() + sum(t.square().mean() for t in taps.values())
    loss.backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"no gradient for {missing}"


@pytest.mark.parametrize("case", ["teacher_kspace", "student_hard", "student_sr4"])
def test_inference_mode_and_bf16_autocast(case):
    net = CASES[case]().eval()
    args = _inputs(net, 16, 16)
    with torch.inference_mode():
        ref = net(*args)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = net(*args)
    assert low.shape == ref.shape and torch.isfinite(low).all()
    assert (low.float() - ref).abs().max() <= 0.1 * ref.abs().max()
