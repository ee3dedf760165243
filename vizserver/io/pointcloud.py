"""Point clouds: PCD and XYZ files into :class:`Mesh` objects with no triangles, and Poisson
surface reconstruction for clouds that should be shown as surfaces.

- PCD (``.pcd``, ascii/binary/binary_compressed) is parsed by open3d's C++ reader, so it runs
  isolated (a child process with memory and time limits) after we have checked the header's
  claims against the file size and its field list (open3d crashes on a partial normal triple
  or a non-ASCII field name, found by fuzzing). Points with NaN/inf coordinates are dropped: PCL writes them on
  purpose for the missing pixels of organised (depth camera) clouds. ``normal_*`` fields give
  normals, ``rgb``/``rgba`` the 3-component ``color`` field in [0, 1], other fields point fields.
- XYZ text (numpy, no open3d): ``.xyz`` is ``x y z`` per line and any further columns become the
  point fields ``column4``, ``column5``, ...; ``.xyzn`` adds normals (columns 4-6), ``.xyzrgb``
  colours (columns 4-6, 0-1 or 0-255). ``#`` starts a comment. NaN/inf coordinates are an error.
- PLY point clouds are read by the one PLY reader (:mod:`vizserver.io.ply`): a PLY without faces
  gives a mesh with zero triangles and keeps every vertex property as a field.

:func:`reconstruct_surface` is computation, not I/O, but it lives here because, like the PCD
reader, it is open3d-specific: open3d (about a second to import) is only imported inside the
functions that need it, and its absence is a :class:`MissingDependencyError` raised only then.
"""

from __future__ import annotations

import logging
import re
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from vizserver.config import limits
from vizserver.errors import (
    InvalidGeometryError,
    LimitExceededError,
    MissingDependencyError,
    UnreadableFileError,
)
from vizserver.io.meshcheck import checked_mesh, color_values, single_object_scene, text_of
from vizserver.io.registry import SNIFF_BYTES, ReaderSpec, register
from vizserver.io.sniff import is_pcd
from vizserver.model import Field, Mesh, Scene

log = logging.getLogger(__name__)

PCD_HEADER_MAX_BYTES = 64 << 10
"""A PCD header must end (with its DATA line) within this many bytes."""

MAX_POISSON_DEPTH = 12
"""Deepest Poisson octree :func:`reconstruct_surface` builds: memory grows about 4x per level."""

MIN_POISSON_POINTS = 20
"""Fewest points :func:`reconstruct_surface` accepts; fewer cannot outline a surface."""

POISSON_NEIGHBOURS = 15
"""Neighbours used to estimate and orient normals when a cloud has none."""


def _open3d(purpose: str) -> ModuleType:
    try:
        import open3d
    except (ImportError, OSError) as exc:
        raise MissingDependencyError(
            f"open3d is needed to {purpose} ({exc}); install it with 'pip install open3d' "
            "('open3d-cpu' on Linux x86-64)"
        ) from exc
    return open3d


# --- XYZ ---------------------------------------------------------------------------------------


def read_xyz(path: Path) -> Scene:
    with path.open("rb") as f:
        text_of(path, f.read(SNIFF_BYTES), "XYZ")  # refuses binary data and other formats' files
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data": reported below
            table = np.loadtxt(path, dtype=np.float64, comments="#", ndmin=2, encoding="utf-8")
    except ValueError as exc:
        raise UnreadableFileError(f"{path.name}: not a table of numbers ({str(exc).splitlines()[0]})") from None
    if table.shape[0] == 0:
        raise InvalidGeometryError(f"{path.name}: contains no points")
    suffix = path.suffix.lower()
    needed = 6 if suffix in (".xyzn", ".xyzrgb") else 3
    if table.shape[1] < needed:
        raise UnreadableFileError(f"{path.name}: has {table.shape[1]} columns, {suffix} needs {needed}")
    normals = table[:, 3:6] if suffix == ".xyzn" else None
    fields: dict[str, npt.NDArray[Any]]
    if suffix == ".xyzrgb":
        fields = {"color": color_values(table[:, 3:6])}
    else:
        fields = {f"column{i + 1}": table[:, i] for i in range(needed, table.shape[1])}
    return single_object_scene(path, checked_mesh(path, table[:, :3], normals=normals, point_fields=fields))


# --- PCD ---------------------------------------------------------------------------------------


_PCD_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class PcdHeader:
    """A PCD header's claims; ``data_offset`` is where the points start (after the DATA line)."""

    fields: tuple[str, ...]
    sizes: tuple[int, ...]
    types: tuple[str, ...]
    counts: tuple[int, ...]
    points: int
    data: str
    data_offset: int

    @property
    def point_bytes(self) -> int:
        return sum(s * c for s, c in zip(self.sizes, self.counts, strict=True))


