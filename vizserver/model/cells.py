"""A mesh of volume cells (tetrahedra, hexahedra, ...) as simulations write them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from vizserver.model.field import Field

CellKind = Literal["vertex", "line", "triangle", "quad", "polygon", "tetra", "pyramid", "wedge", "hexahedron"]

NODES_PER_CELL: dict[str, int] = {
    "vertex": 1, "line": 2, "triangle": 3, "quad": 4,
    "tetra": 4, "pyramid": 5, "wedge": 6, "hexahedron": 8,
}
"""Node counts; node order follows VTK's linear cell definitions."""


@dataclass(frozen=True, slots=True)
class CellBlock:
    """Cells of one kind: ``connectivity`` is uint32 ``(k, nodes)`` in VTK node order."""

    kind: CellKind
    connectivity: npt.NDArray[np.uint32]

    def __post_init__(self) -> None:
        object.__setattr__(self, "connectivity", np.ascontiguousarray(self.connectivity, dtype=np.uint32))

    def __len__(self) -> int:
        return int(self.connectivity.shape[0])


def _empty_fields() -> Mapping[str, Field]:
    return {}


@dataclass(frozen=True, slots=True)
class UnstructuredMesh:
    """Float32 points ``(n, 3)`` and blocks of cells; ``cell_fields`` rows follow the blocks in order.

    ``fibres`` holds per-cell (or per-point) fibre directions as a field named ``fibres`` in
    ``cell_fields``/``point_fields`` when the source has them (openCARP ``.lon``, the LV asset).
    """

    points: npt.NDArray[np.float32]
    blocks: tuple[CellBlock, ...]
    point_fields: Mapping[str, Field] = field(default_factory=_empty_fields)
    cell_fields: Mapping[str, Field] = field(default_factory=_empty_fields)

    def __post_init__(self) -> None:
        object.__setattr__(self, "points", np.ascontiguousarray(self.points, dtype=np.float32).reshape(-1, 3))

    @property
    def n_points(self) -> int:
        return int(self.points.shape[0])

    @property
    def n_cells(self) -> int:
        return sum(len(b) for b in self.blocks)

    @property
    def bounds(self) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
        if self.n_points == 0:
            return ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0))
        lo, hi = self.points.min(axis=0), self.points.max(axis=0)
        return ((float(lo[0]), float(lo[1]), float(lo[2])), (float(hi[0]), float(hi[1]), float(hi[2])))

    @property
    def nbytes(self) -> int:
        total = self.points.nbytes + sum(b.connectivity.nbytes for b in self.blocks)
        total += sum(f.values.nbytes for f in (*self.point_fields.values(), *self.cell_fields.values()))
        return total
