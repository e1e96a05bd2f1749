"""crypto_tune._checks: one message format for every scalar option."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crypto_tune._checks import check_int, check_real, shown
from crypto_tune.exceptions import ConfigError


def test_check_int_accepts_python_and_numpy_integers_as_int() -> None:
    assert check_int("n", 3, low=2) == 3
    value = check_int("n", np.int64(5), low=0)
    assert value == 5 and type(value) is int


@pytest.mark.parametrize("value", [1, True, 2.0, "3", None])
def test_check_int_refuses_small_values_bools_floats_and_strings(value: object) -> None:
    with pytest.raises(ConfigError, match=r"^n_folds must be an int >= 2, got "):
        check_int("n_folds", value, low=2)


@pytest.mark.parametrize(
    ("closed", "low_ok", "high_ok"),
    [("[]", True, True), ("[)", True, False), ("(]", False, True), ("()", False, False)],
)
def test_check_real_interval_ends(closed: str, low_ok: bool, high_ok: bool) -> None:
    for value, ok in ((0.0, low_ok), (1.0, high_ok), (0.5, True)):
        if ok:
            assert check_real("x", value, low=0, high=1, closed=closed) == value  # type: ignore[arg-type]
        else:
            with pytest.raises(ConfigError, match=rf"x must be a number in \{closed[0]}0, 1"):
                check_real("x", value, low=0, high=1, closed=closed)  # type: ignore[arg-type]


def test_check_real_refuses_non_finite_and_bools_unless_nan_is_allowed() -> None:
    for value in (math.inf, -math.inf, math.nan, True, "0.1", None):
        with pytest.raises(ConfigError, match=r"^fee must be a fee, got "):
            check_real("fee", value, low=0, text="a fee")
    assert math.isnan(check_real("ic", math.nan, allow_nan=True))
    assert type(check_real("x", np.float32(0.25))) is float


def test_messages_show_numpy_scalars_as_python_values() -> None:
    assert shown(np.float64(0.5)) == 0.5 and repr(shown(np.float64(0.5))) == "0.5"
    with pytest.raises(ConfigError, match=r"got -1$"):
        check_int("n", np.int64(-1), low=0)
