"""The training configs' settings: checked once (command-line strings included), and recorded with the
checkpoints under the same keys and values as before ``settings`` existed, so that older checkpoints resume."""

from pathlib import Path

import pytest
from monai.bundle import ConfigParser

from monai_chpnet.engines import StudentSettings

CONFIGS = Path(__file__).resolve().parents[2] / "bundles" / "chpnet_mri_recon" / "configs"

# what the configs recorded (RunConfig.config) before the settings step, bundle_root "/bundle", default settings
# (phase_prob: the 0.4.0 default, 0.25)
STUDENT_DEFAULT = {
    "alpha": {"momentum": 0.9, "signal": "batch", "temperature": 0.25},
    "batch_size": 8,
    "dataset": "sample",
    "edge_correction": True,
    "feature_kd": True,
    "feature_pairing": "depth",
    "feedback": {"balance": True, "ratio": 0.5},
    "grad_clip_norm": 1.0,
    "hint_iterations": 0,
    "kd": "dynamic",
    "kd_mix": "add",
    "kd_ssim_weight": 0.0,
    "knowledge": {"dilation": 0, "rule": "mask"},
    "learning_rate": 0.001,
    "loss_weights": {"beta": 0.1, "feedback_weight": 1.0, "gamma": 0.5, "tau": 0.3},
    "patch_size": 96,
    "phase_prob": 0.25,
    "seed": 0,
    "student_preset": "small",
    "teacher_bounded": False,
    "teacher_guard": 0.2,
    "teacher_learning_rate": 5e-05,
    "teacher_preset": "small",
    "teacher_weights": "/bundle/models/teacher.pt",
    "unlabelled": None,
}
TEACHER_DEFAULT = {
    "batch_size": 8,
    "dataset": "sample",
    "init_weights": None,
    "learning_rate": 0.0005,
    "patch_size": 96,
    "phase_prob": 0.25,
    "seed": 0,
    "teacher_preset": "small",
}
# and with these overrides, given as strings as the command line may give them
STRING_OVERRIDES = {
    "alpha_signal": "validation",
    "alpha_temperature": "0.5",
    "beta": "1",
    "feedback_balance": "no",
    "feedback_weight": "2",
    "gamma": 0,
    "grad_clip_norm": None,
    "hint_iterations": "3",
    "kd_ssim_weight": "1.0",
    "knowledge_dilation": "2",
    "learning_rate": "0.002",
    "phase_prob": "0.75",
    "tau": "0.25",
    "teacher_guard": "off",
    "teacher_learning_rate": "1e-4",
    "unlabelled_dataset": "sample",
    "unlabelled_weight": "0.5",
}
STRING_OVERRIDES_RECORDED = {
    "alpha": {"momentum": 0.5, "signal": "validation", "temperature": 0.5},
    "batch_size": 8,
    "dataset": "sample",
    "edge_correction": True,
    "feature_kd": True,
    "feature_pairing": "depth",
    "feedback": {"balance": False, "ratio": 0.5},
    "grad_clip_norm": None,
    "hint_iterations": 3,
    "kd": "dynamic",
    "kd_mix": "add",
    "kd_ssim_weight": 1.0,
    "knowledge": {"dilation": 2, "rule": "mask"},
    "learning_rate": 0.002,
    "loss_weights": {"beta": 1.0, "feedback_weight": 2.0, "gamma": 0.0, "tau": 0.25},
    "patch_size": 96,
    "phase_prob": 0.75,
    "seed": 0,
    "student_preset": "small",
    "teacher_bounded": False,
    "teacher_guard": None,
    "teacher_learning_rate": 0.0001,
    "teacher_preset": "small",
    "teacher_weights": "/bundle/models/teacher.pt",
    "unlabelled": {"dataset": "sample", "dir": None, "weight": 0.5},
}


def parser(name, **overrides):
    p = ConfigParser()
    p.read_config(str(CONFIGS / name))
    p.update({"bundle_root": "/bundle", **overrides})
    return p


@pytest.mark.parametrize(
    "name, overrides, expected",
    [
        ("train_student.json", {}, STUDENT_DEFAULT),
        ("train_teacher.json", {}, TEACHER_DEFAULT),
        ("train_student.json", STRING_OVERRIDES, STRING_OVERRIDES_RECORDED),
    ],
)
def test_run_config_records_what_earlier_checkpoints_recorded(name, overrides, expected):
    run_config = parser(name, **overrides).get_parsed_content("run_config")
    assert run_config.config == expected
    assert run_config.fingerprint == type(run_config)(expected).fingerprint


def test_command_line_strings_reach_the_student_config_cast():
    """``--kd static --edge_correction false --tau 0.3 ...``: fire passes the switches as strings."""
    p = parser(
        "train_student.json",
        kd="static",
        edge_correction="false",
        feature_kd="true",
        teacher_bounded="yes",
        tau="0.25",
        knowledge_dilation="2",
        alpha_momentum="0.7",
        alpha_temperature="0.5",
        feedback_ratio="0.3",
        kd_ssim_weight="1",
        teacher_guard_margin="0.1",
        hint_iterations="0",
    )
    settings = p.get_parsed_content("settings")
    assert isinstance(settings, StudentSettings)
    assert (settings.edge_correction, settings.feature_kd, settings.teacher_bounded) == (False, True, True)
    assert (settings.tau, settings.knowledge_dilation, settings.alpha_momentum) == (0.25, 2, 0.7)
    loss = p.get_parsed_content("loss#output")
    assert loss.bounded is True and loss.ssim_weight == 1.0
    alpha = p.get_parsed_content("alpha")
    assert (alpha.momentum, alpha.temperature) == (0.7, 0.5)
    assert p.get_parsed_content("feedback_balancer").ratio == 0.3
    assert p.get_parsed_content("run_config").config["knowledge"] is None
    knowledge = parser("train_student.json", tau="0.25", knowledge_dilation="2").get_parsed_content("loss#knowledge")
    assert (knowledge.tau, knowledge.dilation) == (0.25, 2)
    assert parser("train_student.json", edge_correction="off").get_parsed_content("loss#knowledge") is None


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"feature_kd": "maybe"}, "feature_kd must be true or false, got 'maybe'"),
        ({"tau": "abc"}, "tau must be a number, got 'abc'"),
        ({"hint_iterations": "2.5"}, "hint_iterations must be an integer, got '2.5'"),
        ({"kd": "dynamik"}, "kd must be one of"),
    ],
)
def test_bad_settings_are_named(overrides, message):
    with pytest.raises(RuntimeError) as info:
        parser("train_student.json", **overrides).get_parsed_content("settings")
    assert isinstance(info.value.__cause__, ValueError) and message in str(info.value.__cause__)


def test_settings_are_checked_first_in_initialize():
    for name in ("train_student.json", "train_teacher.json"):
        assert "@settings" in ConfigParser.load_config_file(str(CONFIGS / name))["initialize"]
    assert "@settings" in ConfigParser.load_config_file(str(CONFIGS / "multi_gpu_train.json"))["initialize"]
