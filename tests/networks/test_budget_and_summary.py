"""Student/teacher budgets of the matching presets, counted at 320 x 320 on meta tensors (no compute)."""

import functools

import pytest
import torch

from monai_chpnet.networks import STUDENT_PRESETS, TEACHER_PRESETS
from monai_chpnet.networks.summary import count_macs, count_parameters, format_table, main, network_factories, summarize


@functools.lru_cache(maxsize=None)
def _params_and_macs(network: str, in_channels: int, upscale: int, size: int):
    build = network_factories(in_channels, upscale)[network]
    with torch.device("meta"):
        params = count_parameters(build())
    return params, count_macs(build, (size, size))


@pytest.mark.parametrize("preset", sorted(STUDENT_PRESETS))
@pytest.mark.parametrize("in_channels, upscale", [(2, 1), (1, 1), (1, 2)])
def test_student_budget_against_matching_teacher(preset, in_channels, upscale):
    """<= 1/8 of the parameters and <= 1/10 of the MACs of the teacher preset of the same name, 320 x 320 output."""
    assert preset in TEACHER_PRESETS
    size = 320 // upscale
    params_t, macs_t = _params_and_macs(f"teacher/{preset}", in_channels, upscale, size)
    params_s, macs_s = _params_and_macs(f"student/{preset}", in_channels, upscale, size)
    assert params_s <= params_t / 8, f"{preset}: student {params_s} params > 1/8 of teacher {params_t}"
    assert macs_s <= macs_t / 10, f"{preset}: student {macs_s} MACs > 1/10 of teacher {macs_t}"


def test_macs_match_a_hand_count():
    conv = lambda: torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.Conv2d(4, 2, 1))

    class Net(torch.nn.Module):
        in_channels = 2

        def __init__(self):
            super().__init__()
            self.body = conv()

        def forward(self, x):
            return self.body(x)

    assert count_macs(Net, (10, 12)) == 10 * 12 * (2 * 4 * 9 + 4 * 2)


def test_summary_table_and_cli(capsys):
    rows = summarize(network_factories(2, 1), (64, 64), ["student/tiny", "unet/fastmri"])
    assert [r["network"] for r in rows] == ["student/tiny", "unet/fastmri"] and rows[1]["params"] == 7_756_418
    assert "| unet/fastmri | 7.756 |" in format_table(rows)
    main(["--size", "32", "32", "--networks", "teacher/tiny", "student/tiny"])
    out = capsys.readouterr().out
    assert "input 32×32" in out and "| teacher/tiny |" in out and "| student/tiny |" in out
    with pytest.raises(SystemExit):
        main(["--networks", "teacher/huge"])
