"""The model's own behaviour: lazy time steps, field ranges."""

from __future__ import annotations

import numpy as np
import pytest

from vizserver.model import Field, StepFields, StepSequence


class CountingSteps(StepSequence):
    def __init__(self, count: int) -> None:
        self.count = count
        self.loaded: list[int] = []

    def __len__(self) -> int:
        return self.count

    def load(self, index: int) -> StepFields:
        self.loaded.append(index)
        return {"u": Field("u", np.full(3, float(index), dtype=np.float32))}


def test_steps_load_only_when_indexed_with_python_indexing_rules() -> None:
    steps = CountingSteps(5)
    assert steps.loaded == []
    assert float(steps[-1]["u"].values[0]) == 4.0
    assert [float(s["u"].values[0]) for s in steps[1:4:2]] == [1.0, 3.0]
    assert steps.loaded == [4, 1, 3]
    with pytest.raises(IndexError):
        steps[5]
    with pytest.raises(IndexError):
        steps[-6]
    assert len(list(steps)) == 5


def test_field_range_ignores_non_finite_values_and_uses_vector_magnitudes() -> None:
    scalar = Field("t", np.array([np.nan, 1.0, -2.0, np.inf], dtype=np.float32))
    assert scalar.range == (-2.0, 1.0)
    vector = Field("v", np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 1.0]], dtype=np.float32))
    assert vector.range == (1.0, 5.0) and vector.components == 3
    empty = Field("e", np.array([np.nan], dtype=np.float32))
    assert np.isnan(empty.range[0])
