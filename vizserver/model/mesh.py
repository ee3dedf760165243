"""A triangle surface (or, with no triangles, a point cloud): what the encoder packs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from vizserver.model.field import Field


def _empty_fields() -> Mapping[str, Field]:
    return {}


@dataclass(frozen=True, slots=True)
class Mesh:
    """Float32 vertices ``(n, 3)``, uint32 triangles ``(m, 3)``, optional float32 normals ``(n, 3)``.

    ``point_fields`` have ``n`` rows, ``cell_fields`` have ``m`` rows. ``source_point_ids`` maps each
    vertex to a point of the mesh it was extracted from (a volume mesh's boundary, a decimated
    original), so fields and time steps defined on the original still apply; ``None`` when the
    vertices are the original points.
    """

    vertices: npt.NDArray[np.float32]
    triangles: npt.NDArray[np.uint32]
    normals: npt.NDArray[np.float32] | None = None
    point_fields: Mapping[str, Field] = field(default_factory=_empty_fields)
    cell_fields: Mapping[str, Field] = field(default_factory=_empty_fields)
    source_point_ids: npt.NDArray[np.uint32] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "vertices", np.ascontiguousarray(self.vertices, dtype=np.float32).reshape(-1, 3))
        object.__setattr__(self, "triangles", np.ascontiguousarray(self.triangles, dtype=np.uint32).reshape(-1, 3))
        if self.normals is not None:
            object.__setattr__(self, "normals", np.ascontiguousarray(self.normals, dtype=np.float32).reshape(-1, 3))

    @property
    def n_points(self) -> int:
        return int(self.vertices.shape[0])

    @property
    def n_triangles(self) -> int:
        return int(self.triangles.shape[0])

    @property
    def is_point_cloud(self) -> bool:
        return self.n_triangles == 0

    @property
    def bounds(self) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
        if self.n_points == 0:
            return ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0))
        lo, hi = self.vertices.min(axis=0), self.vertices.max(axis=0)
        return ((float(lo[0]), float(lo[1]), float(lo[2])), (float(hi[0]), float(hi[1]), float(hi[2])))

    @property
    def nbytes(self) -> int:
        total = self.vertices.nbytes + self.triangles.nbytes
        total += 0 if self.normals is None else self.normals.nbytes
        total += sum(f.values.nbytes for f in (*self.point_fields.values(), *self.cell_fields.values()))
        return total

    def with_point_fields(self, point_fields: Mapping[str, Field]) -> Mesh:
        return replace(self, point_fields=dict(point_fields))
