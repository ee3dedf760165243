"""The default anatomy: the idealised left ventricle of the cardiac mechanics benchmark.

Geometry of Land et al. 2015, "Verification of cardiac mechanics software: benchmark problems and
solutions for testing active and passive material behaviour", Proc. R. Soc. A 471: 20150641
(problems 2 and 3): a truncated prolate ellipsoid, in millimetres,

    x = r_s sin(u) cos(v),  y = r_s sin(u) sin(v),  z = r_l cos(u)

with r_s = 7 + 3 t, r_l = 17 + 3 t for the transmural coordinate t in [0, 1] (endocardium
r_s = 7, r_l = 17; epicardium r_s = 10, r_l = 20), u in [-pi, -arccos(5 / r_l)] (apex at
u = -pi, at negative z; base on the plane z = 5) and v in [-pi, pi].

Fibres follow problem 3: the helix angle alpha falls linearly through the wall from +90 degrees
at the endocardium to -90 degrees at the epicardium, measured from the circumferential direction
towards the longitudinal one: ``f = cos(alpha) e_v + sin(alpha) e_u`` with ``e_u``, ``e_v`` the
unit tangents dx/du (apex to base) and dx/dv. Other helix angles (e.g. the common +60/-60) are
arguments. ``sheets`` is the outward wall normal ``e_v x e_u``, orthogonal to the fibres.

Meshes come from one structured (u, v, t) grid: hexahedra split into six tetrahedra each along
the grid diagonal (Kuhn split, conforming across cells and across the v seam), wedges at the apex
where a row of nodes collapses onto the axis. Everything is vectorised and deterministic.

``python -m vizserver.anatomy.lv --out assets/`` writes the committed assets: ``lv.pts``,
``lv.elem``, ``lv.lon`` (openCARP, micrometres) and ``lv_surface.ply`` (binary, millimetres).
"""

from __future__ import annotations

import argparse
import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from vizserver.model import Association, CellBlock, Field, Mesh, UnstructuredMesh

