"""Geometry: model objects to surfaces the encoder packs (boundaries, iso-surfaces, decimation, LODs).

Filters that change topology keep index maps (``Mesh.source_point_ids``) so fields and time steps
defined on the original points still apply to what they produce.
"""

from vizserver.geometry.boundary import BoundaryFaces, boundary_faces, boundary_surface
from vizserver.geometry.decimate import decimate
from vizserver.geometry.isosurface import iso_surface, label_surfaces, otsu_threshold
from vizserver.geometry.lod import levels_of_detail
from vizserver.geometry.normals import vertex_normals
from vizserver.geometry.surfaces import StepFieldMapper, finish_surface, step_fields_on_surface, surfaces_of

__all__ = [
    "BoundaryFaces",
    "StepFieldMapper",
    "boundary_faces",
    "boundary_surface",
    "decimate",
    "finish_surface",
    "iso_surface",
    "label_surfaces",
    "levels_of_detail",
    "otsu_threshold",
    "step_fields_on_surface",
    "surfaces_of",
    "vertex_normals",
]
