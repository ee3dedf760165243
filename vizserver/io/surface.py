"""Surface meshes: STL (ASCII and binary), OBJ, PLY, OFF and glTF (.glb/.gltf) into :class:`Mesh` objects.

Vertices are kept as written (nothing merged, reordered or repaired); polygons are fan-triangulated
and their cell fields repeated per triangle. What each format gives:

- STL: one object per ``solid`` (binary: one); three vertices per triangle, as the format stores
  them (the geometry stage welds). The header's triangle count must account for the file size
  exactly (84 + 50 N), which is also how a binary file that starts with ``solid`` is told apart.
- OBJ (trimesh's parser, materials and textures never loaded): one object per ``o``/``g`` name;
  vertices a part does not use are dropped; ``v x y z r g b`` colours become the ``color`` field.
- PLY (our parser: trimesh's cannot read binary files that mix polygon sizes, nor keep the
  face-to-triangle map cell fields need): vertex properties other than x, y, z, nx, ny, nz and
  colours become float32 point fields, scalar face properties become cell fields, colours become
  a 3-component ``color`` field in [0, 1]. A PLY without faces is a point cloud (no triangles).
- OFF (our parser; ``C``/``N``/``ST`` prefixes): positions, normals, vertex colours.
- glTF: one object per node that shows a mesh primitive, named after the mesh (or the node when
  the mesh has no name). Node transforms are *applied* to the vertices and normals (so
  ``SceneObject.transform`` stays the identity): the encoder and geometry stages work on
  vertices alone, and an instanced mesh is simply repeated.
  ``NORMAL`` gives normals, ``COLOR_0`` the ``color`` field, custom ``_NAME`` attributes the point
  field ``NAME``. Materials, textures and line primitives are not read; compressed data
  (Draco, meshopt) and external buffers outside the file's folder are refused.

Every reader checks the counts a header claims against the file size before allocating, and
every mesh passes :func:`checked_mesh` (finite coordinates, indices in range, count limits).
"""

from __future__ import annotations

import io
import json
import logging
import re
import struct
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import numpy as np
import numpy.typing as npt

from vizserver.config import limits
from vizserver.errors import (
    InvalidGeometryError,
    LimitExceededError,
    UnreadableFileError,
    UnsupportedFormatError,
    VizServerError,
)
from vizserver.io.registry import SNIFF_BYTES, ReaderSpec, register
from vizserver.io.sniff import (
    PlyElement,
    PlyHeader,
    binary_stl_size,
    binary_stl_triangle_count,
    is_ascii_stl,
    is_binary_stl,
    is_glb,
    is_gltf_json,
    is_off,
    is_ply,
    looks_like_stl,
    looks_like_text,
    ply_header,
    signature_format,
)
from vizserver.model import Field, Mesh, Scene, SceneObject

log = logging.getLogger(__name__)

MAX_PARTS = 10_000
"""Most named parts (STL solids, OBJ groups, glTF mesh instances) one file may hold; trimesh's
name bookkeeping is quadratic in it, so a hostile file with millions of groups would hang."""

PLY_HEADER_MAX_BYTES = 1 << 20
"""A PLY header (with its comments) must end within this many bytes."""

PLY_MAX_WALKED_ROWS = 20_000_000
"""Most rows of a PLY element whose lists differ in length (triangles mixed with quads): such rows
are found one by one in Python (about a second per million), so a file of millions of tiny
varying rows would otherwise keep the reader busy for many minutes."""

GLTF_UNSUPPORTED_EXTENSIONS = ("KHR_draco_mesh_compression", "EXT_meshopt_compression")

_COLOR_NAMES = (("red", "green", "blue"), ("r", "g", "b"), ("diffuse_red", "diffuse_green", "diffuse_blue"))
_ALPHA_NAMES = ("alpha", "a", "diffuse_alpha")
_PLY_FACE_INDEX_NAMES = ("vertex_indices", "vertex_index")

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.floating[Any]]


# --- shared by every reader of this module and pointcloud.py -----------------------------------


def checked_mesh(
    path: Path,
    vertices: npt.ArrayLike,
    triangles: npt.ArrayLike | None = None,
    *,
    normals: npt.ArrayLike | None = None,
    point_fields: Mapping[str, npt.ArrayLike] | None = None,
    cell_fields: Mapping[str, npt.ArrayLike] | None = None,
) -> Mesh:
    """A :class:`Mesh` after the checks every reader owes its caller.

    Raises :class:`InvalidGeometryError` for no vertices, NaN/inf (or float32-overflowing)
    coordinates and triangle indices outside ``[0, n)``, and :class:`LimitExceededError` over
    the point/cell limits. Normals of the wrong shape or with non-finite values are dropped.
    """
    lim = limits()
    points = np.asarray(vertices, dtype=np.float64).reshape(-1, 3)
    n = points.shape[0]
    if n == 0:
        raise InvalidGeometryError(f"{path.name}: contains no vertices")
    if n > lim.max_points:
        raise LimitExceededError(f"{path.name}: {n:,} vertices is over the {lim.max_points:,}-point limit")
    with np.errstate(over="ignore"):
        points32 = points.astype(np.float32)
    bad = ~np.isfinite(points32).all(axis=1)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise InvalidGeometryError(
            f"{path.name}: {int(bad.sum()):,} of {n:,} vertices have NaN or infinite coordinates "
            f"(first: vertex {first})"
        )
    tris = np.zeros((0, 3), dtype=np.int64) if triangles is None else np.asarray(triangles).reshape(-1, 3)
    if tris.shape[0] > lim.max_cells:
        raise LimitExceededError(f"{path.name}: {tris.shape[0]:,} triangles is over the {lim.max_cells:,}-cell limit")
    if tris.size and (tris.min() < 0 or tris.max() >= n):
        worst = int(tris.min()) if tris.min() < 0 else int(tris.max())
        raise InvalidGeometryError(f"{path.name}: a face uses vertex index {worst}, outside the {n:,} vertices")
    mesh_normals: npt.NDArray[np.float32] | None = None
    if normals is not None:
        candidate = np.asarray(normals, dtype=np.float32)
        if candidate.shape == (n, 3) and np.isfinite(candidate).all():
            mesh_normals = candidate
        else:
            log.info("%s: normals dropped (wrong shape or not finite)", path.name)
    m = tris.shape[0]
    return Mesh(
        vertices=points32,
        triangles=tris.astype(np.uint32),
        normals=mesh_normals,
        point_fields=_fields(path, point_fields or {}, n, "point"),
        cell_fields=_fields(path, cell_fields or {}, m, "cell"),
    )


