"""What every twin is: a typed parameter schema, reset/step/set_params/probe, actions, output fields.

Twins are pure computation on arrays (numpy/scipy, float64 inside); they never touch sockets,
files or clocks. A runner (later) hosts one in a worker process and streams its output fields.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.spatial import cKDTree

from vizserver.errors import InputError, VizServerError

ParamType = Literal["float", "int", "bool", "choice"]
ParamValue = float | int | bool | str


class TwinBlowUpError(VizServerError):
    """A twin's state became non-finite (NaN or inf); the runner resets the twin with this message."""


class ParameterError(InputError):
    """A parameter change was refused: unknown name, wrong type or out of range."""


@dataclass(frozen=True, slots=True)
class Parameter:
    """One steerable parameter; the client builds its control from this."""

    name: str
    type: ParamType
    default: ParamValue
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    description: str = ""

    def validate(self, value: object) -> ParamValue:
        """``value`` as this parameter's type, or :class:`ParameterError` saying why not."""
        if self.type == "bool":
            if not isinstance(value, bool):
                raise ParameterError(f"{self.name}: expected true or false, got {value!r}")
            return value
        if self.type == "choice":
            if value not in self.choices:
                raise ParameterError(f"{self.name}: {value!r} is not one of {list(self.choices)}")
            return str(value)
        if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
            raise ParameterError(f"{self.name}: expected a finite number, got {value!r}")
        if self.type == "int" and int(value) != value:
            raise ParameterError(f"{self.name}: expected a whole number, got {value!r}")
        if (self.minimum is not None and value < self.minimum) or (self.maximum is not None and value > self.maximum):
            unit = f" {self.unit}" if self.unit else ""
            raise ParameterError(f"{self.name}: {value}{unit} is outside [{self.minimum}, {self.maximum}]")
        return int(value) if self.type == "int" else float(value)


@dataclass(frozen=True, slots=True)
class Action:
    """Something a user does at a point: "pace here", "place scar", "apply dose"."""

    name: str
    description: str = ""
    needs_point: bool = True


@dataclass(frozen=True, slots=True)
class Schema:
    parameters: tuple[Parameter, ...]
    actions: tuple[Action, ...] = ()
    outputs: tuple[str, ...] = ()
    """Names of the point fields :meth:`Twin.fields` returns."""
    units: Mapping[str, str] = field(default_factory=dict)
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    """Colour range of each output (a live field's range is not known in advance)."""

    def defaults(self) -> dict[str, ParamValue]:
        return {p.name: p.default for p in self.parameters}

    def validate(self, partial: Mapping[str, object]) -> dict[str, ParamValue]:
        """Every entry checked; an unknown name or a bad value refuses the whole change."""
        known = {p.name: p for p in self.parameters}
        unknown = sorted(set(partial) - set(known))
        if unknown:
            raise ParameterError(f"unknown parameter(s) {', '.join(unknown)}; known: {', '.join(known)}")
        return {name: known[name].validate(value) for name, value in partial.items()}


    def action_point(self, action: str, point: object) -> npt.NDArray[np.float64] | None:
        """Check an action request: a known name, and a finite 3D point where one is needed or given."""
        known = {a.name: a for a in self.actions}
        if action not in known:
            raise ParameterError(f"unknown action {action!r}; known: {', '.join(known)}")
        if point is None:
            if known[action].needs_point:
                raise ParameterError(f"{action}: needs a point")
            return None
        p = np.asarray(point, dtype=np.float64)
        if p.size != 3 or not np.all(np.isfinite(p)):
            raise ParameterError(f"{action}: needs a finite 3D point, got {point!r}")
        return p.reshape(3)


class Twin(ABC):
    """A live model. Time is in the twin's own unit (ms for the heart, days for the tumour).

    Outputs go onto a scene object's vertices: the runner calls :meth:`bind_outputs` once with their
    positions (in the twin's coordinates), then :meth:`outputs` gives one value per vertex.
    """

    schema: Schema
    time_unit: str = "s"
    time_per_second: float = 1.0
    """Simulated time per wall-clock second at speed 1 (real time for the heart: 1000 ms)."""

    _sampling: sp.csr_matrix | None = None

    def field_points(self) -> npt.NDArray[np.float64]:
        """``(n, 3)`` positions the values of :meth:`fields` belong to."""
        raise NotImplementedError(f"{type(self).__name__} does not say where its fields live")

    def sampling_matrix(self, targets: npt.NDArray[np.float64]) -> sp.csr_matrix:
        """``(len(targets), n)`` matrix taking :meth:`fields` values to ``targets``; default: nearest point."""
        points = self.field_points()
        _, nearest = cKDTree(points).query(np.asarray(targets, dtype=np.float64).reshape(-1, 3))
        rows = np.arange(len(nearest))
        return sp.csr_matrix((np.ones(len(nearest)), (rows, nearest)), shape=(len(nearest), len(points)))

    def bind_outputs(self, targets: npt.ArrayLike) -> None:
        """From now on :meth:`outputs` gives values at ``targets`` (a scene object's vertices)."""
        self._sampling = self.sampling_matrix(np.asarray(targets, dtype=np.float64).reshape(-1, 3))

    def outputs(self) -> dict[str, npt.NDArray[np.float32]]:
        """:meth:`fields` at the bound targets (all of them when nothing is bound)."""
        values = self.fields()
        if self._sampling is None:
            return values
        matrix = self._sampling
        return {name: np.asarray(matrix @ v.astype(np.float64), dtype=np.float32) for name, v in values.items()}

    @abstractmethod
    def reset(self, params: Mapping[str, object] | None = None) -> None:
        """Back to the initial state with ``params`` (validated; missing ones take defaults)."""

    @abstractmethod
    def step(self, dt: float) -> None:
        """Advance the simulation by ``dt`` (may take several internal steps)."""

    @abstractmethod
    def set_params(self, partial: Mapping[str, object]) -> None:
        """Change some parameters while running (validated against the schema)."""

    @abstractmethod
    def act(self, action: str, point: npt.NDArray[np.float64] | None = None) -> None:
        """Perform one of ``schema.actions`` (at ``point``, in the mesh's coordinates)."""

    @abstractmethod
    def fields(self) -> dict[str, npt.NDArray[np.float32]]:
        """The current output fields, one value per mesh point, float32."""

    @abstractmethod
    def probe(self, point: npt.NDArray[np.float64]) -> dict[str, float]:
        """Output values at the mesh point nearest ``point``."""

    @property
    @abstractmethod
    def time(self) -> float:
        """Simulated time so far."""
