"""The twin schema's checks, shared by every twin."""

from __future__ import annotations

import re

import numpy as np
import pytest

from vizserver.twins.base import Action, Parameter, ParameterError, Schema

SCHEMA = Schema(
    parameters=(
        Parameter("rate", "float", 1.0, "1/s", 0.0, 10.0),
        Parameter("mode", "choice", "a", choices=("a", "b")),
    ),
    actions=(Action("pace here"), Action("dose", needs_point=False)),
)


def test_parameters_are_checked_by_name_type_and_range() -> None:
    assert SCHEMA.validate({"rate": 2}) == {"rate": 2.0}
    for partial, message in [
        ({"speed": 1}, "unknown parameter(s) speed"),
        ({"rate": "fast"}, "rate: expected a finite number"),
        ({"rate": 11.0}, "rate: 11.0 1/s is outside [0.0, 10.0]"),
        ({"rate": float("nan")}, "rate: expected a finite number"),
        ({"mode": "c"}, "mode: 'c' is not one of"),
    ]:
        with pytest.raises(ParameterError, match=re.escape(message)):
            SCHEMA.validate(partial)


def test_actions_need_a_known_name_and_a_finite_point_where_required() -> None:
    assert SCHEMA.action_point("dose", None) is None
    np.testing.assert_array_equal(SCHEMA.action_point("pace here", [1, 2, 3]), [1.0, 2.0, 3.0])
    with pytest.raises(ParameterError, match="unknown action 'burn'; known: pace here, dose"):
        SCHEMA.action_point("burn", None)
    with pytest.raises(ParameterError, match="pace here: needs a point"):
        SCHEMA.action_point("pace here", None)
    with pytest.raises(ParameterError, match="needs a finite 3D point"):
        SCHEMA.action_point("pace here", [0.0, np.inf, 1.0])
    with pytest.raises(ParameterError, match="needs a finite 3D point"):
        SCHEMA.action_point("dose", [1.0, 2.0])
