"""PLY, ASCII or binary (either byte order), surfaces and point clouds, parsed with numpy.

Our own parser rather than trimesh's: trimesh cannot read binary files whose faces mix polygon
sizes (Blender writes those) and does not keep the face-to-triangle map that cell fields need.
The header (:func:`vizserver.io.sniff.ply_header`) is checked against the file size and the
limits before anything is allocated. Rows are read with one structured-array view when every
row of an element has the same length; elements whose lists vary (triangles mixed with quads)
are walked row by row, up to :data:`PLY_MAX_WALKED_ROWS`.

What a PLY gives: vertex properties other than x, y, z, nx, ny, nz and the colours become
float32 point fields; colours (red/green/blue, r/g/b, diffuse_*) the 3-component ``color``
field in [0, 1]; scalar face properties cell fields (repeated for each triangle of a polygon);
nx, ny, nz the normals. A PLY without faces is a point cloud: a mesh with no triangles.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from vizserver.config import limits
from vizserver.errors import InvalidGeometryError, LimitExceededError, UnreadableFileError
from vizserver.io.meshcheck import (
    IntArray,
    checked_mesh,
    color_values,
    fan_triangulate,
    parse_numbers,
    read_head,
    single_object_scene,
)
from vizserver.io.registry import SNIFF_BYTES
from vizserver.io.sniff import PlyElement, PlyHeader, looks_like_text, ply_header
from vizserver.model import Mesh, Scene

log = logging.getLogger(__name__)

PLY_HEADER_MAX_BYTES = 1 << 20
"""A PLY header (with its comments) must end within this many bytes."""

PLY_MAX_WALKED_ROWS = 20_000_000
"""Most rows of a PLY element whose lists differ in length (triangles mixed with quads): such rows
are found one by one in Python (about a second per million), so a file of millions of tiny
varying rows would otherwise keep the reader busy for many minutes."""

_COLOR_NAMES = (("red", "green", "blue"), ("r", "g", "b"), ("diffuse_red", "diffuse_green", "diffuse_blue"))
_ALPHA_NAMES = ("alpha", "a", "diffuse_alpha")
_PLY_FACE_INDEX_NAMES = ("vertex_indices", "vertex_index")


PlyColumn = npt.NDArray[Any] | tuple[IntArray, npt.NDArray[Any]]
"""A scalar property's values ``(n,)``, or a list property's ``(counts (n,), flat values)``."""


def read_ply(path: Path) -> Scene:
    """One PLY reader for surfaces and point clouds: a file without faces gives zero triangles."""
    head, size = read_head(path, PLY_HEADER_MAX_BYTES)
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
    with path.open("rb") as f:
        f.seek(header.data_offset)
        body = f.read()
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
        claims = " and ".join(f"{e.count:,} {e.name}" for e in header.elements)
        raise UnreadableFileError(
            f"{path.name}: header claims {claims} rows, which need at least {needed:,} bytes, "
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
    if n == 0 or not props:
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
            if cursor > len(body):
                raise ValueError(f"PLY body ends inside {element.name} 0 (its list claims {count:,} items)")
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
    if n == 0 or not props:
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
