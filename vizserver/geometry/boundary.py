"""The boundary surface of a volume mesh, keeping the map back to the original point ids.

Every face of every 3D cell is generated at once (one fancy-index per block), each face gets a key
from its sorted node ids, and faces whose key occurs exactly once are the boundary. Sorted triples
pack into one uint64 key while point ids fit in 21 bits (sorted quads in 16 bits); larger meshes
sort on two uint64 keys. Surface cells (triangles, quads) that are not faces of a 3D cell are kept.

The result is a :class:`Mesh` whose ``vertices`` are the used original points and whose
``source_point_ids`` are their original ids, so any point field (and any time step's field)
of the volume mesh applies by indexing; each triangle carries its owning cell's cell fields.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from vizserver.geometry.fields import take
from vizserver.model import Mesh, UnstructuredMesh

TRIANGLE_FACES: dict[str, npt.NDArray[np.intp]] = {
    "tetra": np.array([[0, 1, 3], [1, 2, 3], [2, 0, 3], [0, 2, 1]]),
    "wedge": np.array([[0, 2, 1], [3, 4, 5]]),
    "pyramid": np.array([[0, 1, 4], [1, 2, 4], [2, 3, 4], [3, 0, 4]]),
}
"""Triangular faces of the linear 3D cells in VTK's node order and VTK's winding (outward)."""

QUAD_FACES: dict[str, npt.NDArray[np.intp]] = {
    "hexahedron": np.array([[0, 4, 7, 3], [1, 2, 6, 5], [0, 1, 5, 4], [3, 7, 6, 2], [0, 3, 2, 1], [4, 5, 6, 7]]),
    "wedge": np.array([[0, 1, 4, 3], [1, 2, 5, 4], [2, 0, 3, 5]]),
    "pyramid": np.array([[0, 3, 2, 1]]),
}
"""Quadrilateral faces, in cyclic order, as VTK lists them."""

VOLUME_KINDS = frozenset({"tetra", "hexahedron", "wedge", "pyramid"})
"""Cell kinds whose faces are generated; triangles and quads are surface cells themselves."""

_PACK3_BITS = 21
_PACK4_BITS = 16


@dataclass(frozen=True, slots=True)
class BoundaryFaces:
    """Boundary triangles in *original* point ids, wound outward, and the cell each belongs to.

    ``owners`` index the mesh's cells in block order (the rows of its ``cell_fields``).
    """

    triangles: npt.NDArray[np.uint32]
    owners: npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class _Faces:
    nodes: npt.NDArray[np.uint32]  # (f, 3) or (f, 4)
    owners: npt.NDArray[np.int64]
    volume: npt.NDArray[np.bool_]  # face of a 3D cell (True) or a surface cell itself (False)


def _collect(mesh: UnstructuredMesh, corners: int) -> _Faces:
    """All faces with ``corners`` nodes: of the 3D cells via the face tables, and the 2D cells."""
    table = TRIANGLE_FACES if corners == 3 else QUAD_FACES
    surface_kind = "triangle" if corners == 3 else "quad"
    nodes: list[npt.NDArray[np.uint32]] = []
    owners: list[npt.NDArray[np.int64]] = []
    volume: list[npt.NDArray[np.bool_]] = []
    offset = 0
    for block in mesh.blocks:
        count = len(block)
        if block.kind in table:
            faces = table[block.kind]
            nodes.append(block.connectivity[:, faces].reshape(-1, corners))
            owners.append(np.repeat(np.arange(offset, offset + count, dtype=np.int64), faces.shape[0]))
            volume.append(np.ones(count * faces.shape[0], dtype=bool))
        elif block.kind == surface_kind:
            nodes.append(block.connectivity)
            owners.append(np.arange(offset, offset + count, dtype=np.int64))
            volume.append(np.zeros(count, dtype=bool))
        offset += count
    if not nodes:
        return _Faces(np.zeros((0, corners), np.uint32), np.zeros(0, np.int64), np.zeros(0, bool))
    return _Faces(np.concatenate(nodes), np.concatenate(owners), np.concatenate(volume))


def _pack(columns: list[npt.NDArray[np.uint32]], bits: int) -> npt.NDArray[np.uint64]:
    """Columns (most significant first), each under ``2**bits``, side by side in one uint64."""
    key = columns[0].astype(np.uint64)
    for column in columns[1:]:
        np.left_shift(key, np.uint64(bits), out=key)
        np.bitwise_or(key, column, out=key, casting="unsafe")
    return key


def _keys(nodes: npt.NDArray[np.uint32], n_points: int) -> list[npt.NDArray[np.uint64]]:
    """Order-independent keys of faces, most significant first (one or two uint64 arrays)."""
    if nodes.shape[1] == 3:
        x, y, z = nodes[:, 0], nodes[:, 1], nodes[:, 2]
        lo = np.minimum(np.minimum(x, y), z)
        hi = np.maximum(np.maximum(x, y), z)
        mid = x ^ y ^ z ^ lo ^ hi  # the one left when the smallest and largest are taken out
        ordered = [lo, mid, hi]
    else:
        s = np.sort(nodes, axis=1)
        ordered = [s[:, 0], s[:, 1], s[:, 2], s[:, 3]]
    bits = _PACK3_BITS if len(ordered) == 3 else _PACK4_BITS
    if n_points <= 1 << bits:
        return [_pack(ordered, bits)]
    return [_pack(ordered[:2], 32), _pack(ordered[2:], 32)]


def _groups(keys: list[npt.NDArray[np.uint64]]) -> npt.NDArray[np.int64]:
    """A group id per face: faces with equal keys share it."""
    order = np.argsort(keys[0]) if len(keys) == 1 else np.lexsort(keys[::-1])
    starts = np.zeros(order.shape[0], dtype=bool)
    if order.shape[0]:
        starts[0] = True
    for key in keys:
        ranked = key[order]
        starts[1:] |= np.not_equal(ranked[1:], ranked[:-1])
    group = np.empty(order.shape[0], dtype=np.int64)
    group[order] = np.cumsum(starts) - 1
    return group


def _select(faces: _Faces, n_points: int) -> _Faces:
    """3D faces that occur once among 3D faces, and surface cells that are no 3D cell's face."""
    if faces.nodes.shape[0] == 0:
        return faces
    group = _groups(_keys(faces.nodes, n_points))
    volume_count = np.bincount(group[faces.volume], minlength=int(group.max()) + 1)
    count = volume_count[group]
    keep = np.where(faces.volume, count == 1, count == 0)
    return _Faces(faces.nodes[keep], faces.owners[keep], faces.volume[keep])


