"""A regular 3D image: CT/MR intensities or a segmentation's labels."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

VolumeKind = Literal["intensity", "labels"]


def _identity() -> npt.NDArray[np.float64]:
    return np.eye(3, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Volume:
    """Voxel values indexed ``values[i, j, k]`` with ``i`` along x (VTK's x-fastest order is ``ravel("F")``).

    ``spacing`` and ``origin`` are in the file's unit (usually mm); ``direction`` is the 3x3 matrix
    whose columns are the i, j, k axes in world space. ``kind="labels"`` means integer segment ids
    (0 = background). ``removed_identifiers`` lists the *names* of patient-identifying header
    fields the reader dropped (never their values), so ``inspect`` can say what was removed.
    """

    values: npt.NDArray[np.generic]
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: npt.NDArray[np.float64] = field(default_factory=_identity)
    kind: VolumeKind = "intensity"
    unit: str = ""
    removed_identifiers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.values.ndim != 3:
            raise ValueError(f"volume values must be 3D, got shape {self.values.shape}")

    @property
    def shape(self) -> tuple[int, int, int]:
        s = self.values.shape
        return (int(s[0]), int(s[1]), int(s[2]))

    @property
    def n_points(self) -> int:
        return int(self.values.size)

    @property
    def labels(self) -> npt.NDArray[np.int64]:
        """Sorted non-zero label ids present (empty for intensity volumes)."""
        if self.kind != "labels":
            return np.zeros(0, dtype=np.int64)
        present = np.unique(self.values)
        labels: npt.NDArray[np.int64] = present[present != 0].astype(np.int64)
        return labels

    @property
    def range(self) -> tuple[float, float]:
        if self.values.size == 0:
            return (float("nan"), float("nan"))
        return (float(np.nanmin(self.values)), float(np.nanmax(self.values)))

    @property
    def bounds(self) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
        corners = np.array(np.meshgrid([0, 1], [0, 1], [0, 1], indexing="ij")).reshape(3, -1).T
        extent = (np.array(self.shape, dtype=np.float64) - 1.0) * np.array(self.spacing)
        world = np.array(self.origin) + (corners * extent) @ self.direction.T
        lo, hi = world.min(axis=0), world.max(axis=0)
        return ((float(lo[0]), float(lo[1]), float(lo[2])), (float(hi[0]), float(hi[1]), float(hi[2])))

    @property
    def nbytes(self) -> int:
        return int(self.values.nbytes)
