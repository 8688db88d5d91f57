import pytest

from monai_chpnet.config_utils import flag


@pytest.mark.parametrize(
    "value, expected",
    [
        (True, True),
        (False, False),
        ("false", False),
        ("False", False),
        ("0", False),
        ("no", False),
        ("true", True),
        ("TRUE", True),
        (1, True),
        (0, False),
    ],
)
def test_flag_parses_command_line_switches(value, expected):
    assert flag(value) is expected


def test_flag_refuses_anything_else():
    with pytest.raises(ValueError, match="feature_kd must be true or false, got 'maybe'"):
        flag("maybe", "feature_kd")