def pcd_header(head: bytes) -> PcdHeader:
    """Parse a PCD header; ``ValueError`` (message without a file name) when it is malformed."""
    items: dict[str, list[str]] = {}
    offset = 0
    for raw in head.splitlines(keepends=True):
        offset += len(raw)
        words = raw.decode("ascii", errors="replace").split()
        if not words or words[0].startswith("#"):
            continue
        items[words[0].upper()] = words[1:]
        if words[0].upper() == "DATA":
            break
    else:
        raise ValueError(f"PCD header has no DATA line in its first {len(head):,} bytes")
    fields = tuple(items.get("FIELDS", []))
    sizes, counts = _ints(items, "SIZE", len(fields)), _ints(items, "COUNT", len(fields), default=1)
    types = tuple(t.upper() for t in items.get("TYPE", []))
    if len(types) != len(fields) or any(t not in ("I", "U", "F") for t in types):
        raise ValueError("PCD TYPE line must give I, U or F for every field")
    if any(s not in (1, 2, 4, 8) for s in sizes) or any(c < 1 for c in counts):
        raise ValueError("PCD SIZE must be 1, 2, 4 or 8 and COUNT at least 1 for every field")
    width, height = _ints(items, "WIDTH", 1)[0], _ints(items, "HEIGHT", 1, default=1)[0]
    points = _ints(items, "POINTS", 1)[0] if "POINTS" in items else width * height
    data = (items["DATA"] or [""])[0].lower()
    if data not in ("ascii", "binary", "binary_compressed"):
        raise ValueError(f"PCD DATA {data!r} is not ascii, binary or binary_compressed")
    if not all(_PCD_FIELD_NAME.fullmatch(name) for name in fields) or len(set(fields)) != len(fields):
        raise ValueError("PCD FIELDS must be distinct names of letters, digits and underscores")
    for group in (("x", "y", "z"), ("normal_x", "normal_y", "normal_z")):
        present = [name in fields for name in group]
        if not all(present) and (any(present) or group[0] == "x"):
            raise ValueError(f"PCD fields must include all of {', '.join(group)} or none (x, y, z are required)")
    return PcdHeader(fields, sizes, types, counts, points, data, offset)


def _ints(items: dict[str, list[str]], key: str, length: int, default: int | None = None) -> tuple[int, ...]:
    words = items.get(key)
    if words is None and default is not None:
        return (default,) * length
    if words is None or len(words) != length or not all(w.isdigit() for w in words):
        raise ValueError(f"PCD {key} line must hold {length} non-negative integer(s)")
    return tuple(int(w) for w in words)


def _check_pcd_claims(path: Path, header: PcdHeader, size: int) -> None:
    lim = limits()
    if header.points > lim.max_points:
        raise LimitExceededError(
            f"{path.name}: header claims {header.points:,} points, over the {lim.max_points:,} limit"
        )
    body = size - header.data_offset
    needed = header.points * header.point_bytes
    if header.data == "ascii":
        needed = header.points * 2 * sum(header.counts) - 1
    elif header.data == "binary_compressed":
        with path.open("rb") as f:
            f.seek(header.data_offset)
            sizes = f.read(8)
        if len(sizes) < 8:
            raise UnreadableFileError(f"{path.name}: compressed PCD ends before its size fields")
        compressed, uncompressed = struct.unpack("<II", sizes)
        if uncompressed != needed:
            raise UnreadableFileError(
                f"{path.name}: header claims {header.points:,} points ({needed:,} bytes) but the "
                f"compressed block unpacks to {uncompressed:,} bytes"
            )
        needed = 8 + compressed
    if needed > body:
        raise UnreadableFileError(
            f"{path.name}: header claims {header.points:,} points, which need {needed:,} bytes, "
            f"but only {body:,} follow the header"
        )


def read_pcd(path: Path) -> Scene:
    """Runs isolated: open3d's C++ parser reads the points once the header has been checked."""
    with path.open("rb") as f:
        head = f.read(PCD_HEADER_MAX_BYTES)
    try:
        header = pcd_header(head)
    except ValueError as exc:
        raise UnreadableFileError(f"{path.name}: {exc}") from None
    _check_pcd_claims(path, header, path.stat().st_size)
    o3d = _open3d("read .pcd point clouds")
    cloud = o3d.t.io.read_point_cloud(str(path))
    attributes = {name: cloud.point[name].numpy() for name in cloud.point}
    positions = attributes.pop("positions", np.zeros((0, 3), dtype=np.float32))
    if positions.shape[0] != header.points:
        raise UnreadableFileError(
            f"{path.name}: open3d read {positions.shape[0]:,} of the {header.points:,} points the header claims"
        )
    keep = np.isfinite(positions).all(axis=1)
    if not keep.all():
        log.info("%s: %d points without coordinates (NaN) dropped", path.name, int((~keep).sum()))
    normals = attributes.pop("normals", None)
    fields: dict[str, npt.NDArray[Any]] = {}
    colors = attributes.pop("colors", None)
    if colors is not None:
        fields["color"] = color_values(colors)
    fields.update(attributes)
    return single_object_scene(
        path,
        checked_mesh(
            path,
            positions[keep],
            normals=None if normals is None else normals[keep],
            point_fields={name: values[keep] for name, values in fields.items()},
        ),
    )


