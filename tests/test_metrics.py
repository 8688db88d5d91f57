import math

import numpy as np
import pytest
import torch
from ignite.engine import Engine
from ignite.exceptions import NotComputableError
from monai.engines import SupervisedEvaluator
from monai.handlers import from_engine
from skimage import data as skdata
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from torch.utils.data import DataLoader

import monai_chpnet.metrics as metrics_module
from monai_chpnet.metrics import VolumeNMSE, VolumePSNR, VolumeSSIM, nmse, psnr, ssim

METRIC_CLASSES = {"psnr": VolumePSNR, "ssim": VolumeSSIM, "nmse": VolumeNMSE}
FUNCTIONS = {"psnr": psnr, "ssim": ssim, "nmse": nmse}


def _skimage_ssim(gt, pred, data_range=None):
    dr = gt.max() if data_range is None else data_range
    return np.mean([structural_similarity(g, p, data_range=dr) for g, p in zip(gt, pred)])


def _noisy_pair(shape, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    gt = rng.random(shape) * rng.uniform(0.5, 3.0)
    return gt.astype(dtype), (gt + 0.1 * rng.standard_normal(shape)).astype(dtype)


def _camera_pair():
    gt = skdata.camera()[::8, ::8].astype(np.float64)  # 64 x 64, values up to 255
    rng = np.random.default_rng(1)
    return gt, np.clip(gt + rng.normal(0, 12, gt.shape), 0, None)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("as_torch", [False, True])
def test_functions_match_skimage_on_volumes(dtype, as_torch):
    gt, pred = _noisy_pair((3, 20, 27), seed=0, dtype=dtype)
    args = (torch.from_numpy(gt), torch.from_numpy(pred)) if as_torch else (gt, pred)
    assert psnr(*args) == pytest.approx(peak_signal_noise_ratio(gt, pred, data_range=gt.max()), abs=1e-4)
    assert ssim(*args) == pytest.approx(_skimage_ssim(gt, pred), abs=1e-4)
    assert ssim(*args, data_range=5.0) == pytest.approx(_skimage_ssim(gt, pred, 5.0), abs=1e-4)
    assert psnr(*args, data_range=5.0) == pytest.approx(peak_signal_noise_ratio(gt, pred, data_range=5.0), abs=1e-4)


def test_functions_match_skimage_on_a_natural_slice():
    gt, pred = _camera_pair()
    assert ssim(gt, pred) == pytest.approx(structural_similarity(gt, pred, data_range=gt.max()), abs=1e-4)
    assert psnr(gt, pred) == pytest.approx(peak_signal_noise_ratio(gt, pred, data_range=gt.max()), abs=1e-4)
    # (slices, 1, H, W) is one volume of channel-first slices
    assert ssim(gt[None, None], pred[None, None]) == pytest.approx(ssim(gt, pred), abs=1e-12)


def test_volume_data_range_is_the_volume_max_not_the_slice_max():
    gt, pred = _noisy_pair((2, 16, 16), seed=3)
    gt[1] *= 0.1
    pred[1] *= 0.1
    per_slice_max = np.mean([structural_similarity(g, p, data_range=g.max()) for g, p in zip(gt, pred)])
    assert ssim(gt, pred) == pytest.approx(_skimage_ssim(gt, pred), abs=1e-4)
    assert abs(ssim(gt, pred) - per_slice_max) > 1e-3


def test_nmse_and_psnr_by_hand():
    gt = np.full((1, 2, 2), 2.0)
    pred = gt.copy()
    pred[0, 0, 0] = 3.0
    assert nmse(gt, pred) == pytest.approx(1.0 / 16.0)  # ||d||^2 = 1, ||gt||^2 = 4 * 4
    assert psnr(gt, pred) == pytest.approx(10 * math.log10(2.0**2 / 0.25))  # MSE = 1 / 4
    assert psnr(gt, gt) == math.inf
    assert nmse(gt, gt) == 0.0
    assert ssim(np.ones((8, 8)), np.ones((8, 8))) == pytest.approx(1.0)


def test_all_zero_target_mirrors_numpy():
    zeros = np.zeros((8, 8))
    assert nmse(zeros, zeros + 1) == math.inf and math.isnan(nmse(zeros, zeros))
    assert psnr(zeros, zeros + 1) == -math.inf


def test_function_errors():
    with pytest.raises(ValueError, match="same shape"):
        psnr(np.ones((2, 8, 8)), np.ones((2, 8, 9)))
    with pytest.raises(ValueError, match="slice"):
        nmse(np.ones((2, 2, 8, 8)), np.ones((2, 2, 8, 8)))
    with pytest.raises(ValueError, match="at least 7x7"):
        ssim(np.ones((6, 9)), np.ones((6, 9)))


def _volumes():
    """Two volumes of 3 and 2 slices with different intensity scales, float32 like network outputs."""
    a = _noisy_pair((3, 12, 14), seed=10, dtype=np.float32)
    b = _noisy_pair((2, 12, 14), seed=11, dtype=np.float32)
    b = (b[0] * 4, b[1] * 4)
    return {"a": a, "b": b}


def _reference(name, volumes):
    return np.mean([FUNCTIONS[name](g, p) for g, p in volumes.values()])


@pytest.mark.parametrize("name", sorted(METRIC_CLASSES))
@pytest.mark.parametrize("with_data_range", [False, True])
def test_per_volume_accumulation_equals_whole_volume_definition(name, with_data_range):
    volumes = _volumes()
    # slices of both volumes interleaved, out of order, in batches of 2
    order = [("b", 1), ("a", 2), ("a", 0), ("b", 0), ("a", 1)]
    metric = METRIC_CLASSES[name]()
    for start in range(0, len(order), 2):
        chunk = order[start : start + 2]
        gt = torch.stack([torch.from_numpy(volumes[v][0][s]) for v, s in chunk])[:, None]
        pred = torch.stack([torch.from_numpy(volumes[v][1][s]) for v, s in chunk])[:, None]
        ids = [v for v, _ in chunk]
        ranges = [float(volumes[v][0].max()) for v in ids] if with_data_range else None
        metric.update((pred, gt, ids, ranges))
    assert metric.compute() == pytest.approx(_reference(name, volumes), rel=1e-9)
    if name == "ssim":  # slices wait for the volume max only when it is not given
        assert any(v.pending for v in metric._volumes.values()) is not with_data_range
    metric.reset()
    with pytest.raises(NotComputableError):
        metric.compute()


@pytest.mark.parametrize("name", sorted(METRIC_CLASSES))
def test_samples_without_volume_id_are_volumes_of_their_own(name):
    gt, pred = _noisy_pair((3, 10, 10), seed=4, dtype=np.float32)
    metric = METRIC_CLASSES[name]()
    metric.update((torch.from_numpy(pred)[:, None], torch.from_numpy(gt)[:, None]))
    expected = np.mean([FUNCTIONS[name](g, p) for g, p in zip(gt, pred)])
    assert metric.compute() == pytest.approx(expected, rel=1e-9)


def test_metric_input_errors():
    metric = VolumePSNR()
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        metric.update((torch.ones(2, 2, 8, 8), torch.ones(2, 2, 8, 8)))
    with pytest.raises(ValueError, match="volume ids"):
        metric.update((torch.ones(2, 1, 8, 8), torch.ones(2, 1, 8, 8), ["a"]))
    metric.update((torch.ones(2, 1, 8, 8), 2 * torch.ones(2, 1, 8, 8), torch.tensor([7, 7])))
    assert list(metric._volumes) == [7]  # tensor ids are grouped by value
    with pytest.raises(ValueError, match="two data ranges"):
        metric.update((torch.ones(2, 1, 8, 8), torch.ones(2, 1, 8, 8), ["a", "a"], [1.0, 2.0]))


def test_distributed_compute_merges_the_slices_of_a_volume_across_ranks(monkeypatch):
    """Two ranks each saw part of each volume: every rank computes the whole-volume values."""
    volumes = _volumes()
    ranks = [VolumeSSIM(), VolumeSSIM()]
    for rank, slices in enumerate([[("a", 0), ("b", 1)], [("a", 1), ("a", 2), ("b", 0)]]):
        gt = torch.stack([torch.from_numpy(volumes[v][0][s]) for v, s in slices])[:, None]
        pred = torch.stack([torch.from_numpy(volumes[v][1][s]) for v, s in slices])[:, None]
        ranks[rank].update((pred, gt, [v for v, _ in slices]))
    monkeypatch.setattr(metrics_module.idist, "get_world_size", lambda: 2)
    monkeypatch.setattr(metrics_module.idist, "all_gather", lambda obj: [r._volumes for r in ranks])
    assert ranks[0].compute() == pytest.approx(_reference("ssim", volumes), rel=1e-9)
    assert ranks[1].compute() == ranks[0].compute()


class _Degrade(torch.nn.Module):
    """Deterministic stand-in for a network: a fixed blur of its input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


@pytest.mark.parametrize("decollate", [True, False])
def test_metrics_in_a_supervised_evaluator(decollate):
    volumes = _volumes()
    items = [
        {"image": torch.from_numpy(g)[None], "label": torch.from_numpy(g)[None], "fname": v}
        for v, (gt, _) in volumes.items()
        for g in gt
    ]
    loader = DataLoader(items, batch_size=2, shuffle=False)  # the middle batch holds slices of both volumes
    transform = from_engine(["pred", "label"])
    evaluator = SupervisedEvaluator(
        device=torch.device("cpu"),
        val_data_loader=loader,
        network=_Degrade(),
        key_val_metric={"val_psnr": VolumePSNR(output_transform=transform)},
        additional_metrics={
            "val_ssim": VolumeSSIM(output_transform=transform),
            "val_nmse": VolumeNMSE(output_transform=transform),
        },
        decollate=decollate,
    )
    evaluator.run()
    blur = _Degrade()
    expected_volumes = {v: (gt, blur(torch.from_numpy(gt)[:, None])[:, 0].numpy()) for v, (gt, _) in volumes.items()}
    for name in ("psnr", "ssim", "nmse"):
        assert evaluator.state.metrics[f"val_{name}"] == pytest.approx(_reference(name, expected_volumes), rel=1e-6)
    assert evaluator.state.best_metric == evaluator.state.metrics["val_psnr"]


def test_volume_ids_and_data_ranges_are_read_from_the_batch():
    volumes = _volumes()
    gt_a, pred_a = volumes["a"]
    metric = VolumeSSIM(volume_key="fname", data_range_key="max")

    def step(engine, batch):
        return {"y_pred": batch["pred"], "y": batch["target"]}

    engine = Engine(step)
    metric.attach(engine, "ssim")
    batches = [
        {
            "pred": torch.from_numpy(pred_a[i : i + 1])[:, None],
            "target": torch.from_numpy(gt_a[i : i + 1])[:, None],
            "fname": ["a"],
            "max": torch.tensor([float(gt_a.max())]),
        }
        for i in range(3)
    ]
    assert engine.run(batches).metrics["ssim"] == pytest.approx(ssim(gt_a, pred_a), rel=1e-9)
    assert not metric._volumes["a"].pending


def test_validation_metrics_with_the_volume_data_range_match_the_deferred_ones():
    """``data_range_key="max"`` (fastMRI's volume maximum) gives the same values as waiting for the whole volume,
    without keeping its slices; every metric of the set gets it."""
    from monai_chpnet.metrics import validation_metrics

    gen = torch.Generator().manual_seed(0)
    y = torch.rand(6, 1, 16, 16, generator=gen) * torch.tensor([1, 1, 1, 3, 3, 3.0]).view(6, 1, 1, 1)
    pred = y + 0.05 * torch.randn(6, 1, 16, 16, generator=gen)
    ids = ["a"] * 3 + ["b"] * 3
    ranges = [float(y[:3].max())] * 3 + [float(y[3:].max())] * 3
    deferred = validation_metrics(teacher=True, volume_key="fname")
    ranged = validation_metrics(teacher=True, volume_key="fname", data_range_key="max")
    assert {m.data_range_key for m in ranged.values()} == {"max"}
    for name in deferred:
        deferred[name].reset(), ranged[name].reset()
        deferred[name].update((pred, y, ids))
        ranged[name].update((pred, y, ids, ranges))
        assert ranged[name].compute() == pytest.approx(deferred[name].compute(), rel=1e-9), name
