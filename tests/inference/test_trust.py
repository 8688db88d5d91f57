"""Trust maps: zero where student and teacher agree, local to a disagreement, on the input's grid, calibrated."""

import json

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from torch import nn

from monai_chpnet.__main__ import main
from monai_chpnet.inference import TrustMap, reconstruct_volume
from monai_chpnet.inference.sr_files import super_resolve_file, write_sr_outputs
from monai_chpnet.inference.trust import gaussian_smooth, mirrored_mask, normalise_trust
from monai_chpnet.kspace import fft2c, ifft2c
from monai_chpnet.metrics import spearman, top_overlap
from monai_chpnet.networks.student import student_from_preset
from monai_chpnet.networks.teacher import teacher_from_preset
from monai_chpnet.resampling import upsample
from monai_chpnet.transforms.volume import VolumeAcquisition


@pytest.fixture(scope="module")
def student():
    torch.manual_seed(0)
    return student_from_preset("tiny", in_channels=2).eval()


@pytest.fixture(scope="module")
def volume():
    yy, xx = np.mgrid[:48, :48]
    disc = ((yy - 24) ** 2 + (xx - 22) ** 2 < 18**2).astype(np.float32)
    texture = 1.0 + 0.3 * np.sin(xx / 2.0) * np.cos(yy / 3.0)
    return np.stack([disc * texture * (1 + 0.1 * k) for k in range(3)]).astype(np.float32)


