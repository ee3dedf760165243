"""From what a parser produced to checked model objects: the steps every mesh reader shares.

:func:`checked_mesh` is the gate each reader's output passes (finite coordinates, indices in
range, count limits); the helpers around it turn common raw forms into what it takes (polygons
into triangles with a map back, integer colours into [0, 1], text into numbers) and give
third-party parsers one error boundary. No file formats live here.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

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
from vizserver.io.registry import SNIFF_BYTES
from vizserver.io.sniff import looks_like_text, signature_format
from vizserver.model import Association, Field, Mesh, Scene, SceneObject

log = logging.getLogger(__name__)

MAX_PARTS = 10_000
"""Most named parts (STL solids, OBJ groups, glTF mesh instances) one file may hold."""

IntArray = npt.NDArray[np.int64]


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


def _fields(path: Path, arrays: Mapping[str, npt.ArrayLike], rows: int, association: Association) -> dict[str, Field]:
    """float32 fields of ``rows`` rows; ``(n, 1)`` columns become scalars, mis-sized arrays are dropped."""
    fields: dict[str, Field] = {}
    for name, values in arrays.items():
        array = np.asarray(values, dtype=np.float32)
        if array.ndim == 2 and array.shape[1] == 1:
            array = array[:, 0]
        if array.shape[0] != rows or array.ndim > 2:
            log.info("%s: field %r dropped (shape %s for %d %ss)", path.name, name, array.shape, rows, association)
            continue
        fields[name] = Field(name, array, association)
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


def merge_duplicate_vertices(
    vertices: npt.NDArray[np.floating], triangles: npt.NDArray[np.integer]
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """Vertices at bit-identical float32 positions merged into one, triangles re-indexed.

    Triangle soups (STL stores three corners per triangle) need this for smooth normals,
    decimation and compact output; vtkSTLReader does the same by default. One lexsort, no hashing.
    """
    with np.errstate(over="ignore", invalid="ignore"):  # overflow becomes inf, which checked_mesh refuses
        points = np.ascontiguousarray(np.asarray(vertices, dtype=np.float32) + np.float32(0.0))  # -0.0 -> 0.0
    if points.shape[0] == 0:
        return points.reshape(0, 3), np.asarray(triangles, dtype=np.int64).reshape(-1, 3)
    bits = points.view(np.uint32)
    order = np.lexsort((bits[:, 2], bits[:, 1], bits[:, 0]))
    ordered = bits[order]
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = (ordered[1:] != ordered[:-1]).any(axis=1)
    group = np.cumsum(starts) - 1
    inverse = np.empty(len(order), dtype=np.int64)
    inverse[order] = group
    return points[order[starts]], inverse[np.asarray(triangles, dtype=np.int64).reshape(-1, 3)]


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
    """The scene of a file that holds one mesh: title and object both named after the file."""
    return Scene(title=path.stem, objects=(SceneObject(name=path.stem, data=mesh),))


def unique_names(names: list[str]) -> list[str]:
    """``names`` in order, repeats suffixed ``_2``, ``_3``, ... (linear, unlike trimesh's)."""
    seen: dict[str, int] = {}
    unique: list[str] = []
    for name in names:
        count = seen.get(name, 0)
        seen[name] = count + 1
        unique.append(name if count == 0 else f"{name}_{count + 1}")
    return unique


def check_parts(path: Path, parts: int, what: str) -> None:
    """Refuse a file with more than :data:`MAX_PARTS` parts before building any of them."""
    if parts > MAX_PARTS:
        raise LimitExceededError(f"{path.name}: {parts:,} {what} is over the {MAX_PARTS:,}-part limit")


def trimesh_call(path: Path, what: str, parse: Callable[[], dict[str, Any]]) -> dict[str, Any]:
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


def read_head(path: Path, length: int) -> tuple[bytes, int]:
    """The first ``length`` bytes of the file and its size: enough to check a header's claims."""
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
