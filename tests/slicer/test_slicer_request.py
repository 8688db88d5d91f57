"""ReconstructionRequest: every parameter is checked before any work, with a message naming it (no MRML needed)."""

import math

import pytest
from mrml_support import MODULE_DIR  # noqa: F401  (puts CHPNetReconLib on sys.path)

from CHPNetReconLib.errors import ParameterError
from CHPNetReconLib.reconstruction import ACCELERATION_RANGE, ReconstructionRequest


def test_defaults_are_fastmri_4x_random_along_k():
    request = ReconstructionRequest().validated()
    assert (request.acceleration, request.mask_type, request.slice_axis, request.simulate) == (4.0, "random", "K", True)
    assert request.model_acceleration == 4.0
    already = ReconstructionRequest(simulate=False, acceleration=8.0)  # already undersampled: the acquisition's mask
    assert already.undersampled and already.model_acceleration == 8.0 and not ReconstructionRequest().undersampled
    assert ReconstructionRequest(slice_axis="j").validated().slice_axis == "J"


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("acceleration", 0.5, "acceleration must be a number in \\[1, 16\\], got 0.5"),
        ("acceleration", 17, "got 17"),
        ("acceleration", math.nan, "got nan"),
        ("acceleration", True, "got True"),
        ("acceleration", "4", "got '4'"),
        ("mask_type", "poisson", "mask type must be one of"),
        ("slice_axis", "X", "slice axis must be one of"),
        ("seed", -1, "seed must be a non-negative integer"),
        ("batch_size", 0, "batch size"),
        ("threads", -2, "threads"),
        ("device", "tpu", "device must be 'cpu' or 'cuda"),
        ("bundle_dir", "/nonexistent/bundle", "bundle folder /nonexistent/bundle does not exist"),
    ],
)
def test_out_of_range_parameters_raise_parameter_error(field, value, message):
    with pytest.raises(ParameterError, match=message):
        ReconstructionRequest(**{field: value}).validated()


def test_acceleration_range_bounds_are_accepted():
    low, high = ACCELERATION_RANGE
    assert ReconstructionRequest(acceleration=low).validated().acceleration == low
    assert ReconstructionRequest(acceleration=int(high)).validated().acceleration == high


def test_dict_round_trip_for_the_worker():
    request = ReconstructionRequest(acceleration=8, mask_type="equispaced", seed=3, slice_axis="I", threads=1)
    assert ReconstructionRequest.from_dict(request.as_dict()) == request.validated()
    with pytest.raises(ParameterError, match="unknown reconstruction parameters \\['speed'\\]"):
        ReconstructionRequest.from_dict({**request.as_dict(), "speed": 2})
