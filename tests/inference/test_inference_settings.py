"""ReconSettings: every setting checked once, on construction; unknown keys refused; command-line and HTTP strings
read; the error names the key as each front end calls it."""

import math

import pytest
import torch

from monai_chpnet.inference import ReconSettings, SettingsError


def test_defaults_and_fastmri_centre_fraction():
    s = ReconSettings()
    assert (s.acceleration, s.mask_type, s.seed, s.batch_size, s.device) == (4.0, "random", 0, 4, "cpu")
    assert s.effective_center_fraction == pytest.approx(0.08)
    assert ReconSettings(acceleration=8).effective_center_fraction == pytest.approx(0.04)
    assert ReconSettings(device=torch.device("cpu")).device == "cpu"
    assert s.replace(seed=3).seed == 3 and s.seed == 0


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("acceleration", 0.5, "acceleration must be >= 1, got 0.5"),
        ("acceleration", math.inf, "acceleration must be a finite number"),
        ("acceleration", "4", "acceleration must be a number, got '4'"),
        ("acceleration", True, "acceleration must be a number, got True"),
        ("center_fraction", 1.2, "center_fraction must be in (0, 1)"),
        ("mask_type", "spiral", "mask_type must be one of ['equispaced', 'random'], got 'spiral'"),
        ("seed", -1, "seed must be an integer from 0 to 4294967295, got -1"),
        ("seed", 2**32, "seed must be an integer from 0 to 4294967295"),
        ("slice_axis", 3, "slice_axis must be an integer from 0 to 2"),
        ("batch_size", 0, "batch_size must be an integer from 1 to"),
        ("batch_size", -1, "batch_size must be an integer from 1 to"),
        ("threads", -2, "threads must be an integer from 0 to 1024"),
        ("undersampled", "yes", "undersampled must be true or false"),
        ("device", "gpu", "device 'gpu' is not a torch device"),
        ("series_id", "", "series_id must be a DICOM SeriesInstanceUID"),
    ],
)
def test_bad_values_name_the_setting(field, value, words):
    with pytest.raises(SettingsError) as err:
        ReconSettings(**{field: value})
    assert words in str(err.value) and err.value.key == field
    assert isinstance(err.value, ValueError)


def test_combinations_are_checked():
    with pytest.raises(SettingsError, match="center_fraction must be below 1 / acceleration = 0.25"):
        ReconSettings(acceleration=4, center_fraction=0.3)
    with pytest.raises(SettingsError, match="simulate_phase needs a fully-sampled input"):
        ReconSettings(undersampled=True, simulate_phase=True)


def test_from_mapping_reads_strings_and_refuses_unknown_keys():
    s = ReconSettings.from_mapping(
        {
            "acceleration": "8",
            "seed": "7.0",
            "undersampled": "true",
            "center_fraction": "null",
            "mask_type": ["equispaced", "random"],
        }
    )
    assert (s.acceleration, s.seed, s.undersampled, s.center_fraction, s.mask_type) == (
        8.0,
        7,
        True,
        None,
        "equispaced",
    )
    with pytest.raises(SettingsError, match=r"unknown setting 'acclereation' \(did you mean 'acceleration'\?\)") as err:
        ReconSettings.from_mapping({"acclereation": 8})
    assert err.value.key == "acclereation"
    with pytest.raises(SettingsError, match="seed must be an integer from 0 to 4294967295, got 7.5"):
        ReconSettings.from_mapping({"seed": "7.5"})


def test_errors_name_the_setting_as_a_front_end_calls_it():
    with pytest.raises(SettingsError) as err:
        ReconSettings(batch_size=0)
    assert err.value.describe("--batch-size").startswith("--batch-size must be an integer from 1")
