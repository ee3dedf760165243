"""A scene: named objects, each holding one kind of data, with how to show it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from vizserver.model.cells import UnstructuredMesh
from vizserver.model.mesh import Mesh
from vizserver.model.timeseries import TimeSeries
from vizserver.model.volume import Volume

ObjectData = Mesh | UnstructuredMesh | Volume | TimeSeries


def _identity4() -> npt.NDArray[np.float64]:
    return np.eye(4, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Material:
    color: tuple[float, float, float] = (0.85, 0.55, 0.5)
    opacity: float = 1.0


@dataclass(frozen=True, slots=True)
class SceneObject:
    """One thing in the scene. ``active_field`` names the field coloured by default (``None``: plain)."""

    name: str
    data: ObjectData
    transform: npt.NDArray[np.float64] = field(default_factory=_identity4)
    material: Material = field(default_factory=Material)
    active_field: str | None = None
    colormap: str = "viridis"
    visible: bool = True


@dataclass(frozen=True, slots=True)
class Scene:
    """What every reader returns, whatever the format: a title and its objects.

    ``removed_identifiers`` gathers the names of identifying header fields readers dropped.
    """

    title: str
    objects: tuple[SceneObject, ...]
    removed_identifiers: tuple[str, ...] = ()

    def object(self, name: str) -> SceneObject:
        for obj in self.objects:
            if obj.name == name:
                return obj
        raise KeyError(name)
