import pytest
import torch
from torch import nn

from monai_chpnet.losses import FeatureProjector, HeterogeneousFeatureLoss


@pytest.mark.parametrize(
    "in_stride, out_stride, layer, factor",
    [
        (1, 1, None, 1),
        (1, 2, nn.PixelUnshuffle, 2),
        (1, 4, nn.PixelUnshuffle, 4),
        (2, 4, nn.PixelUnshuffle, 2),
        (2, 1, nn.PixelShuffle, 2),
        (4, 1, nn.PixelShuffle, 4),
        (8, 2, nn.PixelShuffle, 4),
        (2, 3, None, None),  # non-integer ratios: pooling / nearest fallback
        (3, 2, None, None),
    ],
)
def test_projector_maps_student_grid_and_channels_to_the_teacher(in_stride, out_stride, layer, factor):
    proj = FeatureProjector(in_channels=5, out_channels=7, in_stride=in_stride, out_stride=out_stride)
    h, w = 48 // in_stride, 96 // in_stride  # a 48 x 96 input grid
    y = proj(torch.randn(2, 5, h, w))
    assert y.shape == (2, 7, 48 // out_stride, 96 // out_stride)
    assert proj.factor == factor
    shuffles = [m for m in proj.modules() if isinstance(m, (nn.PixelShuffle, nn.PixelUnshuffle))]
    assert [type(m) for m in shuffles] == ([layer] if layer else [])
    if shuffles:
        r = factor
        conv = next(m for m in proj.modules() if isinstance(m, nn.Conv2d))
        channels = (5 * r * r, 7) if layer is nn.PixelUnshuffle else (5, 7 * r * r)
        assert (conv.in_channels, conv.out_channels) == channels


def test_projector_rejects_a_grid_it_cannot_unshuffle():
    with pytest.raises(ValueError, match="pixel-unshuffled by 2"):
        FeatureProjector(4, 4, 1, 2)(torch.randn(1, 4, 7, 8))


STUDENT_INFO = {"enc1": (8, 1), "enc2": (16, 2), "bottleneck": (32, 4)}
TEACHER_INFO = {"group0": (12, 1), "group1": (12, 1)}
PAIRS = [("enc2", "group0"), ("bottleneck", "group1")]


def _features(batch=2, size=16, requires_grad=False):
    g = torch.Generator().manual_seed(0)
    student = {
        tap: torch.randn(batch, c, size // s, size // s, generator=g).requires_grad_(requires_grad)
        for tap, (c, s) in STUDENT_INFO.items()
    }
    teacher = {
        tap: torch.randn(batch, c, size // s, size // s, generator=g).requires_grad_(requires_grad)
        for tap, (c, s) in TEACHER_INFO.items()
    }
    return student, teacher


def test_gradient_reaches_student_and_projectors_never_the_teacher():
    loss_fn = HeterogeneousFeatureLoss(STUDENT_INFO, TEACHER_INFO, PAIRS)
    student, teacher = _features(requires_grad=True)
    loss = loss_fn(student, teacher)
    loss.backward()
    assert loss > 0
    for s_tap, _ in PAIRS:
        assert student[s_tap].grad.norm() > 0
    assert all(p.grad is not None and p.grad.norm() > 0 for p in loss_fn.parameters())
    assert all(t.grad is None for t in teacher.values())
    assert set(loss_fn.pair_losses(student, teacher)) == {"enc2->group0", "bottleneck->group1"}


def _identity_loss(**weights):
    loss_fn = HeterogeneousFeatureLoss({"s": (3, 1)}, {"t": (3, 1)}, [("s", "t")], **weights)
    conv = loss_fn.projectors[0].proj
    with torch.no_grad():
        conv.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
        conv.bias.zero_()
    return loss_fn


def test_zero_when_the_projected_student_equals_the_teacher():
    x = torch.randn(2, 3, 20, 20)
    assert _identity_loss()({"s": x}, {"t": x.clone()}).item() == pytest.approx(0.0, abs=1e-6)
    # both terms ignore the per-location feature norm
    assert _identity_loss()({"s": x * 3.0}, {"t": x}).item() == pytest.approx(0.0, abs=1e-6)


def test_feature_and_affinity_terms_by_hand():
    ones = torch.ones(1, 1, 4, 4)
    e1, e2 = torch.cat([ones, 0 * ones, 0 * ones], 1), torch.cat([0 * ones, ones, 0 * ones], 1)
    # orthogonal at every location: feature term 2 - 2 cos = 2; both affinity matrices are all ones: 0
    assert _identity_loss(affinity_weight=0.0)({"s": e1}, {"t": e2}).item() == pytest.approx(2.0)
    assert _identity_loss(feature_weight=0.0)({"s": e1}, {"t": e2}).item() == pytest.approx(0.0)
    # same features but different spatial relations: half of the student's locations point elsewhere
    s = e1.clone()
    s[..., :2, :] = e2[..., :2, :]
    affinity_only = _identity_loss(feature_weight=0.0)({"s": s}, {"t": e1}).item()
    assert affinity_only == pytest.approx(0.5)  # half of the 16 x 16 entries differ by 1


def test_missing_taps_are_named():
    with pytest.raises(KeyError, match="student tap 'enc9'.*enc1"):
        HeterogeneousFeatureLoss(STUDENT_INFO, TEACHER_INFO, [("enc9", "group0")])
    with pytest.raises(KeyError, match="teacher tap 'group7'"):
        HeterogeneousFeatureLoss(STUDENT_INFO, TEACHER_INFO, [("enc1", "group7")])
    with pytest.raises(ValueError, match="at least one"):
        HeterogeneousFeatureLoss(STUDENT_INFO, TEACHER_INFO, [])
    with pytest.raises(ValueError, match="repeat"):
        HeterogeneousFeatureLoss(STUDENT_INFO, TEACHER_INFO, PAIRS + PAIRS[:1])
    student, teacher = _features()
    del teacher["group1"]
    with pytest.raises(KeyError, match="teacher features have no tap 'group1'"):
        HeterogeneousFeatureLoss(STUDENT_INFO, TEACHER_INFO, PAIRS)(student, teacher)


def test_runtime_shapes_that_contradict_feature_info_are_reported():
    loss_fn = HeterogeneousFeatureLoss(STUDENT_INFO, TEACHER_INFO, PAIRS)
    student, teacher = _features()
    student["enc2"] = torch.randn(2, 10, 8, 8)
    with pytest.raises(ValueError, match=r"student tap 'enc2': expected \(B, 16, h, w\).*got \(2, 10, 8, 8\)"):
        loss_fn(student, teacher)
    student, teacher = _features()
    student["bottleneck"] = torch.randn(2, 32, 2, 2)  # stride 8 in fact, declared 4
    with pytest.raises(ValueError, match=r"student tap 'bottleneck'.*\(8, 8\) grid.*teacher tap 'group1'"):
        loss_fn(student, teacher)


PRESETS = ("tiny", "small", "paper")


@pytest.fixture(scope="module")
def preset_infos():
    from monai_chpnet.networks import student_from_preset, teacher_from_preset

    students = {p: student_from_preset(p, in_channels=2).feature_info() for p in PRESETS}
    teachers = {p: teacher_from_preset(p, in_channels=2).feature_info() for p in PRESETS}
    return students, teachers


@pytest.mark.parametrize("student_preset", PRESETS)
@pytest.mark.parametrize("teacher_preset", PRESETS)
def test_default_pairs_match_each_cascade_with_the_group_at_its_relative_depth(
    preset_infos, student_preset, teacher_preset
):
    from fractions import Fraction

    from monai_chpnet.losses import default_feature_pairs

    s_info, t_info = preset_infos[0][student_preset], preset_infos[1][teacher_preset]
    num_k = len({tap.split("_")[0] for tap in s_info})
    num_g = len(t_info)
    pairs = default_feature_pairs(s_info, t_info)
    assert [s for s, _ in pairs] == [f"cascade{k}_dec" for k in range(num_k)]  # every cascade once, in order
    for k, (_, t_tap) in enumerate(pairs):
        g = int(t_tap[len("group") :])
        depth_s, depth_t = Fraction(k + 1, num_k), Fraction(g + 1, num_g)
        assert depth_s <= depth_t < depth_s + Fraction(1, num_g), (k, g)  # the same relative depth, within a group
    assert pairs[-1][1] == f"group{num_g - 1}" and pairs[0][1] == f"group{(num_g - 1) // num_k}"
    HeterogeneousFeatureLoss(s_info, t_info, pairs)  # every pair gets a projector


def test_depth_pairs_of_the_shipped_sizes_and_the_legacy_rule(preset_infos):
    from monai_chpnet.losses import default_feature_pairs, matched_group

    s_info, t_info = preset_infos[0]["small"], preset_infos[1]["small"]  # 5 cascades, 4 groups
    assert default_feature_pairs(s_info, t_info) == [
        ("cascade0_dec", "group0"),
        ("cascade1_dec", "group1"),
        ("cascade2_dec", "group2"),
        ("cascade3_dec", "group3"),
        ("cascade4_dec", "group3"),
    ]
    # the first design: the first cascade's bottleneck against a middle group
    assert default_feature_pairs(s_info, t_info, rule="legacy") == [
        ("cascade0_bottleneck", "group2"),
        ("cascade4_dec", "group3"),
    ]
    assert [matched_group(k, 5, 6) for k in range(5)] == [1, 2, 3, 4, 5]  # small student, paper teacher
    with pytest.raises(ValueError, match="cascade"):
        default_feature_pairs(STUDENT_INFO, TEACHER_INFO)  # taps not named by cascade: pass pairs explicitly
    with pytest.raises(ValueError, match="rule"):
        default_feature_pairs(s_info, t_info, rule="nearest")