def _cell_centroids(mesh: UnstructuredMesh, cells: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Mean of the nodes of each listed cell (cells in block order)."""
    out = np.zeros((cells.shape[0], 3), dtype=np.float64)
    offset = 0
    for block in mesh.blocks:
        inside = (cells >= offset) & (cells < offset + len(block))
        if inside.any():
            conn = block.connectivity[cells[inside] - offset]
            out[inside] = mesh.points[conn].astype(np.float64).mean(axis=1)
        offset += len(block)
    return out


def _orient_outward(mesh: UnstructuredMesh, faces: _Faces) -> _Faces:
    """Reverse 3D faces that point into their cell (inverted cells); surface cells keep their winding."""
    idx = np.flatnonzero(faces.volume)
    if idx.shape[0] == 0:
        return faces
    nodes = faces.nodes[idx]
    p = mesh.points[nodes].astype(np.float64)
    if nodes.shape[1] == 3:
        normal = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    else:
        normal = np.cross(p[:, 2] - p[:, 0], p[:, 3] - p[:, 1])
    outward = p.mean(axis=1) - _cell_centroids(mesh, faces.owners[idx])
    inward = np.einsum("ij,ij->i", normal, outward) < 0
    if not inward.any():
        return faces
    fixed = faces.nodes.copy()
    flip = idx[inward]
    fixed[flip] = fixed[flip][:, ::-1]
    return _Faces(fixed, faces.owners, faces.volume)


def _distinct(nodes: npt.NDArray[np.uint32]) -> npt.NDArray[np.int64]:
    """How many different node ids each face has."""
    s = np.sort(nodes, axis=1)
    counts: npt.NDArray[np.int64] = 1 + np.count_nonzero(s[:, 1:] != s[:, :-1], axis=1)
    return counts


def _collapsed_quads(quads: _Faces, tris: _Faces) -> tuple[_Faces, _Faces]:
    """Quads of collapsed cells (a hexahedron written as a wedge) that repeat one node become triangles.

    Faces left with fewer than three different nodes (collapsed to an edge) are dropped: they
    bound nothing. The triangles keep the quad's cyclic order and owner, so they match the
    neighbouring cell's triangular face as any other triangle would.
    """
    distinct = _distinct(quads.nodes)
    repeat = quads.nodes == np.roll(quads.nodes, -1, axis=1)  # node i equals node i + 1, cyclically
    as_tri = (distinct == 3) & (np.count_nonzero(repeat, axis=1) == 1)
    tri_nodes = quads.nodes[as_tri][~repeat[as_tri]].reshape(-1, 3)
    keep_quad = distinct == 4
    t = tris.nodes
    keep_tri = (t[:, 0] != t[:, 1]) & (t[:, 1] != t[:, 2]) & (t[:, 2] != t[:, 0])
    if keep_tri.all() and not as_tri.any() and keep_quad.all():
        return quads, tris
    return (
        _Faces(quads.nodes[keep_quad], quads.owners[keep_quad], quads.volume[keep_quad]),
        _Faces(
            np.concatenate([tris.nodes[keep_tri], tri_nodes]),
            np.concatenate([tris.owners[keep_tri], quads.owners[as_tri]]),
            np.concatenate([tris.volume[keep_tri], quads.volume[as_tri]]),
        ),
    )


def boundary_faces(mesh: UnstructuredMesh) -> BoundaryFaces:
    """Outward boundary triangles of ``mesh`` in original point ids; quads are split on their 0-2 diagonal.

    Faces with repeated nodes (collapsed cells) are reduced first; faces that collapse to an edge
    or a point are dropped.
    """
    all_quads, all_tris = _collapsed_quads(_collect(mesh, 4), _collect(mesh, 3))
    tris = _orient_outward(mesh, _select(all_tris, mesh.n_points))
    quads = _orient_outward(mesh, _select(all_quads, mesh.n_points))
    q = quads.nodes
    split = np.stack([q[:, [0, 1, 2]], q[:, [0, 2, 3]]], axis=1).reshape(-1, 3)
    return BoundaryFaces(
        np.ascontiguousarray(np.concatenate([tris.nodes, split]), dtype=np.uint32),
        np.concatenate([tris.owners, np.repeat(quads.owners, 2)]),
    )


def compact(triangles: npt.NDArray[np.uint32], n_points: int) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32]]:
    """``(used, local)``: the sorted point ids the triangles use, and the triangles re-indexed into them."""
    flags = np.zeros(n_points, dtype=bool)
    flags[triangles.reshape(-1)] = True
    used = np.flatnonzero(flags).astype(np.uint32)
    lookup = np.zeros(n_points, dtype=np.uint32)
    lookup[used] = np.arange(used.shape[0], dtype=np.uint32)
    return used, lookup[triangles]


def boundary_surface(mesh: UnstructuredMesh) -> Mesh:
    """The boundary as a surface: used points only, ``source_point_ids`` = their original ids.

    Point fields follow the points; cell fields become the surface's cell fields, each triangle
    taking its owning cell's value. No normals are computed here.
    """
    faces = boundary_faces(mesh)
    used, local = compact(faces.triangles, mesh.n_points)
    return Mesh(
        mesh.points[used],
        local,
        point_fields=take(mesh.point_fields, used),
        cell_fields=take(mesh.cell_fields, faces.owners),
        source_point_ids=used,
    )
