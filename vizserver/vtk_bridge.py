"""Conversions between VTK datasets and the model, shared by the VTK readers and the geometry stage.

All conversions are whole-array copies through ``vtk.util.numpy_support`` (via pyvista); nothing
loops over points or cells in Python.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import pyvista as pv

from vizserver.errors import UnsupportedFormatError
from vizserver.model import NODES_PER_CELL, CellBlock, CellKind, Field, Mesh, UnstructuredMesh, Volume

VTK_LINEAR_KIND: dict[int, CellKind] = {
    int(pv.CellType.VERTEX): "vertex",
    int(pv.CellType.LINE): "line",
    int(pv.CellType.TRIANGLE): "triangle",
    int(pv.CellType.QUAD): "quad",
    int(pv.CellType.TETRA): "tetra",
    int(pv.CellType.PYRAMID): "pyramid",
    int(pv.CellType.WEDGE): "wedge",
    int(pv.CellType.HEXAHEDRON): "hexahedron",
    int(pv.CellType.VOXEL): "hexahedron",
    int(pv.CellType.PIXEL): "quad",
}
"""VTK cell type -> our kind. Voxels and pixels are reordered to hexahedron/quad node order."""

VTK_HIGHER_ORDER_KIND: dict[int, CellKind] = {
    int(pv.CellType.QUADRATIC_EDGE): "line",
    int(pv.CellType.QUADRATIC_TRIANGLE): "triangle",
    int(pv.CellType.QUADRATIC_QUAD): "quad",
    int(pv.CellType.QUADRATIC_TETRA): "tetra",
    int(pv.CellType.QUADRATIC_PYRAMID): "pyramid",
    int(pv.CellType.QUADRATIC_WEDGE): "wedge",
    int(pv.CellType.QUADRATIC_HEXAHEDRON): "hexahedron",
    int(pv.CellType.TRIQUADRATIC_HEXAHEDRON): "hexahedron",
    int(pv.CellType.BIQUADRATIC_QUAD): "quad",
}
"""Higher-order cells keep their corner nodes, which VTK lists first: a linear view of the cell."""

KIND_VTK_TYPE: dict[str, int] = {
    "vertex": int(pv.CellType.VERTEX),
    "line": int(pv.CellType.LINE),
    "triangle": int(pv.CellType.TRIANGLE),
    "quad": int(pv.CellType.QUAD),
    "tetra": int(pv.CellType.TETRA),
    "pyramid": int(pv.CellType.PYRAMID),
    "wedge": int(pv.CellType.WEDGE),
    "hexahedron": int(pv.CellType.HEXAHEDRON),
}

_VOXEL_TO_HEX = np.array([0, 1, 3, 2, 4, 5, 7, 6])
_PIXEL_TO_QUAD = np.array([0, 1, 3, 2])


VTK_INTERNAL_ARRAYS = frozenset({"vtkGhostType", "vtkOriginalPointIds", "vtkOriginalCellIds", "vtkValidPointMask"})
"""Bookkeeping arrays VTK filters add; ParaView hides them too, and nobody colours by them."""


def fields_from_vtk(data: pv.DataSetAttributes, association: str, count: int) -> dict[str, Field]:
    """Numeric arrays of a VTK point/cell data collection as fields (strings, odd shapes, VTK bookkeeping skipped)."""
    out: dict[str, Field] = {}
    for index, name in enumerate(data.keys()):
        if name in VTK_INTERNAL_ARRAYS:
            continue
        values = np.asarray(data[name])
        if values.dtype.kind not in "biuf" or values.shape[0] != count or values.ndim > 2:
            continue
        key = name or f"array{index}"
        out[key] = Field(key, values.astype(np.float32, copy=False), "point" if association == "point" else "cell")
    return out


def polydata_to_mesh(poly: pv.PolyData) -> Mesh:
    """Polygons and strips become triangles; a polydata with no polygons becomes a point cloud."""
    if poly.n_faces == 0 and poly.n_strips == 0:
        point_fields = fields_from_vtk(poly.point_data, "point", poly.n_points)
        normals = point_fields.pop("Normals", None)
        return Mesh(
            np.asarray(poly.points, dtype=np.float32),
            np.zeros((0, 3), dtype=np.uint32),
            None if normals is None else normals.values,
            point_fields,
        )
    if not poly.is_all_triangles or poly.n_lines or poly.n_verts:
        poly = poly.extract_surface(algorithm=None).triangulate() if poly.n_strips else poly.triangulate()
        if poly.n_lines or poly.n_verts:
            poly = poly.extract_cells_by_type(pv.CellType.TRIANGLE).extract_surface(algorithm=None)
    triangles = np.asarray(poly.regular_faces, dtype=np.uint32)
    point_fields = fields_from_vtk(poly.point_data, "point", poly.n_points)
    cell_fields = fields_from_vtk(poly.cell_data, "cell", poly.n_cells)
    normals = point_fields.pop("Normals", None)
    return Mesh(
        np.asarray(poly.points, dtype=np.float32),
        triangles,
        None if normals is None else normals.values,
        point_fields,
        cell_fields,
    )


def grid_to_unstructured(grid: pv.DataSet, name: str = "") -> UnstructuredMesh:
    """Any point-based VTK dataset as blocks of linear cells; cell fields follow the block order."""
    if not isinstance(grid, pv.UnstructuredGrid):
        grid = grid.cast_to_unstructured_grid()
    celltypes = np.asarray(grid.celltypes, dtype=np.int64)
    offsets = np.asarray(grid.cell_offsets, dtype=np.int64)
    connectivity = np.asarray(grid.cell_connectivity, dtype=np.int64)
    present = np.unique(celltypes)
    unknown = [int(t) for t in present if int(t) not in VTK_LINEAR_KIND and int(t) not in VTK_HIGHER_ORDER_KIND]
    if unknown:
        names = ", ".join(pv.CellType(t).name for t in unknown)
        raise UnsupportedFormatError(f"{name or 'dataset'}: unsupported VTK cell types {names}")
    blocks: list[CellBlock] = []
    order: list[npt.NDArray[np.int64]] = []
    for vtk_type in present:
        kind = VTK_LINEAR_KIND.get(int(vtk_type)) or VTK_HIGHER_ORDER_KIND[int(vtk_type)]
        nodes = NODES_PER_CELL[kind]
        index = np.flatnonzero(celltypes == vtk_type)
        conn = connectivity[offsets[index][:, None] + np.arange(nodes)]
        if int(vtk_type) == int(pv.CellType.VOXEL):
            conn = conn[:, _VOXEL_TO_HEX]
        elif int(vtk_type) == int(pv.CellType.PIXEL):
            conn = conn[:, _PIXEL_TO_QUAD]
        blocks.append(CellBlock(kind, conn.astype(np.uint32)))
        order.append(index)
    cell_order = np.concatenate(order) if order else np.zeros(0, dtype=np.int64)
    cell_fields = {
        key: f.with_values(f.values[cell_order])
        for key, f in fields_from_vtk(grid.cell_data, "cell", grid.n_cells).items()
    }
    return UnstructuredMesh(
        np.asarray(grid.points, dtype=np.float32),
        tuple(blocks),
        fields_from_vtk(grid.point_data, "point", grid.n_points),
        cell_fields,
    )


def image_to_volume(image: pv.ImageData, *, kind: str = "intensity") -> Volume:
    """The first point array (else the first cell array) of an image as a volume."""
    on_points = bool(image.point_data.keys())
    data = image.point_data if on_points else image.cell_data
    if not data.keys():
        raise UnsupportedFormatError("image data has no arrays")
    name = data.keys()[0]
    dims: list[int] = [int(d) if on_points else max(int(d) - 1, 1) for d in image.dimensions]
    values = np.asarray(data[name])
    if values.ndim > 1:
        values = np.linalg.norm(values, axis=1)
    grid = values.reshape((dims[0], dims[1], dims[2]), order="F")
    spacing = np.asarray(image.spacing, dtype=np.float64)
    origin = np.asarray(image.origin, dtype=np.float64)
    return Volume(
        grid,
        spacing=(float(spacing[0]), float(spacing[1]), float(spacing[2])),
        origin=(float(origin[0]), float(origin[1]), float(origin[2])),
        direction=np.asarray(image.direction_matrix, dtype=np.float64),
        kind="labels" if kind == "labels" else "intensity",
        unit="",
    )


def to_model(dataset: pv.DataSet, name: str = "") -> Mesh | UnstructuredMesh | Volume:
    """The model object for one (non-composite) VTK dataset."""
    if isinstance(dataset, pv.PolyData):
        return polydata_to_mesh(dataset)
    if isinstance(dataset, pv.ImageData):
        return image_to_volume(dataset)
    return grid_to_unstructured(dataset, name)


def _attach(data: pv.DataSetAttributes, fields: Mapping[str, Field]) -> None:
    for key, f in fields.items():
        data[key] = f.values


def mesh_to_polydata(mesh: Mesh) -> pv.PolyData:
    """A surface (or point cloud) as polydata, fields attached, normals as the ``Normals`` array."""
    if mesh.is_point_cloud:
        poly = pv.PolyData(mesh.vertices.astype(np.float32))
    else:
        faces = np.hstack([np.full((mesh.n_triangles, 1), 3, dtype=np.int64), mesh.triangles.astype(np.int64)])
        poly = pv.PolyData(mesh.vertices, faces.ravel())
        _attach(poly.cell_data, mesh.cell_fields)
    _attach(poly.point_data, mesh.point_fields)
    if mesh.normals is not None:
        poly.point_data["Normals"] = mesh.normals
    return poly


def unstructured_to_grid(mesh: UnstructuredMesh) -> pv.UnstructuredGrid:
    """An unstructured mesh as a VTK grid, cells in block order so cell fields line up."""
    cells = np.concatenate(
        [np.hstack([np.full((len(b), 1), b.connectivity.shape[1]), b.connectivity]).ravel() for b in mesh.blocks]
        or [np.zeros(0, dtype=np.int64)]
    ).astype(np.int64)
    celltypes = np.concatenate(
        [np.full(len(b), KIND_VTK_TYPE[b.kind], dtype=np.uint8) for b in mesh.blocks] or [np.zeros(0, dtype=np.uint8)]
    )
    grid = pv.UnstructuredGrid(cells, celltypes, mesh.points)
    _attach(grid.point_data, mesh.point_fields)
    _attach(grid.cell_data, mesh.cell_fields)
    return grid


def volume_to_image(volume: Volume, array_name: str = "values") -> pv.ImageData:
    image = pv.ImageData(dimensions=volume.shape, spacing=volume.spacing, origin=volume.origin)
    image.direction_matrix = volume.direction
    image.point_data[array_name] = np.asarray(volume.values).ravel(order="F")
    return image
