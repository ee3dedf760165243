"""A named array of values on the points or cells of a mesh, with its unit."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

Association = Literal["point", "cell"]


@dataclass(frozen=True, slots=True)
class Field:
    """Values of one quantity: shape ``(n,)`` for scalars, ``(n, k)`` for vectors, float32.

    ``n`` is the point count (``association="point"``) or the cell count (``"cell"``) of the
    mesh that holds the field. ``range`` is over finite values only; ``(nan, nan)`` when none are.
    """

    name: str
    values: npt.NDArray[np.float32]
    association: Association = "point"
    unit: str = ""
    range: tuple[float, float] = field(default=(float("nan"), float("nan")))

    def __post_init__(self) -> None:
        values = np.asarray(self.values)
        if values.dtype != np.float32:
            values = values.astype(np.float32)
        object.__setattr__(self, "values", values)
        if np.isnan(self.range[0]):
            object.__setattr__(self, "range", finite_range(values))

    @property
    def components(self) -> int:
        return 1 if self.values.ndim == 1 else int(self.values.shape[1])

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def with_values(self, values: npt.NDArray[np.float32], association: Association | None = None) -> Field:
        """The same quantity (name, unit) on other points or cells; the range is recomputed."""
        return Field(self.name, values, association or self.association, self.unit)


def finite_range(values: npt.NDArray[np.floating]) -> tuple[float, float]:
    """(min, max) of the finite entries; for vectors, of their magnitudes."""
    flat = values if values.ndim == 1 else np.linalg.norm(values, axis=1)
    finite = flat[np.isfinite(flat)]
    if finite.size == 0:
        return (float("nan"), float("nan"))
    return (float(finite.min()), float(finite.max()))
