"""Fields that change over time on a fixed topology (PVD, numbered files, openCARP .igb)."""

from __future__ import annotations

import operator
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np
import numpy.typing as npt

from vizserver.model.cells import UnstructuredMesh
from vizserver.model.field import Field
from vizserver.model.mesh import Mesh

StepFields = Mapping[str, Field]
"""The fields of one time step, by name; each has the association and length of the geometry's."""


class StepSequence(Sequence[StepFields]):
    """Time steps loaded when indexed, so a long series never sits in memory at once.

    Subclasses say how many steps there are and how to load one; indexing (negative indices,
    slices, bounds) is handled here once.
    """

    __slots__ = ()

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def load(self, index: int) -> StepFields:
        """Step ``index``, with ``0 <= index < len(self)``."""

    @overload
    def __getitem__(self, index: int) -> StepFields: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[StepFields]: ...

    def __getitem__(self, index: int | slice) -> StepFields | Sequence[StepFields]:
        count = len(self)
        if isinstance(index, slice):
            return [self.load(i) for i in range(*index.indices(count))]
        i = operator.index(index)
        if i < 0:
            i += count
        if not 0 <= i < count:
            raise IndexError(f"step {index} of {count}")
        return self.load(i)


@dataclass(frozen=True, slots=True)
class TimeSeries:
    """``geometry`` is the fixed topology; ``steps[i]`` holds the fields at ``times[i]``.

    ``steps`` may be a lazy sequence that reads a step from disk when indexed, so a long series
    never has to sit in memory at once. ``times`` are strictly increasing, in ``time_unit``.
    """

    geometry: Mesh | UnstructuredMesh
    times: npt.NDArray[np.float64]
    steps: Sequence[StepFields]
    time_unit: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "times", np.asarray(self.times, dtype=np.float64).reshape(-1))
        if len(self.steps) != self.times.shape[0]:
            raise ValueError(f"{len(self.steps)} steps but {self.times.shape[0]} times")

    @property
    def n_steps(self) -> int:
        return int(self.times.shape[0])

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(self.steps[0].keys()) if self.n_steps else ()

    @property
    def nbytes(self) -> int:
        """Memory of the geometry plus one step (steps may be loaded lazily)."""
        one = sum(f.values.nbytes for f in self.steps[0].values()) if self.n_steps else 0
        return self.geometry.nbytes + one
