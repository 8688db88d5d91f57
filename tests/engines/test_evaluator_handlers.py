import numpy as np
import SimpleITK as sitk
import torch
from monai.handlers import from_engine
from ignite.engine import Events
from torch import nn

from engine_fixtures import SIZE, build, loader

from monai_chpnet.data.synthetic import ellipse_phantom
from monai_chpnet.engines import ComparisonFigureSaver, DynamicKDWeightHandler, ReconEvaluator
from monai_chpnet.losses import DynamicKDWeight
from monai_chpnet.metrics import VolumeNMSE, VolumePSNR, nmse, psnr


class ZeroFilledNet(nn.Module):
    """Returns its (2-channel zero-filled) input: its metrics must equal the zero-filled baseline's."""

    def forward(self, image, kspace=None, mask=None):
        return image


def _evaluator(network, teacher=None, handlers=()):
    metrics = {
        "val_psnr": VolumePSNR(output_transform=from_engine(["pred", "label"])),
        "val_nmse": VolumeNMSE(output_transform=from_engine(["pred", "label"])),
        "zf_psnr": VolumePSNR(output_transform=from_engine(["zero_filled", "label"])),
    }
    if teacher is not None:
        metrics["teacher_nmse"] = VolumeNMSE(output_transform=from_engine(["teacher_pred", "label"]))
    return ReconEvaluator(
        "cpu",
        loader(),
        network,
        teacher=teacher,
        key_val_metric={"val_psnr": metrics.pop("val_psnr")},
        additional_metrics=metrics,
        val_handlers=list(handlers),
    )


def test_outputs_are_in_input_units_and_metrics_follow_fastmri_definitions():
    evaluator = _evaluator(ZeroFilledNet())
    labels, zfs = [], []
    evaluator.add_event_handler(
        Events.ITERATION_COMPLETED,
        lambda e: (labels.append(e.state.output["label"]), zfs.append(e.state.output["zero_filled"])),
    )
    evaluator.run()
    m = evaluator.state.metrics
    assert abs(m["val_psnr"] - m["zf_psnr"]) < 1e-6  # the identity network is the zero-filled baseline
    # de-normalised labels are the original phantom slices
    phantom = ellipse_phantom(8, (SIZE, SIZE))
    label = torch.cat(labels)[:, 0].numpy()
    assert np.allclose(label, phantom, atol=1e-5)
    # per-volume PSNR (fname alternates vol0/vol1) recomputed by hand with the plain functions
    zf = torch.cat(zfs)[:, 0].numpy()
    by_hand = np.mean([psnr(phantom[v::2], zf[v::2]) for v in (0, 1)])
    assert abs(m["zf_psnr"] - by_hand) < 1e-4
    assert abs(m["val_nmse"] - np.mean([nmse(phantom[v::2], zf[v::2]) for v in (0, 1)])) < 1e-6


def test_dynamic_weight_and_comparison_figure(tmp_path):
    trainer, student, teacher, *_ = build("dynamic")
    alpha = DynamicKDWeight(0.5)
    evaluator = _evaluator(student, teacher, [DynamicKDWeightHandler(alpha), ComparisonFigureSaver(str(tmp_path))])
    evaluator.run()
    m = evaluator.state.metrics
    assert abs(alpha.value - m["val_nmse"] / (m["val_nmse"] + m["teacher_nmse"])) < 1e-9
    assert m["alpha"] == alpha.value
    png = tmp_path / "comparison_epoch0001.png"
    image = sitk.GetArrayFromImage(sitk.ReadImage(str(png)))
    assert image.shape == (SIZE, 5 * SIZE + 4 * 4)  # input | student | teacher | target | error
    assert image.dtype == np.uint8 and image.max() > 0


def test_best_model_is_saved_under_a_fixed_name_as_a_bare_state_dict(tmp_path):
    from monai_chpnet.engines import AtomicCheckpointSaver

    trainer, student, *_ = build("none")
    saver = AtomicCheckpointSaver(
        str(tmp_path), {"model": student}, key_metric_name="val_psnr", key_metric_filename="model.pt"
    )
    evaluator = _evaluator(student, handlers=[saver])
    evaluator.run()
    state = torch.load(tmp_path / "model.pt", weights_only=True)
    assert set(state) == set(student.state_dict())
    evaluator.run()  # an equal score is not an improvement: the file stays, nothing else appears
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]


def test_super_resolution_baseline_is_the_degradation_s_classical_inverse():
    """A low-resolution input is scored beside zero-padded k-space for ``kspace`` networks, bicubic otherwise."""
    from monai_chpnet.engines.evaluator import _classical_upsampling
    from monai_chpnet.resampling import downsample, upsample

    hr = torch.rand(2, 1, 16, 16)
    low = downsample(hr, 2, "kspace")
    assert torch.allclose(_classical_upsampling(low, (16, 16), "kspace"), upsample(low, 2, "kspace"))
    bicubic = torch.nn.functional.interpolate(low, size=(16, 16), mode="bicubic", align_corners=False)
    assert torch.allclose(_classical_upsampling(low, (16, 16), "bicubic"), bicubic)
    assert not torch.allclose(upsample(low, 2, "kspace"), bicubic)