def _fields(path: Path, arrays: Mapping[str, npt.ArrayLike], rows: int, association: str) -> dict[str, Field]:
    fields: dict[str, Field] = {}
    for name, values in arrays.items():
        array = np.asarray(values, dtype=np.float32)
        if array.ndim == 2 and array.shape[1] == 1:
            array = array[:, 0]
        if array.shape[0] != rows or array.ndim > 2:
            log.info("%s: field %r dropped (shape %s for %d %ss)", path.name, name, array.shape, rows, association)
            continue
        fields[name] = Field(name, array, "point" if association == "point" else "cell")
    return fields


def color_values(values: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """RGB(A) colours as a ``(n, 3)`` float32 array in [0, 1]: integers scale by their type's maximum,
    floats above 1 are taken as 0-255. Alpha is dropped."""
    array = np.asarray(values)
    rgb = array.reshape(array.shape[0], -1)[:, :3]
    if np.issubdtype(rgb.dtype, np.integer):
        scale = float(np.iinfo(rgb.dtype).max)
    else:
        scale = 255.0 if rgb.size and float(np.nanmax(rgb)) > 1.0 else 1.0
    return (rgb / scale).astype(np.float32)


def fan_triangulate(counts: IntArray, flat: npt.NDArray[Any]) -> tuple[IntArray, IntArray]:
    """Fan-triangulate polygons given as ``counts`` (corners per polygon) and their ``flat`` indices.

    Returns ``(triangles (m, 3), polygon_of_triangle (m,))``; polygons with fewer than three
    corners give no triangle (they are degenerate), so cell fields follow with the second array.
    """
    counts = np.asarray(counts, dtype=np.int64)
    flat = np.asarray(flat).astype(np.int64, copy=False)
    per_polygon = np.maximum(counts - 2, 0)
    polygon = np.repeat(np.arange(counts.shape[0], dtype=np.int64), per_polygon)
    first_triangle = np.cumsum(per_polygon) - per_polygon
    step = np.arange(polygon.shape[0], dtype=np.int64) - first_triangle[polygon]
    start = (np.cumsum(counts) - counts)[polygon]
    triangles = np.stack([flat[start], flat[start + step + 1], flat[start + step + 2]], axis=1)
    return triangles, polygon


def parse_numbers(text: str | bytes) -> npt.NDArray[np.float64]:
    """Every whitespace-separated number in ``text``; ``ValueError`` at the first that is not one."""
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        try:
            return np.fromstring(text, dtype=np.float64, sep=" ")
        except DeprecationWarning as exc:  # numpy < 2.3 warns (and stops) where newer ones raise
            raise ValueError(str(exc)) from None


def single_object_scene(path: Path, mesh: Mesh) -> Scene:
    return Scene(title=path.stem, objects=(SceneObject(name=path.stem, data=mesh),))


def _unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    unique: list[str] = []
    for name in names:
        count = seen.get(name, 0)
        seen[name] = count + 1
        unique.append(name if count == 0 else f"{name}_{count + 1}")
    return unique


def _check_parts(path: Path, parts: int, what: str) -> None:
    if parts > MAX_PARTS:
        raise LimitExceededError(f"{path.name}: {parts:,} {what} is over the {MAX_PARTS:,}-part limit")


def _trimesh_call(path: Path, what: str, parse: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run a trimesh parser on a file we have checked; trimesh signals corrupt input with whatever
    exception its code happens to hit (NameError, AssertionError, ...), so all become one error."""
    try:
        return parse()
    except VizServerError:
        raise
    except MemoryError as exc:
        raise LimitExceededError(f"{path.name}: ran out of memory while reading") from exc
    except Exception as exc:  # a third-party parser on untrusted input: see the docstring
        detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise UnreadableFileError(f"{path.name}: not a readable {what} file ({detail})") from exc


def _read_head(path: Path, length: int) -> tuple[bytes, int]:
    with path.open("rb") as f:
        return f.read(length), path.stat().st_size


def text_of(path: Path, data: bytes, what: str) -> str:
    """``data`` decoded, after refusing binary data and files of a format with a signature: the
    registry lets any content through to readers of formats without one (OBJ, XYZ)."""
    other = signature_format(data[:SNIFF_BYTES])
    if other is not None and other != what:
        raise UnsupportedFormatError(f"{path.name}: content is {other}, not {what}; rename it to match")
    if not looks_like_text(data[:SNIFF_BYTES]):
        raise UnreadableFileError(f"{path.name}: is binary data, not a text {what} file")
    return data.decode("utf-8", errors="replace")


# --- STL ---------------------------------------------------------------------------------------


def read_stl(path: Path) -> Scene:
    from trimesh.exchange.stl import load_stl_ascii, load_stl_binary

    head, size = _read_head(path, SNIFF_BYTES)
    if not is_binary_stl(head, size):
        if not is_ascii_stl(head):
            count = binary_stl_triangle_count(head)
            if count is None:
                raise UnreadableFileError(f"{path.name}: {size} bytes is shorter than a binary STL header (84)")
            raise UnreadableFileError(
                f"{path.name}: binary STL header says {count:,} triangles, which need "
                f"{binary_stl_size(count):,} bytes, but the file has {size:,} bytes"
            )
        data = path.read_bytes()
        _check_parts(path, data.lower().count(b"endsolid"), "solids")
        text = text_of(path, data, "STL")
        loaded = _trimesh_call(path, "ASCII STL", lambda: load_stl_ascii(io.StringIO(text)))
    else:
        count = binary_stl_triangle_count(head) or 0
        if count > limits().max_cells:
            raise LimitExceededError(f"{path.name}: {count:,} triangles is over the {limits().max_cells:,}-cell limit")
        loaded = _trimesh_call(path, "binary STL", lambda: load_stl_binary(io.BytesIO(path.read_bytes())))
    solids = loaded.get("geometry", {path.stem: loaded})
    if not solids:
        raise InvalidGeometryError(f"{path.name}: contains no triangles")
    names = _unique_names([str(name) or path.stem for name in solids])
    objects = tuple(
        SceneObject(name=name, data=checked_mesh(path, kw["vertices"], kw["faces"]))
        for name, kw in zip(names, solids.values(), strict=True)
    )
    return Scene(title=path.stem, objects=objects)


def _sniff_stl(head: bytes) -> bool:
    return looks_like_stl(head, whole_file=len(head) < SNIFF_BYTES)


# --- OBJ ---------------------------------------------------------------------------------------

_OBJ_MATERIAL_LINE = re.compile(r"^[ \t]*(?:usemtl|mtllib)\b[^\n]*", re.MULTILINE)
_OBJ_PART_LINE = re.compile(r"^([og])(?:[ \t]+([^\n]*))?$", re.MULTILINE)
_OBJ_FACE_LINE = re.compile(r"^f[ \t]", re.MULTILINE)
_OBJ_ZERO_INDEX = re.compile(r"^f[ \t](?:[^\n]*[ \t])?0(?:/|[ \t]|$)", re.MULTILINE)


def read_obj(path: Path) -> Scene:
    """trimesh parses the file as one part (materials stripped first, so nothing is split or
    loaded by name); the ``o``/``g`` parts are then cut out here, in linear time, because
    trimesh's own splitting costs (parts x vertices) and would let a hostile file hang it."""
    from trimesh.exchange.obj import load_obj

    raw = text_of(path, path.read_bytes(), "OBJ").replace("\r\n", "\n").replace("\\\n", "")
    text = "\n" + _OBJ_MATERIAL_LINE.sub("", raw).strip() + "\n"  # the form trimesh normalises to
    directives = [(m.start(), m.group(1), (m.group(2) or "").strip()) for m in _OBJ_PART_LINE.finditer(text)]
    _check_parts(path, len(directives), "o/g groups")
    if _OBJ_ZERO_INDEX.search(text):
        raise InvalidGeometryError(f"{path.name}: a face uses vertex index 0 (OBJ indices start at 1)")

    def parse() -> dict[str, Any]:
        try:
            loaded: dict[str, Any] = load_obj(
                io.StringIO(text), skip_materials=True, maintain_order=True, group_material=False
            )
            return loaded
        except IndexError as exc:
            raise InvalidGeometryError(f"{path.name}: a face uses a vertex that does not exist ({exc})") from exc

    loaded = _trimesh_call(path, "OBJ", parse)
    if "geometry" in loaded:
        if not loaded["geometry"]:
            raise InvalidGeometryError(f"{path.name}: contains no vertices")
        loaded = next(iter(loaded["geometry"].values()))
    colors = loaded.get("vertex_colors")
    whole = checked_mesh(
        path,
        loaded["vertices"],
        _obj_triangles(np.asarray(loaded.get("faces", np.zeros((0, 3))))),
        normals=loaded.get("vertex_normals"),
        point_fields={"color": color_values(colors)} if colors is not None else None,
    )
    parts = _obj_parts(path, text, directives, whole) if directives and not whole.is_point_cloud else None
    if parts is None:
        return single_object_scene(path, whole)
    return Scene(title=path.stem, objects=tuple(SceneObject(name=n, data=m) for n, m in parts))


def _obj_triangles(faces: npt.NDArray[Any]) -> IntArray:
    """trimesh gives ``(n, k)`` faces when every face line has k corners, else triangles."""
    faces = faces.reshape(faces.shape[0], -1) if faces.size else np.zeros((0, 3), dtype=np.int64)
    return fan_triangulate(np.full(faces.shape[0], faces.shape[1]), faces.ravel())[0]


def _obj_parts(
    path: Path, text: str, directives: list[tuple[int, str, str]], whole: Mesh
) -> list[tuple[str, Mesh]] | None:
    """Split ``whole`` by the ``o``/``g`` directive before each face line; ``None`` when it is one part."""
    names: list[str] = []
    obj = group = ""
    for _, kind, name in directives:
        obj, group = (name, "") if kind == "o" else (obj, name)
        names.append("_".join(n for n in (obj, group) if n) or path.stem)
    label = {name: i for i, name in enumerate(dict.fromkeys([path.stem, *names]))}
    directive_part = np.array([label[path.stem]] + [label[n] for n in names], dtype=np.int64)
    starts = [m.start() for m in _OBJ_FACE_LINE.finditer(text)]
    corners = np.array([len(text[s : text.find("\n", s)].split()) - 1 for s in starts], dtype=np.int64)
    per_line = np.maximum(corners - 2, 0)
    if int(per_line.sum()) != whole.n_triangles:
        log.warning("%s: cannot match faces to o/g groups; reading it as one object", path.name)
        return None
    line_part = directive_part[np.searchsorted([d[0] for d in directives], starts)]
    triangle_part = np.repeat(line_part, per_line)
    present = np.unique(triangle_part)
    if present.shape[0] <= 1:
        return None
    order = np.argsort(triangle_part, kind="stable")
    bounds = np.cumsum(np.bincount(triangle_part, minlength=len(label)))
    by_id = {i: name for name, i in label.items()}
    parts = []
    for part in present:
        lo = int(bounds[part - 1]) if part else 0
        parts.append((by_id[int(part)], _submesh(whole, order[lo : int(bounds[part])])))
    return parts


def _submesh(mesh: Mesh, triangle_ids: IntArray) -> Mesh:
    """The chosen triangles with only the vertices they use (in their original order) and their fields."""
    used, inverse = np.unique(mesh.triangles[triangle_ids], return_inverse=True)
    return Mesh(
        vertices=mesh.vertices[used],
        triangles=inverse.reshape(-1, 3).astype(np.uint32),
        normals=None if mesh.normals is None else mesh.normals[used],
        point_fields={k: f.with_values(f.values[used]) for k, f in mesh.point_fields.items()},
        cell_fields={k: f.with_values(f.values[triangle_ids]) for k, f in mesh.cell_fields.items()},
    )


# --- PLY ---------------------------------------------------------------------------------------

PlyColumn = npt.NDArray[Any] | tuple[IntArray, npt.NDArray[Any]]
"""A scalar property's values ``(n,)``, or a list property's ``(counts (n,), flat values)``."""


def read_ply(path: Path) -> Scene:
    """One PLY reader for surfaces and point clouds: a file without faces gives zero triangles."""
    head, size = _read_head(path, PLY_HEADER_MAX_BYTES)
    try:
        header = ply_header(head)
    except ValueError as exc:
        raise UnreadableFileError(f"{path.name}: {exc}") from None
    if header is None:
        raise UnreadableFileError(f"{path.name}: does not start with 'ply'")
    vertex, face = header.element("vertex"), header.element("face")
    if vertex is None or vertex.count == 0:
        raise InvalidGeometryError(f"{path.name}: PLY has no vertices")
    _check_ply_claims(path, header, size)
    body = path.read_bytes()[header.data_offset :]
    try:
        columns = _ply_binary(body, header) if header.format != "ascii" else _ply_ascii(body, header)
    except _TooManyRowsError as exc:
        raise LimitExceededError(f"{path.name}: {exc}") from None
    except ValueError as exc:
        raise UnreadableFileError(f"{path.name}: {exc}") from None
    return single_object_scene(path, _ply_mesh(path, columns["vertex"], columns.get("face") if face else None))


def _check_ply_claims(path: Path, header: PlyHeader, size: int) -> None:
    lim = limits()
    vertex, face = header.element("vertex"), header.element("face")
    if vertex is not None and vertex.count > lim.max_points:
        raise LimitExceededError(
            f"{path.name}: header claims {vertex.count:,} vertices, over the {lim.max_points:,}-point limit"
        )
    if face is not None and face.count > lim.max_cells:
        raise LimitExceededError(
            f"{path.name}: header claims {face.count:,} faces, over the {lim.max_cells:,}-cell limit"
        )
    body = size - header.data_offset
    needed = header.min_body_bytes()
    if needed > body:
        claims = ", ".join(f"{e.count:,} {e.name}" for e in header.elements)
        raise UnreadableFileError(
            f"{path.name}: header claims {claims}, which need at least {needed:,} bytes, "
            f"but only {body:,} follow the header"
        )


def _ply_binary(body: bytes, header: PlyHeader) -> dict[str, dict[str, PlyColumn]]:
    order = "<" if header.format == "binary_little_endian" else ">"
    offset, result = 0, {}
    for element in _elements_to_read(header):
        result[element.name], offset = _binary_element(body, offset, element, order)
    return result


def _elements_to_read(header: PlyHeader) -> tuple[PlyElement, ...]:
    """The elements up to the last of vertex and face: those before them must be walked to find them."""
    last = max(i for i, e in enumerate(header.elements) if e.name in ("vertex", "face"))
    return header.elements[: last + 1]


def _binary_element(body: bytes, offset: int, element: PlyElement, order: str) -> tuple[dict[str, PlyColumn], int]:
    props, n = element.properties, element.count
    if n == 0:
        return {}, offset
    layout: list[tuple[str, str] | tuple[str, str, tuple[int]]] = []
    if any(p.is_list for p in props):  # assume every row's lists are as long as the first row's
        cursor = offset
        for i, p in enumerate(props):
            if p.count_dtype is None:
                layout.append((f"v{i}", order + p.dtype))
                cursor += int(p.dtype[1:])
                continue
            count = _unpack_count(body, cursor, order + p.count_dtype)
            layout += [(f"c{i}", order + p.count_dtype), (f"v{i}", order + p.dtype, (count,))]
            cursor += int(p.count_dtype[1:]) + count * int(p.dtype[1:])
    else:
        layout = [(f"v{i}", order + p.dtype) for i, p in enumerate(props)]
    dtype = np.dtype(layout)
    if offset + n * dtype.itemsize <= len(body):
        rows = np.frombuffer(body, dtype=dtype, count=n, offset=offset)
        uniform = all((rows[f"c{i}"] == rows.dtype[f"v{i}"].shape[0]).all() for i, p in enumerate(props) if p.is_list)
        if uniform:
            columns: dict[str, PlyColumn] = {}
            for i, p in enumerate(props):
                values = rows[f"v{i}"]
                columns[p.name] = (np.full(n, values.shape[1], dtype=np.int64), values.ravel()) if p.is_list else values
            return columns, offset + n * dtype.itemsize
    if not any(p.is_list for p in props):
        raise ValueError(f"PLY body ends inside the {element.name} element")
    return _binary_element_walk(body, offset, element, order)


def _unpack_count(body: bytes, offset: int, code: str) -> int:
    if offset + int(code[2:]) > len(body):
        raise ValueError("PLY body ends inside a list")
    count = int(np.frombuffer(body, dtype=code, count=1, offset=offset)[0])
    if count < 0:
        raise ValueError(f"PLY list has a negative length {count}")
    return count


def _binary_element_walk(body: bytes, offset: int, element: PlyElement, order: str) -> tuple[dict[str, PlyColumn], int]:
    """Rows whose lists differ in length (triangles mixed with quads): find each row's start in a
    loop, then gather every property's bytes with whole-array indexing."""
    props, n = element.properties, element.count
    _check_walk(element)
    formats = [struct.Struct(order + _STRUCT_CODES[p.count_dtype]) if p.count_dtype else None for p in props]
    sizes = [int(p.dtype[1:]) for p in props]
    starts = np.zeros((len(props), n), dtype=np.int64)
    counts = np.zeros((len(props), n), dtype=np.int64)
    cursor, end = offset, len(body)
    for row in range(n):
        for i, fmt in enumerate(formats):
            if fmt is None:
                starts[i, row] = cursor
                cursor += sizes[i]
                continue
            if cursor + fmt.size > end:
                raise ValueError(f"PLY body ends inside {element.name} {row}")
            (count,) = fmt.unpack_from(body, cursor)
            if count < 0:
                raise ValueError(f"PLY {element.name} {row} has a negative list length")
            starts[i, row], counts[i, row] = cursor + fmt.size, count
            cursor += fmt.size + count * sizes[i]
        if cursor > end:
            raise ValueError(f"PLY body ends inside {element.name} {row}")
    raw = np.frombuffer(body, dtype=np.uint8)
    columns: dict[str, PlyColumn] = {}
    for i, p in enumerate(props):
        if p.count_dtype is None:
            columns[p.name] = _gather(raw, starts[i], sizes[i], order + p.dtype)
        else:
            first = np.cumsum(counts[i]) - counts[i]
            item = np.arange(int(counts[i].sum()), dtype=np.int64) - np.repeat(first, counts[i])
            positions = np.repeat(starts[i], counts[i]) + item * sizes[i]
            columns[p.name] = (counts[i], _gather(raw, positions, sizes[i], order + p.dtype))
    return columns, cursor


def _check_walk(element: PlyElement) -> None:
    if element.count > PLY_MAX_WALKED_ROWS:
        raise _TooManyRowsError(
            f"{element.count:,} {element.name} rows with lists of differing lengths is over the "
            f"{PLY_MAX_WALKED_ROWS:,}-row limit for such files"
        )


class _TooManyRowsError(ValueError):
    """Raised inside the PLY parser; :func:`read_ply` turns it into a :class:`LimitExceededError`."""


_STRUCT_CODES = {"i1": "b", "u1": "B", "i2": "h", "u2": "H", "i4": "i", "u4": "I", "f4": "f", "f8": "d"}


def _gather(raw: npt.NDArray[np.uint8], positions: IntArray, size: int, code: str) -> npt.NDArray[Any]:
    out = np.empty((positions.shape[0], size), dtype=np.uint8)
    for byte in range(size):
        out[:, byte] = raw[positions + byte]
    return out.view(code).reshape(-1)


def _ply_ascii(body: bytes, header: PlyHeader) -> dict[str, dict[str, PlyColumn]]:
    if not looks_like_text(body[:SNIFF_BYTES]):
        raise ValueError("ASCII PLY body contains binary data")
    try:
        values = parse_numbers(body)
    except ValueError:
        raise ValueError("ASCII PLY body has a value that is not a number") from None
    offset, result = 0, {}
    for element in _elements_to_read(header):
        result[element.name], offset = _ascii_element(values, offset, element)
    return result


def _ascii_element(
    values: npt.NDArray[np.float64], offset: int, element: PlyElement
) -> tuple[dict[str, PlyColumn], int]:
    props, n = element.properties, element.count
    if n == 0:
        return {}, offset
    width, cursor = 0, offset  # the first row's width, assuming every row's lists match it
    for p in props:
        if cursor >= values.shape[0]:
            raise ValueError(f"ASCII PLY ends inside the {element.name} element")
        length = 1 + (_list_length(values[cursor]) if p.is_list else 0)
        width, cursor = width + length, cursor + length
    if offset + n * width <= values.shape[0]:
        rows = values[offset : offset + n * width].reshape(n, width)
        columns: dict[str, PlyColumn] = {}
        col = 0
        for p in props:
            if p.is_list:
                length = int(rows[0, col])
                if not (rows[:, col] == length).all():
                    break
                flat = rows[:, col + 1 : col + 1 + length].ravel()
                columns[p.name] = (np.full(n, length, dtype=np.int64), _typed(flat, p.dtype))
                col += 1 + length
            else:
                columns[p.name] = _typed(rows[:, col], p.dtype)
                col += 1
        else:
            return columns, offset + n * width
    return _ascii_element_walk(values, offset, element)


def _ascii_element_walk(
    values: npt.NDArray[np.float64], offset: int, element: PlyElement
) -> tuple[dict[str, PlyColumn], int]:
    props, n = element.properties, element.count
    _check_walk(element)
    starts = np.zeros((len(props), n), dtype=np.int64)
    counts = np.zeros((len(props), n), dtype=np.int64)
    flags = [p.is_list for p in props]
    cursor, end = offset, values.shape[0]
    for row in range(n):
        for i, is_list in enumerate(flags):
            if cursor >= end:
                raise ValueError(f"ASCII PLY ends inside {element.name} {row}")
            if is_list:
                count = _list_length(values[cursor])
                starts[i, row], counts[i, row] = cursor + 1, count
                cursor += 1 + count
            else:
                starts[i, row] = cursor
                cursor += 1
    if cursor > end:
        raise ValueError(f"ASCII PLY ends inside the {element.name} element")
    columns: dict[str, PlyColumn] = {}
    for i, p in enumerate(props):
        if p.is_list:
            first = np.cumsum(counts[i]) - counts[i]
            item = np.arange(int(counts[i].sum()), dtype=np.int64) - np.repeat(first, counts[i])
            columns[p.name] = (counts[i], _typed(values[np.repeat(starts[i], counts[i]) + item], p.dtype))
        else:
            columns[p.name] = _typed(values[starts[i]], p.dtype)
    return columns, cursor


def _typed(values: npt.NDArray[np.float64], code: str) -> npt.NDArray[Any]:
    """ASCII values as their declared type, so colours scale like binary ones and indices are integers."""
    if code[0] == "f":
        return values
    if values.size and not (values == np.floor(values)).all():
        raise ValueError("ASCII PLY has a fractional value for an integer property")
    return values.astype(code)


def _list_length(value: np.float64) -> int:
    if not (value >= 0 and value == np.floor(value)):
        raise ValueError(f"ASCII PLY list length {value} is not a non-negative integer")
    return int(value)


def _ply_mesh(path: Path, vertex: dict[str, PlyColumn], face: dict[str, PlyColumn] | None) -> Mesh:
    scalars = {name: v for name, v in vertex.items() if isinstance(v, np.ndarray)}
    if not all(axis in scalars for axis in "xyz"):
        raise InvalidGeometryError(f"{path.name}: PLY vertices have no x, y, z properties")
    used = {"x", "y", "z"}
    vertices = np.column_stack([scalars["x"], scalars["y"], scalars["z"]])
    normals = None
    if all(axis in scalars for axis in ("nx", "ny", "nz")):
        normals = np.column_stack([scalars["nx"], scalars["ny"], scalars["nz"]])
        used |= {"nx", "ny", "nz"}
    point_fields = _ply_fields(scalars, used)
    triangles: IntArray | None = None
    cell_fields: dict[str, npt.NDArray[Any]] = {}
    if face:
        triangles, polygon, cell_fields = _ply_faces(path, face)
        cell_fields = {name: values[polygon] for name, values in cell_fields.items()}
    return checked_mesh(path, vertices, triangles, normals=normals, point_fields=point_fields, cell_fields=cell_fields)


def _ply_fields(scalars: Mapping[str, npt.NDArray[Any]], used: set[str]) -> dict[str, npt.NDArray[Any]]:
    """Colours as ``color`` and every other scalar property as itself, skipping ``used`` ones."""
    fields: dict[str, npt.NDArray[Any]] = {}
    for names in _COLOR_NAMES:
        if all(name in scalars for name in names):
            fields["color"] = color_values(np.column_stack([scalars[name] for name in names]))
            used = used | set(names) | set(_ALPHA_NAMES)
            break
    fields.update({name: values for name, values in scalars.items() if name not in used and name != "color"})
    return fields


def _ply_faces(path: Path, face: dict[str, PlyColumn]) -> tuple[IntArray, IntArray, dict[str, npt.NDArray[Any]]]:
    lists = {name: v for name, v in face.items() if isinstance(v, tuple)}
    name = next((n for n in _PLY_FACE_INDEX_NAMES if n in lists), next(iter(lists), None))
    if name is None:
        raise InvalidGeometryError(f"{path.name}: PLY faces have no vertex index list")
    counts, flat = lists[name]
    if flat.dtype.kind == "f":
        raise InvalidGeometryError(f"{path.name}: PLY face indices are declared as floating point")
    triangles, polygon = fan_triangulate(counts, flat)
    dropped = int((counts < 3).sum())
    if dropped:
        log.info("%s: %d faces with fewer than 3 corners dropped", path.name, dropped)
    scalars = {n: v for n, v in face.items() if isinstance(v, np.ndarray)}
    return triangles, polygon, _ply_fields(scalars, set())


# --- OFF ---------------------------------------------------------------------------------------

_OFF_MIN_VERTEX_BYTES = 6
"""``0 0 0\\n``: the shortest vertex line; a header claiming more vertices than fit is lying."""


def read_off(path: Path) -> Scene:
    data = path.read_bytes()
    text = text_of(path, data, "OFF")
    lines = [line for line in (raw.split("#", 1)[0].strip() for raw in text.splitlines()) if line]
    keyword, *rest = lines[0].split() if lines else ["", ""]
    prefix = keyword[:-3]
    if "4" in prefix or "n" in prefix or rest[:1] == ["BINARY"]:
        kind = " ".join([keyword, *rest[:1]]) if rest[:1] == ["BINARY"] else keyword
        raise UnsupportedFormatError(f"{path.name}: {kind} (4D, nD or binary OFF) is not supported")
    body = lines[1:] if len(rest) >= 2 else lines[2:]
    counts_line = rest if len(rest) >= 2 else (lines[1].split() if len(lines) > 1 else [])
    if len(counts_line) < 2 or not all(word.isdigit() for word in counts_line[:2]):
        raise UnreadableFileError(
            f"{path.name}: OFF counts line {' '.join(counts_line)[:40]!r} is not 'vertices faces edges'"
        )
    nv, nf = int(counts_line[0]), int(counts_line[1])
    lim = limits()
    if nv > lim.max_points or nf > lim.max_cells:
        raise LimitExceededError(f"{path.name}: header claims {nv:,} vertices and {nf:,} faces, over the limits")
    if nv * _OFF_MIN_VERTEX_BYTES + nf * 2 > len(data) or nv + nf > len(body):
        raise UnreadableFileError(
            f"{path.name}: header claims {nv:,} vertices and {nf:,} faces but the file has only "
            f"{len(body):,} data lines ({len(data):,} bytes)"
        )
    try:
        vertex_rows = _off_rows(body[:nv], "vertex")
        counts, flat = _off_faces(body[nv : nv + nf])
    except ValueError as exc:
        raise UnreadableFileError(f"{path.name}: {exc}") from None
    triangles, _ = fan_triangulate(counts, flat)
    column = 3
    normals = None
    if "N" in prefix:
        normals, column = vertex_rows[:, 3:6], 6
    point_fields = {}
    if "C" in prefix and vertex_rows.shape[1] >= column + 3:
        point_fields["color"] = color_values(vertex_rows[:, column : column + 3])
    return single_object_scene(
        path, checked_mesh(path, vertex_rows[:, :3], triangles, normals=normals, point_fields=point_fields)
    )


def _off_rows(lines: list[str], what: str) -> npt.NDArray[np.float64]:
    try:
        values = parse_numbers(" ".join(lines))
    except ValueError:
        raise ValueError(f"OFF {what} lines have a value that is not a number") from None
    if not lines or values.shape[0] % len(lines) or values.shape[0] // len(lines) < 3:
        raise ValueError(f"OFF {what} lines do not all have the same number (>= 3) of values")
    return values.reshape(len(lines), -1)


def _off_faces(lines: list[str]) -> tuple[IntArray, IntArray]:
    """Faces are ``k i1 .. ik [colour]``; when every line has the same length, one array op reads them."""
    if not lines:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    try:
        rows = _off_rows(lines, "face")
        if (rows[:, 0] == rows.shape[1] - 1).all():
            return np.full(rows.shape[0], rows.shape[1] - 1, dtype=np.int64), _integers(rows[:, 1:].ravel())
    except ValueError:
        pass  # ragged (mixed polygon sizes, or per-face colours): read line by line below
    counts = np.zeros(len(lines), dtype=np.int64)
    flat: list[str] = []
    for i, line in enumerate(lines):
        words = line.split()
        if not words[0].isdigit() or int(words[0]) > len(words) - 1:
            raise ValueError(f"OFF face line {line[:40]!r} does not start with its corner count")
        counts[i] = int(words[0])
        flat += words[1 : 1 + counts[i]]
    try:
        return counts, _integers(np.asarray(flat, dtype=np.float64))
    except ValueError:
        raise ValueError("OFF face lines have an index that is not a number") from None


def _integers(values: npt.NDArray[np.float64]) -> IntArray:
    if values.size and not (values == np.floor(values)).all():
        raise ValueError("OFF face indices are not integers")
    return values.astype(np.int64)


# --- glTF --------------------------------------------------------------------------------------

_GLB_HEADER = struct.Struct("<4sII")
_GLB_CHUNK = struct.Struct("<II")
_GLB_JSON = 0x4E4F534A
_PLACEHOLDER_MESH_NAME = re.compile(r"GLTF(_\d+)?")


def read_gltf(path: Path) -> Scene:
    from trimesh.exchange.gltf import load_glb, load_gltf

    data = path.read_bytes()
    if is_glb(data):
        tree = _glb_json(path, data)
        _check_gltf_json(path, tree, external_buffers=False)
        loaded = _trimesh_call(path, "GLB", lambda: load_glb(io.BytesIO(data), skip_materials=True))
    else:
        try:
            tree = json.loads(data)
        except ValueError as exc:
            raise UnreadableFileError(f"{path.name}: glTF JSON is malformed ({exc})") from None
        _check_gltf_json(path, tree, external_buffers=True)
        buffers = _gltf_buffers(path, tree)
        loaded = _trimesh_call(path, "glTF", lambda: load_gltf(io.BytesIO(data), resolver=buffers, skip_materials=True))
    return _gltf_scene(path, loaded)


def _sniff_gltf(head: bytes) -> bool:
    return is_glb(head) or is_gltf_json(head)


def _glb_json(path: Path, data: bytes) -> dict[str, Any]:
    if len(data) < _GLB_HEADER.size + _GLB_CHUNK.size:
        raise UnreadableFileError(f"{path.name}: {len(data)} bytes is too short for a GLB header")
    _, version, length = _GLB_HEADER.unpack_from(data)
    if version != 2:
        raise UnsupportedFormatError(f"{path.name}: glTF version {version} is not supported (only 2)")
    if length > len(data):
        raise UnreadableFileError(f"{path.name}: GLB header says {length:,} bytes but the file has {len(data):,}")
    chunk_length, chunk_type = _GLB_CHUNK.unpack_from(data, _GLB_HEADER.size)
    start = _GLB_HEADER.size + _GLB_CHUNK.size
    if chunk_type != _GLB_JSON or start + chunk_length > len(data):
        raise UnreadableFileError(f"{path.name}: GLB does not start with a complete JSON chunk")
    try:
        tree = json.loads(data[start : start + chunk_length])
    except ValueError as exc:
        raise UnreadableFileError(f"{path.name}: GLB JSON chunk is malformed ({exc})") from None
    if not isinstance(tree, dict):
        raise UnreadableFileError(f"{path.name}: GLB JSON chunk is not an object")
    return tree


def _check_gltf_json(path: Path, tree: Any, *, external_buffers: bool) -> None:
    """Refuse what trimesh would mis-read or over-allocate: compressed data, bufferless accessors
    (trimesh fills them with zeros of whatever count they claim), and buffer URIs that leave the folder."""
    if not isinstance(tree, dict) or not isinstance(tree.get("asset"), dict):
        raise UnreadableFileError(f"{path.name}: glTF JSON has no 'asset' object")
    required = [e for e in tree.get("extensionsRequired", []) if e in GLTF_UNSUPPORTED_EXTENSIONS]
    if required:
        raise UnsupportedFormatError(f"{path.name}: compressed glTF ({', '.join(required)}) is not supported")
    lim = limits()
    for index, accessor in enumerate(tree.get("accessors", [])):
        if not isinstance(accessor, dict) or "bufferView" not in accessor:
            raise UnsupportedFormatError(
                f"{path.name}: glTF accessor {index} has no bufferView (sparse or compressed data)"
            )
        count = accessor.get("count")
        if not isinstance(count, int) or count < 0:
            raise UnreadableFileError(f"{path.name}: glTF accessor {index} has an invalid count {count!r}")
        if count > lim.max_points:
            raise LimitExceededError(f"{path.name}: glTF accessor {index} claims {count:,} items, over the limit")
    meshes = tree.get("meshes", [])
    _check_parts(path, sum(len(m.get("primitives", [])) for m in meshes if isinstance(m, dict)), "mesh primitives")
    for index, buffer in enumerate(tree.get("buffers", [])):
        uri = buffer.get("uri") if isinstance(buffer, dict) else None
        if uri is None or (isinstance(uri, str) and uri.startswith("data:")):
            continue
        if not external_buffers or not _is_local(uri):
            raise UnsupportedFormatError(
                f"{path.name}: glTF buffer {index} URI {str(uri)[:60]!r} is not a file beside it"
            )


def _is_local(uri: Any) -> bool:
    """A relative file name beside the .gltf: no scheme, no absolute path, no ``..``."""
    if not isinstance(uri, str):
        return False
    name = unquote(uri)
    return bool(name) and ":" not in name and not name.startswith(("/", "\\")) and ".." not in Path(name).parts


def _gltf_buffers(path: Path, tree: Mapping[str, Any]) -> dict[str, bytes]:
    """The external buffer files a checked .gltf names, read here so trimesh reads nothing else."""
    files: dict[str, bytes] = {}
    for buffer in tree.get("buffers", []):
        uri = buffer.get("uri")
        if isinstance(uri, str) and not uri.startswith("data:"):
            target = path.parent / unquote(uri)
            if not target.is_file():
                raise UnreadableFileError(f"{path.name}: glTF buffer file {target.name!r} is missing")
            files[uri] = target.read_bytes()
    return files


def _gltf_scene(path: Path, loaded: Mapping[str, Any]) -> Scene:
    geometry: Mapping[str, Mapping[str, Any]] = loaded.get("geometry", {})
    edges = [e for e in loaded.get("graph", []) if isinstance(e, dict)]
    world = _world_transforms(path, edges)
    instances = [(e["frame_to"], e["geometry"]) for e in edges if e.get("geometry") in geometry]
    if not edges:
        instances = [(name, name) for name in geometry]
    _check_parts(path, len(instances), "mesh instances")
    placed: list[tuple[str, Mesh]] = []
    for node, geom in instances:
        kw = geometry[geom]
        if "entities" in kw or "vertices" not in kw:
            continue  # line primitives: nothing to show as a surface
        label = node if _PLACEHOLDER_MESH_NAME.fullmatch(geom) else geom
        placed.append((label, _gltf_mesh(path, kw, world.get(node, np.eye(4)))))
    if not placed:
        raise InvalidGeometryError(f"{path.name}: glTF has no triangle or point primitives")
    names = _unique_names([label for label, _ in placed])
    objects = tuple(SceneObject(name=name, data=mesh) for name, (_, mesh) in zip(names, placed, strict=True))
    return Scene(title=path.stem, objects=objects)


def _gltf_mesh(path: Path, kw: Mapping[str, Any], matrix: npt.NDArray[np.float64]) -> Mesh:
    """One primitive with its node's world ``matrix`` applied (normals by the inverse transpose,
    winding flipped by mirroring matrices), so no consumer has to know about node transforms."""
    linear, shift = matrix[:3, :3], matrix[:3, 3]
    vertices = np.asarray(kw["vertices"], dtype=np.float64).reshape(-1, 3) @ linear.T + shift
    faces = kw.get("faces")
    if faces is not None and np.linalg.det(linear) < 0:
        faces = np.asarray(faces).reshape(-1, 3)[:, ::-1]
    normals = kw.get("vertex_normals")
    if normals is not None:
        try:
            normals = np.asarray(normals, dtype=np.float64).reshape(-1, 3) @ np.linalg.inv(linear)
        except np.linalg.LinAlgError:
            normals = None  # a zero scale: the instance is flat, its normals undefined
        else:
            length = np.linalg.norm(normals, axis=1, keepdims=True)
            normals = np.divide(normals, length, out=np.zeros_like(normals), where=length > 0)
    fields: dict[str, npt.ArrayLike] = {}
    if kw.get("vertex_colors") is not None:
        fields["color"] = color_values(kw["vertex_colors"])
    for name, values in (kw.get("vertex_attributes") or {}).items():
        fields[name[1:] if name.startswith("_") else name] = values
    return checked_mesh(path, vertices, faces, normals=normals, point_fields=fields)


def _world_transforms(path: Path, edges: list[dict[str, Any]]) -> dict[str, npt.NDArray[np.float64]]:
    """Node name -> world matrix, composing parent matrices; a cycle in the node graph is an error."""
    parent = {e["frame_to"]: (e["frame_from"], np.asarray(e.get("matrix", np.eye(4)), dtype=np.float64)) for e in edges}
    world: dict[str, npt.NDArray[np.float64]] = {}
    for node in parent:
        chain: list[str] = []
        current = node
        while current in parent and current not in world:
            if len(chain) > len(parent):
                raise UnreadableFileError(f"{path.name}: glTF node hierarchy has a cycle")
            chain.append(current)
            current = parent[current][0]
        matrix = world.get(current, np.eye(4))
        for name in reversed(chain):
            matrix = matrix @ parent[name][1]
            world[name] = matrix
    return world


# --- registration ------------------------------------------------------------------------------

register(
    ReaderSpec(
        name="STL",
        suffixes=(".stl",),
        read=read_stl,
        sniff=_sniff_stl,
        description="STL triangle surface, ASCII or binary",
    )
)
register(
    ReaderSpec(
        name="OBJ",
        suffixes=(".obj",),
        read=read_obj,
        sniff=None,
        description="Wavefront OBJ surface (one object per o/g group)",
    )
)
register(
    ReaderSpec(
        name="PLY",
        suffixes=(".ply",),
        read=read_ply,
        sniff=is_ply,
        description="PLY surface or point cloud, ASCII or binary, with its properties as fields",
    )
)
register(
    ReaderSpec(
        name="OFF",
        suffixes=(".off",),
        read=read_off,
        sniff=is_off,
        description="Object File Format surface (OFF, COFF, NOFF)",
    )
)
register(
    ReaderSpec(
        name="glTF",
        suffixes=(".glb", ".gltf"),
        read=read_gltf,
        sniff=_sniff_gltf,
        description="glTF 2.0 scene, binary (.glb) or JSON (.gltf)",
    )
)