# --- Poisson reconstruction --------------------------------------------------------------------


def reconstruct_surface(cloud: Mesh, *, depth: int = 8, trim_quantile: float = 0.02) -> Mesh:
    """A closed-ish triangle surface through ``cloud``'s points by screened Poisson reconstruction.

    Normals are estimated (and oriented consistently) when the cloud has none. ``depth`` is the
    octree depth (detail grows, and memory about 4x, per level; at most :data:`MAX_POISSON_DEPTH`).
    Vertices whose Poisson density is in the lowest ``trim_quantile`` are removed: they are the
    surface Poisson invents far from any point. A ``color`` field is carried over; other fields
    are not (the vertices are new). Triangles are wound so that normals point outwards.
    """
    if not 1 <= depth <= MAX_POISSON_DEPTH:
        raise LimitExceededError(f"point cloud: Poisson depth {depth} is outside 1..{MAX_POISSON_DEPTH}")
    if not 0.0 <= trim_quantile < 1.0:
        raise ValueError(f"trim_quantile must be in [0, 1), got {trim_quantile}")
    if cloud.n_points < MIN_POISSON_POINTS:
        raise InvalidGeometryError(
            f"point cloud: {cloud.n_points} points are too few to reconstruct a surface (need {MIN_POISSON_POINTS})"
        )
    o3d = _open3d("reconstruct surfaces from point clouds")
    points = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(cloud.vertices.astype(np.float64)))
    color = cloud.point_fields.get("color")
    if color is not None and color.components == 3:
        points.colors = o3d.utility.Vector3dVector(np.clip(color.values, 0.0, 1.0).astype(np.float64))
    if cloud.normals is not None:
        points.normals = o3d.utility.Vector3dVector(cloud.normals.astype(np.float64))
    else:
        points.estimate_normals(o3d.geometry.KDTreeSearchParamKNN(POISSON_NEIGHBOURS))
        points.orient_normals_consistent_tangent_plane(POISSON_NEIGHBOURS)
    surface, densities = o3d.geometry.TriangleMesh.create_from_point_cloud_poisson(points, depth=depth)
    density = np.asarray(densities)
    if trim_quantile > 0.0 and density.size:
        surface.remove_vertices_by_mask(density < np.quantile(density, trim_quantile))
    surface.remove_unreferenced_vertices()
    vertices = np.asarray(surface.vertices, dtype=np.float64)
    triangles = np.asarray(surface.triangles, dtype=np.int64)
    if triangles.shape[0] == 0:
        raise InvalidGeometryError("point cloud: Poisson reconstruction produced no surface")
    if _signed_volume(vertices, triangles) < 0.0:
        triangles = triangles[:, ::-1]
    surface.triangles = o3d.utility.Vector3iVector(np.ascontiguousarray(triangles, dtype=np.int32))
    surface.compute_vertex_normals()
    fields: dict[str, Field] = {}
    if points.has_colors() and surface.has_vertex_colors():  # open3d adds black colours otherwise
        fields["color"] = Field("color", np.asarray(surface.vertex_colors, dtype=np.float32))
    return Mesh(
        vertices=vertices.astype(np.float32),
        triangles=triangles.astype(np.uint32),
        normals=np.asarray(surface.vertex_normals, dtype=np.float32),
        point_fields=fields,
    )


def _signed_volume(vertices: npt.NDArray[np.float64], triangles: npt.NDArray[np.int64]) -> float:
    """Volume enclosed by the triangles (positive when they wind counter-clockwise seen from outside)."""
    a, b, c = (vertices[triangles[:, i]] for i in range(3))
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)


# --- registration ------------------------------------------------------------------------------

register(
    ReaderSpec(
        name="PCD",
        suffixes=(".pcd",),
        read=read_pcd,
        sniff=is_pcd,
        isolated=True,
        description="Point Cloud Library point cloud (ascii, binary, binary_compressed), read by open3d",
    )
)
register(
    ReaderSpec(
        name="XYZ",
        suffixes=(".xyz", ".xyzn", ".xyzrgb"),
        read=read_xyz,
        sniff=None,
        description="text point cloud: x y z per line (.xyzn adds normals, .xyzrgb colours)",
    )
)
