"""Plain data the pipeline passes along: readers make it, geometry transforms it, encoders pack it."""

from vizserver.model.cells import NODES_PER_CELL, CellBlock, CellKind, UnstructuredMesh
from vizserver.model.field import Association, Field, finite_range
from vizserver.model.mesh import Mesh
from vizserver.model.scene import Material, ObjectData, Scene, SceneObject
from vizserver.model.timeseries import StepFields, StepSequence, TimeSeries
from vizserver.model.volume import Volume, VolumeKind

__all__ = [
    "NODES_PER_CELL",
    "Association",
    "CellBlock",
    "CellKind",
    "Field",
    "Material",
    "Mesh",
    "ObjectData",
    "Scene",
    "SceneObject",
    "StepFields",
    "StepSequence",
    "TimeSeries",
    "UnstructuredMesh",
    "Volume",
    "VolumeKind",
    "finite_range",
]