class Bumped(nn.Module):
    """``net``'s output with a bump added in rows/columns 10:16 (a local hallucination)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x, kspace=None, mask=None):
        out = self.net(x, kspace=kspace, mask=mask).clone()
        out[..., 10:16, 10:16] += 3.0
        return out


class ZeroFilled(nn.Module):
    """The zero-filled image itself: equivariant to every test-time view."""

    def forward(self, x, kspace=None, mask=None):
        return x


def test_identical_student_and_teacher_give_a_zero_map(student, volume):
    result = reconstruct_volume(volume, student, 4.0, trust=TrustMap("teacher", student))
    assert result.trust.shape == volume.shape
    assert np.all(result.trust == 0.0)


def test_a_local_disagreement_raises_the_map_there_and_nowhere_else(student, volume):
    result = reconstruct_volume(volume, Bumped(student), 4.0, trust=TrustMap("teacher", student, sigma=1.0))
    assert result.trust[:, 11:15, 11:15].min() > 0.5 and result.trust[:, 10:16, 10:16].min() > 0.3
    outside = result.trust.copy()
    outside[:, 6:20, 6:20] = 0.0  # the bump and the smoothing's 3-sigma reach (+ 1 pixel)
    assert np.all(outside == 0.0)


def test_test_time_views_undo_exactly_for_an_equivariant_network(volume):
    """Flips and the phase turn are undone exactly: the zero-filled image itself has no spread over them, while a
    network that is not equivariant does."""
    acquisition = VolumeAcquisition("simulate", 48, 4.0, 0.08, phase_seed=3)
    batch = acquisition(torch.from_numpy(volume)[:, None])
    same = ZeroFilled()
    raw = TrustMap("tta", sigma=0.0).kspace(same, batch, same(batch.image))
    assert float(raw.abs().max()) < 1e-5
    lopsided = Bumped(same)
    raw = TrustMap("tta", sigma=0.0).kspace(lopsided, batch, lopsided(batch.image))
    assert float(raw.max()) > 1.0


def test_the_mirrored_mask_holds_the_flipped_image_s_kspace():
    for width in (16, 17):
        mask = (torch.rand(width) > 0.5).float()
        kspace = torch.randn(3, 8, width, dtype=torch.complex64) * mask
        flipped = fft2c(ifft2c(kspace).flip(-1))
        assert float((flipped.abs() * (1 - mirrored_mask(mask))).max()) < 1e-5


def test_correction_map_is_what_the_student_changed(student, volume):
    result = reconstruct_volume(volume, student, 4.0, trust=TrustMap("correction", sigma=0.0))
    change = np.abs(result.reconstruction - result.zero_filled)
    rows = np.arange(volume.shape[0])
    np.testing.assert_allclose(result.trust, normalise_trust(change, rows), atol=2e-3)


def test_map_is_smoothed_and_normalised_per_volume():
    x = torch.zeros(1, 1, 21, 21)
    x[..., 10, 10] = 1.0
    y = gaussian_smooth(x, 2.0)
    assert y.sum().item() == pytest.approx(1.0, abs=1e-5) and y[..., 10, 10].item() < 0.05
    raw = np.linspace(0, 2, 1000, dtype=np.float32).reshape(1, 10, 100)
    out = normalise_trust(raw, np.array([0]))
    assert out.max() == 1.0 and out.min() == 0.0 and np.count_nonzero(out == 1.0) <= 6


def test_a_trust_map_needs_a_network_and_a_known_method(volume):
    with pytest.raises(ValueError, match="needs the student"):
        reconstruct_volume(volume, None, 4.0, trust=TrustMap("tta"))
    with pytest.raises(ValueError, match="must be one of"):
        TrustMap("entropy")
    with pytest.raises(ValueError, match="teacher's weights"):
        TrustMap("teacher")


def test_calibration_metrics_have_their_textbook_values():
    a = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert spearman(a, a**3) == pytest.approx(1.0)
    assert spearman(a, -a) == pytest.approx(-1.0)
    assert spearman(np.array([1.0, 1.0, 2.0]), np.array([1.0, 2.0, 3.0])) == pytest.approx(0.8660254)
    assert np.isnan(spearman(np.ones(4), a[:4]))
    assert top_overlap(np.arange(100.0), np.arange(100.0)) == 1.0
    assert top_overlap(np.arange(100.0), -np.arange(100.0)) == 0.0


def test_super_resolution_map_has_the_output_grid_and_undoes_its_views(tmp_path):
    class Bicubic(nn.Module):
        upscale, degradation = 2, "bicubic"

        def forward(self, x):
            return upsample(x, 2, "bicubic")

    yy, xx = np.mgrid[:32, :32]
    vol = np.stack([np.exp(-((yy - 14.0) ** 2 + (xx - 17.0) ** 2) / 60.0) + 0.1] * 2).astype(np.float32)
    path = tmp_path / "low.nii.gz"
    img = sitk.GetImageFromArray(vol)
    img.SetSpacing((1.5, 2.0, 4.0))
    sitk.WriteImage(img, str(path))
    x = torch.from_numpy(vol)[:, None]
    raw = TrustMap("tta", sigma=0.0).sr(Bicubic(), x, Bicubic()(x), Bicubic()(x))
    assert float(raw.max()) < 1e-5  # bicubic upsampling commutes with flips and transposition
    # zero-padded k-space commutes with mirrors about the k-space centre (up to its unpaired Nyquist line), not
    # with plain flips: the views of the kspace degradation are those mirrors
    sinc = lambda t: upsample(t, 2, "kspace")  # noqa: E731
    centred = TrustMap("tta", sigma=0.0).sr(sinc, x, sinc(x), sinc(x), "kspace")
    plain = TrustMap("tta", sigma=0.0).sr(sinc, x, sinc(x), sinc(x), "bicubic")
    assert float(centred.max()) < 0.02 * float(x.max()) < float(plain.max())
    result = super_resolve_file(path, Bicubic(), 2, trust=TrustMap("correction"))
    assert result.trust.shape == result.super_resolved.shape == (2, 64, 64)
    written = write_sr_outputs(result, tmp_path / "out")
    trust = sitk.ReadImage(str(tmp_path / "out" / "low_sr_trust.nii.gz"))
    sr = sitk.ReadImage(str(tmp_path / "out" / "low_sr.nii.gz"))
    assert trust.GetSize() == sr.GetSize() and trust.GetSpacing() == sr.GetSpacing()
    assert trust.GetOrigin() == sr.GetOrigin() and trust.GetDirection() == sr.GetDirection()
    assert len(written) == 3


def test_cli_writes_the_map_with_the_input_geometry(tmp_path, student, volume, capsys):
    img = sitk.GetImageFromArray(volume)
    img.SetSpacing((0.8, 0.9, 3.0))
    img.SetOrigin((-10.0, 20.5, 7.25))
    img.SetDirection((0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0))
    sitk.WriteImage(img, str(tmp_path / "vol.nii.gz"))
    weights = tmp_path / "student.pt"
    torch.save(student.state_dict(), weights)
    assert main(["reconstruct", str(tmp_path / "vol.nii.gz"), "--weights", str(weights), "--preset", "tiny",
                 "--trust", "--trust-map", "tta", "--output-dir", str(tmp_path / "out")]) == 0  # fmt: skip
    trust = sitk.ReadImage(str(tmp_path / "out" / "vol_trust.nii.gz"))
    for get in ("GetSize", "GetSpacing", "GetOrigin", "GetDirection"):
        assert np.allclose(getattr(trust, get)(), getattr(img, get)())
    values = sitk.GetArrayFromImage(trust)
    assert values.max() == pytest.approx(1.0) and values.min() >= 0.0
    report = json.loads((tmp_path / "out" / "vol_metrics.json").read_text())
    assert report["trust"]["method"] == "tta" and report["trust"]["seconds"] > 0


@pytest.mark.parametrize("bad", ["missing", "student"])
def test_bad_teacher_weights_are_named_and_the_reconstruction_is_still_written(tmp_path, student, volume, bad, capsys):
    sitk.WriteImage(sitk.GetImageFromArray(volume), str(tmp_path / "vol.nii.gz"))
    weights = tmp_path / "student.pt"
    torch.save(student.state_dict(), weights)
    teacher = tmp_path / "nowhere.pt" if bad == "missing" else weights
    code = main(["reconstruct", str(tmp_path / "vol.nii.gz"), "--weights", str(weights), "--preset", "tiny",
                 "--trust", "--trust-map", "teacher", "--teacher-weights", str(teacher), "--output-dir", str(tmp_path / "out")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 3 and str(teacher) in err and "without it" in err
    assert (tmp_path / "out" / "vol_recon.nii.gz").is_file()
    assert not (tmp_path / "out" / "vol_trust.nii.gz").exists()


def test_the_k_space_teacher_map_runs_with_a_real_teacher(student, volume):
    torch.manual_seed(1)
    teacher = teacher_from_preset("tiny", in_channels=2).eval()
    result = reconstruct_volume(volume, student, 4.0, trust=TrustMap("teacher", teacher))
    assert 0.0 <= result.trust.min() and result.trust.max() == pytest.approx(1.0)
    assert result.trust_seconds > 0 and result.trust_method == "teacher"
    # the map is zero only where neither network produces anything different (not everywhere)
    assert np.count_nonzero(result.trust > 0.05) > 0.1 * result.trust.size