R_SHORT_ENDO_MM = 7.0
R_LONG_ENDO_MM = 17.0
WALL_MM = 3.0
"""Epicardium radii are the endocardium's plus this: r_s = 10 mm, r_l = 20 mm."""
BASE_Z_MM = 5.0
HELIX_ENDO_DEG = 90.0
HELIX_EPI_DEG = -90.0
SURFACE_RESOLUTION = 96
"""Circumferential segments of ``lv_surface()`` and of the committed ``lv_surface.ply``."""
TETRA_RESOLUTION = 36
"""Circumferential segments of ``lv_tetra()`` and of the committed openCARP ``lv.*`` files."""
UM_PER_MM = 1000.0
_BISECTIONS = 48

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class LvGrid:
    """Divisions of the (u, v, t) grid: apex to base, around, and through the wall."""

    longitudinal: int
    circumferential: int
    transmural: int

    @classmethod
    def for_resolution(cls, resolution: int) -> LvGrid:
        """``resolution`` segments around; half as many apex to base; one layer per 12 around (>= 2)."""
        if resolution < 4:
            raise ValueError(f"resolution must be at least 4, got {resolution}")
        return cls(longitudinal=max(2, resolution // 2), circumferential=resolution,
                   transmural=max(2, resolution // 12))

    @property
    def n_points(self) -> int:
        return (self.transmural + 1) * (1 + self.longitudinal * self.circumferential)

    def node_ids(
        self, i: npt.NDArray[np.int64], j: npt.NDArray[np.int64], k: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]:
        """Node id of grid index (i along u, j along v (periodic), k through the wall).

        Row i = 0 is the apex: one node per layer whatever j. Ids: apex nodes first (by k),
        then (i, j, k) with k fastest.
        """
        nt1, nv = self.transmural + 1, self.circumferential
        ring = nt1 + ((i - 1) * nv + np.mod(j, nv)) * nt1 + k
        return np.where(i == 0, k, ring).astype(np.int64)


def parameters(grid: LvGrid, i: FloatArray, j: FloatArray, k: FloatArray) -> tuple[FloatArray, ...]:
    """(u, v, t) of (possibly fractional) grid indices."""
    t = k / grid.transmural
    r_long = R_LONG_ENDO_MM + WALL_MM * t
    u = -np.pi + (i / grid.longitudinal) * (np.pi - np.arccos(BASE_Z_MM / r_long))
    v = -np.pi + 2.0 * np.pi * j / grid.circumferential
    return u, v, t


def positions(u: FloatArray, v: FloatArray, t: FloatArray) -> FloatArray:
    """``(n, 3)`` points in mm of the ellipsoidal coordinates."""
    r_short, r_long = R_SHORT_ENDO_MM + WALL_MM * t, R_LONG_ENDO_MM + WALL_MM * t
    return np.stack([r_short * np.sin(u) * np.cos(v), r_short * np.sin(u) * np.sin(v), r_long * np.cos(u)], axis=1)


def frames(
    u: FloatArray, v: FloatArray, t: FloatArray, helix_endo_deg: float, helix_epi_deg: float
) -> tuple[FloatArray, FloatArray]:
    """Unit fibre and sheet (outward wall normal) directions ``(n, 3)`` at (u, v, t)."""
    r_short, r_long = R_SHORT_ENDO_MM + WALL_MM * t, R_LONG_ENDO_MM + WALL_MM * t
    d_du = np.stack([r_short * np.cos(u) * np.cos(v), r_short * np.cos(u) * np.sin(v), -r_long * np.sin(u)], axis=1)
    e_u = d_du / np.linalg.norm(d_du, axis=1, keepdims=True)
    # dx/dv = r_s sin(u) (-sin v, cos v, 0) with sin(u) <= 0 on the ventricle; this is its unit
    # vector, and its limit at the apex where dx/dv vanishes.
    e_v = np.stack([np.sin(v), -np.cos(v), np.zeros_like(v)], axis=1)
    alpha = np.deg2rad(helix_endo_deg + (helix_epi_deg - helix_endo_deg) * t)[:, None]
    fibres = np.cos(alpha) * e_v + np.sin(alpha) * e_u
    sheets = np.cross(e_v, e_u)
    return fibres, sheets / np.linalg.norm(sheets, axis=1, keepdims=True)


def _kuhn_offsets() -> npt.NDArray[np.int64]:
    """``(6, 4, 3)``: the corners of the six tetrahedra of a unit cube, one per axis order."""
    tets = []
    for order in itertools.permutations(range(3)):
        corner = np.zeros(3, dtype=np.int64)
        path = [corner.copy()]
        for axis in order:
            corner[axis] += 1
            path.append(corner.copy())
        tets.append(path)
    return np.array(tets, dtype=np.int64)


def _grid_points(grid: LvGrid) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(u, v, t) of every node, in node-id order."""
    nt1 = grid.transmural + 1
    k_apex = np.arange(nt1, dtype=np.float64)
    i, j, k = np.meshgrid(np.arange(1, grid.longitudinal + 1), np.arange(grid.circumferential), np.arange(nt1),
                          indexing="ij")
    ii = np.concatenate([np.zeros(nt1), i.ravel()]).astype(np.float64)
    jj = np.concatenate([np.zeros(nt1), j.ravel()]).astype(np.float64)
    kk = np.concatenate([k_apex, k.ravel()]).astype(np.float64)
    u, v, t = parameters(grid, ii, jj, kk)
    return u, v, t


def _point_fields(
    u: FloatArray, v: FloatArray, t: FloatArray, helix: tuple[float, float], association: Association
) -> dict[str, Field]:
    fibres, sheets = frames(u, v, t, *helix)
    longitudinal = (u + np.pi) / (np.pi - np.arccos(BASE_Z_MM / (R_LONG_ENDO_MM + WALL_MM * t)))
    values = {"fibres": fibres, "sheets": sheets, "transmural": t, "longitudinal": longitudinal}
    return {name: Field(name, array.astype(np.float32), association) for name, array in values.items()}


def lv_tetra(
    resolution: int = TETRA_RESOLUTION, helix_endo_deg: float = HELIX_ENDO_DEG, helix_epi_deg: float = HELIX_EPI_DEG
) -> UnstructuredMesh:
    """The LV wall as positively oriented tetrahedra, coordinates in mm.

    Point and cell fields: ``fibres`` and ``sheets`` (unit ``(n, 3)``), ``transmural`` (0 at the
    endocardium .. 1 at the epicardium) and ``longitudinal`` (0 at the apex .. 1 at the base,
    the normalised ellipsoidal u). Cell fields are evaluated at each cell's parametric centroid.
    """
    grid = LvGrid.for_resolution(resolution)
    u, v, t = _grid_points(grid)
    points = positions(u, v, t)
    ci, cj, ck = (a.ravel() for a in np.meshgrid(np.arange(grid.longitudinal), np.arange(grid.circumferential),
                                                  np.arange(grid.transmural), indexing="ij"))
    offsets = _kuhn_offsets()  # (6, 4, 3)
    gi = ci[:, None, None] + offsets[None, :, :, 0]
    gj = cj[:, None, None] + offsets[None, :, :, 1]
    gk = ck[:, None, None] + offsets[None, :, :, 2]
    tets = grid.node_ids(gi, gj, gk).reshape(-1, 4)
    centroid = [(g.reshape(-1, 4).mean(axis=1)).astype(np.float64) for g in (gi, gj, gk)]
    keep = _distinct_rows(tets)
    tets, centroid = tets[keep], [c[keep] for c in centroid]
    tets = _orient_positive(points, tets)
    cu, cv, ct = parameters(grid, *centroid)
    helix = (helix_endo_deg, helix_epi_deg)
    return UnstructuredMesh(
        points=points.astype(np.float32),
        blocks=(CellBlock("tetra", tets.astype(np.uint32)),),
        point_fields=_point_fields(u, v, t, helix, "point"),
        cell_fields=_point_fields(cu, cv, ct, helix, "cell"),
    )


def ellipsoidal_coordinates(points: npt.ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(u, v, t) of points in mm: the inverse of :func:`positions` (t may leave [0, 1] outside the wall).

    ``t`` solves ``(x^2 + y^2) / r_s(t)^2 + z^2 / r_l(t)^2 = 1``, whose left side falls as t grows
    (both radii grow), by bisection; then ``sin u = -rho / r_s``, ``cos u = z / r_l``.
    """
    p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    rho2, z2 = p[:, 0] ** 2 + p[:, 1] ** 2, p[:, 2] ** 2
    lo, hi = np.full(len(p), -2.0), np.full(len(p), 3.0)
    for _ in range(_BISECTIONS):
        mid = 0.5 * (lo + hi)
        outside = rho2 / (R_SHORT_ENDO_MM + WALL_MM * mid) ** 2 + z2 / (R_LONG_ENDO_MM + WALL_MM * mid) ** 2 > 1.0
        lo, hi = np.where(outside, mid, lo), np.where(outside, hi, mid)
    t = 0.5 * (lo + hi)
    r_short, r_long = R_SHORT_ENDO_MM + WALL_MM * t, R_LONG_ENDO_MM + WALL_MM * t
    u = np.arctan2(-np.sqrt(rho2) / r_short, p[:, 2] / r_long)
    v = np.arctan2(-p[:, 1], -p[:, 0])
    return u, v, t


def lv_lattice(
    resolution: int, helix_endo_deg: float = HELIX_ENDO_DEG, helix_epi_deg: float = HELIX_EPI_DEG
) -> UnstructuredMesh:
    """The LV wall as a uniform lattice of cubes (each split into six tetrahedra), coordinates in mm.

    The lattice spacing is the mid-wall equatorial circumference over ``resolution`` (the spacing
    of ``lv_tetra(resolution)`` around the equator); a cube belongs to the wall when its centre
    does. Every element has the same shape, so there is no collapsed ring at the apex (where
    ``lv_tetra``'s elements shrink with the distance from the axis) and explicit diffusion keeps
    the step the spacing allows; in exchange the wall surfaces are staircases within one spacing
    of the smooth ones. The base is the plane z = 5 exactly. Point and cell fields as in
    :func:`lv_tetra`, evaluated at the (clipped) ellipsoidal coordinates of each point and centroid.
    """
    if resolution < 4:
        raise ValueError(f"resolution must be at least 4, got {resolution}")
    h = 2.0 * np.pi * (R_SHORT_ENDO_MM + WALL_MM / 2.0) / resolution
    r_max = R_SHORT_ENDO_MM + WALL_MM
    half = int(np.ceil(r_max / h)) + 1
    nxy, nz = 2 * half + 1, int(np.ceil((BASE_Z_MM + R_LONG_ENDO_MM + WALL_MM) / h)) + 2
    ci, cj, ck = (a.ravel() for a in np.meshgrid(np.arange(nxy - 1), np.arange(nxy - 1), np.arange(nz - 1),
                                                  indexing="ij"))
    centres = np.stack([(ci + 0.5 - half) * h, (cj + 0.5 - half) * h, BASE_Z_MM - (ck + 0.5) * h], axis=1)
    _, _, t_centre = ellipsoidal_coordinates(centres)
    inside = (t_centre >= 0.0) & (t_centre <= 1.0)
    ci, cj, ck = ci[inside], cj[inside], ck[inside]
    offsets = _kuhn_offsets()
    gi, gj, gk = (c[:, None, None] + offsets[None, :, :, axis] for axis, c in enumerate((ci, cj, ck)))
    lattice_ids = ((gi * nxy + gj) * nz + gk).reshape(-1, 4)
    used, tets = np.unique(lattice_ids, return_inverse=True)
    tets = tets.reshape(-1, 4)
    li, rest = np.divmod(used, nxy * nz)
    lj, lk = np.divmod(rest, nz)
    points = np.stack([(li - half) * h, (lj - half) * h, BASE_Z_MM - lk * h], axis=1).astype(np.float64)
    tets = _orient_positive(points, tets)
    helix = (helix_endo_deg, helix_epi_deg)
    return UnstructuredMesh(
        points=points.astype(np.float32),
        blocks=(CellBlock("tetra", tets.astype(np.uint32)),),
        point_fields=_point_fields(*_clipped(*ellipsoidal_coordinates(points)), helix, "point"),
        cell_fields=_point_fields(*_clipped(*ellipsoidal_coordinates(points[tets].mean(axis=1))), helix, "cell"),
    )


def _clipped(u: FloatArray, v: FloatArray, t: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Ellipsoidal coordinates of points just outside the wall, moved onto it (for the field rules)."""
    t = np.clip(t, 0.0, 1.0)
    u_base = -np.arccos(BASE_Z_MM / (R_LONG_ENDO_MM + WALL_MM * t))
    return np.clip(u, -np.pi, u_base), v, t


def lv_surface(
    resolution: int = SURFACE_RESOLUTION, helix_endo_deg: float = HELIX_ENDO_DEG, helix_epi_deg: float = HELIX_EPI_DEG
) -> Mesh:
    """The closed LV wall surface (endocardium, epicardium, basal ring), outward normals, mm.

    The boundary of ``lv_tetra(resolution)`` exactly: ``source_point_ids`` maps each vertex to
    its point there. Point fields as in :func:`lv_tetra`.
    """
    grid = LvGrid.for_resolution(resolution)
    nu, nv, nt = grid.longitudinal, grid.circumferential, grid.transmural
    quads = []
    # endocardium (k = 0) and epicardium (k = nt): quads over (i, j)
    i, j = (a.ravel() for a in np.meshgrid(np.arange(nu), np.arange(nv), indexing="ij"))
    for layer in (0, nt):
        kk = np.full_like(i, layer)
        quads.append(np.stack([grid.node_ids(i, j, kk), grid.node_ids(i + 1, j, kk),
                               grid.node_ids(i + 1, j + 1, kk), grid.node_ids(i, j + 1, kk)], axis=1))
    # base ring (i = nu): quads over (j, k)
    bj, bk = (a.ravel() for a in np.meshgrid(np.arange(nv), np.arange(nt), indexing="ij"))
    bi = np.full_like(bj, nu)
    quads.append(np.stack([grid.node_ids(bi, bj, bk), grid.node_ids(bi, bj + 1, bk),
                           grid.node_ids(bi, bj + 1, bk + 1), grid.node_ids(bi, bj, bk + 1)], axis=1))
    quad = np.concatenate(quads)
    triangles = np.concatenate([quad[:, [0, 1, 2]], quad[:, [0, 2, 3]]])
    triangles = triangles[_distinct_rows(triangles)]
    u, v, t = _grid_points(grid)
    points = positions(u, v, t)
    triangles = _orient_outward(points, triangles, t)
    used, inverse = np.unique(triangles, return_inverse=True)
    fields = _point_fields(u[used], v[used], t[used], (helix_endo_deg, helix_epi_deg), "point")
    return Mesh(
        vertices=points[used].astype(np.float32),
        triangles=inverse.reshape(-1, 3).astype(np.uint32),
        point_fields=fields,
        source_point_ids=used.astype(np.uint32),
    )


def _distinct_rows(cells: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """Rows whose ids are pairwise distinct (collapsed cells at the apex are not)."""
    s = np.sort(cells, axis=1)
    distinct: npt.NDArray[np.bool_] = np.all(s[:, 1:] != s[:, :-1], axis=1)
    return distinct


def _orient_positive(points: FloatArray, tets: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Swap two nodes of every tetrahedron with negative volume (VTK: (p1-p0)x(p2-p0).(p3-p0) > 0)."""
    p = points[tets]
    volume = np.einsum("ij,ij->i", np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), p[:, 3] - p[:, 0])
    flipped = tets.copy()
    flipped[volume < 0, 1], flipped[volume < 0, 2] = tets[volume < 0, 2], tets[volume < 0, 1]
    return flipped


def _orient_outward(points: FloatArray, triangles: npt.NDArray[np.int64], t: FloatArray) -> npt.NDArray[np.int64]:
    """Wind every triangle so its normal leaves the wall: epicardium out, endocardium into the cavity, base up.

    The outward direction of an ellipsoid layer is the gradient of (x^2 + y^2) / r_s^2 + z^2 / r_l^2.
    """
    p = points[triangles]
    normal = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    tc = t[triangles]
    layer = tc.mean(axis=1)
    r_short, r_long = R_SHORT_ENDO_MM + WALL_MM * layer, R_LONG_ENDO_MM + WALL_MM * layer
    centre = p.mean(axis=1)
    gradient = centre / np.stack([r_short**2, r_short**2, r_long**2], axis=1)
    want = np.where((layer == 0.0)[:, None], -gradient, gradient)
    base = np.ptp(tc, axis=1) > 0
    want[base] = (0.0, 0.0, 1.0)
    wrong = np.einsum("ij,ij->i", normal, want) < 0
    fixed = triangles.copy()
    fixed[wrong, 1], fixed[wrong, 2] = triangles[wrong, 2], triangles[wrong, 1]
    return fixed


# -- files ------------------------------------------------------------------------------------------


def opencarp_texts(mesh: UnstructuredMesh) -> tuple[bytes, bytes, bytes]:
    """``(pts, elem, lon)`` file contents of a tetrahedral mesh in mm, written in micrometres."""
    points = mesh.points.astype(np.float64) * UM_PER_MM
    tets = mesh.blocks[0].connectivity
    region = np.ones(len(tets), dtype=np.int64)
    fibres = mesh.cell_fields["fibres"].values
    sheets = mesh.cell_fields["sheets"].values
    pts = _lines(f"{len(points)}\n", "%.3f %.3f %.3f", points)
    elem = _lines(f"{len(tets)}\n", "Tt %d %d %d %d %d", np.column_stack([tets.astype(np.int64), region]))
    lon = _lines("2\n", "%.5f %.5f %.5f %.5f %.5f %.5f", np.column_stack([fibres, sheets]).astype(np.float64))
    return pts, elem, lon


def ply_bytes(mesh: Mesh, comment: str) -> bytes:
    """A binary little-endian PLY of the surface (float32 x y z; uchar-counted int32 faces)."""
    header = (
        "ply\nformat binary_little_endian 1.0\n"
        f"comment {comment}\n"
        f"element vertex {mesh.n_points}\nproperty float x\nproperty float y\nproperty float z\n"
        f"element face {mesh.n_triangles}\nproperty list uchar int vertex_indices\nend_header\n"
    ).encode("ascii")
    faces = np.zeros(mesh.n_triangles, dtype=[("n", "u1"), ("v", "<i4", (3,))])
    faces["n"] = 3
    faces["v"] = mesh.triangles.astype(np.int32)
    return header + mesh.vertices.astype("<f4").tobytes() + faces.tobytes()


def write_assets(out: Path) -> list[Path]:
    """Write ``lv.pts``, ``lv.elem``, ``lv.lon`` and ``lv_surface.ply`` into ``out``; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    pts, elem, lon = opencarp_texts(lv_tetra(TETRA_RESOLUTION))
    surface = lv_surface(SURFACE_RESOLUTION)
    comment = (f"LV of Land et al. 2015 (Proc R Soc A 471:20150641), mm, vizserver.anatomy.lv "
               f"resolution {SURFACE_RESOLUTION}")
    files = {"lv.pts": pts, "lv.elem": elem, "lv.lon": lon, "lv_surface.ply": ply_bytes(surface, comment)}
    written = []
    for name, content in files.items():
        path = out / name
        path.write_bytes(content)
        written.append(path)
    return written


def _lines(header: str, row_format: str, rows: npt.NDArray[np.generic]) -> bytes:
    body = "\n".join(row_format % tuple(row) for row in rows.tolist())
    return (header + body + "\n").encode("ascii")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write the default LV anatomy assets.")
    parser.add_argument("--out", type=Path, default=Path("assets"), help="folder to write into")
    args = parser.parse_args(argv)
    for path in write_assets(args.out):
        print(f"{path} ({path.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
