"""Request parameters of the MONAI Label task: defaults, coercion of client values, one readable error per mistake."""

import pytest
from monailabel_fixtures import MONAILABEL_REQUIRED

pytest.importorskip(MONAILABEL_REQUIRED, reason="MONAI Label is an optional extra (bash scripts/setup.sh test)")

from monai_chpnet.monailabel.params import RECON_DEFAULTS, InvalidRequest, ReconParams, parse_recon_params  # noqa: E402


def test_config_defaults_are_the_documented_defaults():
    # the task's config merged into the request, as MONAI Label does, with list-valued choices
    params = parse_recon_params(dict(RECON_DEFAULTS))
    assert params == ReconParams(acceleration=4.0, mask_type="random", seed=0, slice_axis=0, result_extension=".nii.gz")
    assert parse_recon_params({}) == params
    assert params.reconstruct_kwargs() == {
        "acceleration": 4.0,
        "undersampled": False,
        "center_fraction": None,
        "mask_type": "random",
        "seed": 0,
        "slice_axis": 0,
    }


def test_client_values_are_coerced():
    params = parse_recon_params(
        {
            "acceleration": "8",
            "center_fraction": 0.04,
            "mask_type": "equispaced",
            "seed": "7.0",
            "slice_axis": 2,
            "result_extension": "nrrd",
            "trust": "tta",
            "model": "chpnet_mri_recon",
            "device": "cpu",  # MONAI Label's keys: ignored
        }
    )
    assert params == ReconParams(8.0, False, 0.04, "equispaced", 7, 2, ".nrrd", "tta")
    assert parse_recon_params({"trust": "none"}).trust is None
    assert params.to_json()["acceleration"] == 8.0


@pytest.mark.parametrize("value", [True, "true", "1", "yes"])
def test_already_undersampled_keeps_the_acquisitions_acceleration(value):
    """The acceleration (and mask type, seed) of an undersampled input describe its acquisition's mask."""
    params = parse_recon_params({"undersampled": value, "acceleration": "8"})
    assert params.undersampled and params.reconstruct_kwargs()["acceleration"] == 8.0
    assert params.reconstruct_kwargs()["undersampled"] is True
    with pytest.raises(InvalidRequest, match="acceleration must be a number"):
        parse_recon_params({"undersampled": value, "acceleration": "ignored"})


@pytest.mark.parametrize(
    "request_, words",
    [
        ({"acceleration": 0.5}, "acceleration must be >= 1"),
        ({"acceleration": -4}, "acceleration must be >= 1"),
        ({"acceleration": "fast"}, "acceleration must be a number, got 'fast'"),
        ({"acceleration": True}, "acceleration must be a number"),
        ({"acceleration": [None]}, "acceleration must be a number"),
        ({"acceleration": "nan"}, "acceleration must be a finite number"),
        ({"acceleration": float("inf")}, "acceleration must be a finite number"),
        ({"center_fraction": 1.5}, "center_fraction must be in (0, 1)"),
        ({"mask_type": "spiral"}, "mask_type must be one of ['equispaced', 'random'], got 'spiral'"),
        ({"mask_type": {"a": 1}}, "mask_type must be one of"),
        ({"seed": -1}, "seed must be an integer from 0 to 4294967295, got -1"),
        ({"seed": 1.5}, "seed must be an integer"),
        ({"slice_axis": 3}, "slice_axis must be an integer from 0 to 2"),
        ({"undersampled": "maybe"}, "undersampled must be true or false, got 'maybe'"),
        ({"result_extension": ".png"}, "result_extension must be one of"),
        ({"trust": "entropy"}, "trust must be one of ['none', 'teacher', 'tta', 'correction'], got 'entropy'"),
    ],
)
def test_bad_values_name_the_key_and_what_is_accepted(request_, words):
    with pytest.raises(InvalidRequest) as err:
        parse_recon_params(request_)
    assert err.value.status_code == 422
    assert words in str(err.value)


def test_super_resolution_params_default_coerce_and_refuse():
    from monai_chpnet.monailabel.params import SR_DEFAULTS, SRParams, parse_sr_params

    assert parse_sr_params(dict(SR_DEFAULTS)) == parse_sr_params({}) == SRParams()
    params = parse_sr_params({"scale": "4", "degradation": "bicubic", "evaluate": "true", "trust": "tta"})
    assert params == SRParams(4, "bicubic", True, 0, ".nii.gz", "tta")
    for request, words in [
        ({"scale": 3}, "scale must be one of [2, 4], got 3"),
        ({"scale": True}, "scale must be one of [2, 4], got True"),
        ({"degradation": "blur"}, "degradation must be one of ['kspace', 'bicubic'], got 'blur'"),
        ({"evaluate": "maybe"}, "evaluate must be true or false, got 'maybe'"),
        ({"acceleration": 4}, "unknown parameter 'acceleration'"),
    ]:
        with pytest.raises(InvalidRequest) as err:
            parse_sr_params(request)
        assert words in str(err.value) and err.value.status_code == 422
