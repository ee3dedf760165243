"""Surface meshes: STL, OBJ and OFF read here; PLY (:mod:`vizserver.io.ply`) and glTF
(:mod:`vizserver.io.gltf`) registered here too, so this module is where the surface formats meet.

Vertices are kept as written (nothing merged, reordered or repaired); polygons are
fan-triangulated. Each reader checks the counts a header claims against the file size before it
allocates, and every mesh passes :func:`vizserver.io.meshcheck.checked_mesh`.

- STL (ASCII and binary): one object per ``solid`` (binary: one). STL stores three corners per
  triangle; corners at identical positions are merged (as vtkSTLReader does), so normals are
  smooth and decimation sees a connected surface. A binary file's header count must account
  for its size exactly (84 + 50 N), which is also how a binary file starting with ``solid`` is
  told from an ASCII one.
- OBJ (trimesh's parser; materials and textures never loaded): one object per ``o``/``g`` name,
  each with only the vertices it uses; ``v x y z r g b`` colours become the ``color`` field;
  a file without faces is a point cloud.
- OFF (our parser; ``C``, ``N`` and ``ST`` prefixes): positions, normals, vertex colours.
"""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from vizserver.config import limits
from vizserver.errors import InvalidGeometryError, LimitExceededError, UnreadableFileError, UnsupportedFormatError
from vizserver.io.gltf import read_gltf, sniff_gltf
from vizserver.io.meshcheck import (
    IntArray,
    check_parts,
    checked_mesh,
    color_values,
    fan_triangulate,
    merge_duplicate_vertices,
    parse_numbers,
    read_head,
    single_object_scene,
    text_of,
    trimesh_call,
    unique_names,
)
from vizserver.io.ply import read_ply
from vizserver.io.registry import SNIFF_BYTES, ReaderSpec, register
from vizserver.io.sniff import (
    binary_stl_size,
    binary_stl_triangle_count,
    is_ascii_stl,
    is_binary_stl,
    is_off,
    is_ply,
    looks_like_stl,
)
from vizserver.model import Mesh, Scene, SceneObject

log = logging.getLogger(__name__)


# --- STL ---------------------------------------------------------------------------------------


def read_stl(path: Path) -> Scene:
    from trimesh.exchange.stl import load_stl_binary

    head, size = read_head(path, SNIFF_BYTES)
    if is_binary_stl(head, size):
        count = binary_stl_triangle_count(head) or 0
        if count > limits().max_cells:
            raise LimitExceededError(f"{path.name}: {count:,} triangles is over the {limits().max_cells:,}-cell limit")
        loaded = trimesh_call(path, "binary STL", lambda: load_stl_binary(io.BytesIO(path.read_bytes())))
        solids = [(path.stem, loaded)] if "vertices" in loaded else []
    elif is_ascii_stl(head):
        solids = _ascii_stl_solids(path)
    else:
        claimed = binary_stl_triangle_count(head)
        if claimed is None:
            raise UnreadableFileError(f"{path.name}: {size} bytes is shorter than a binary STL header (84)")
        raise UnreadableFileError(
            f"{path.name}: binary STL header says {claimed:,} triangles, which need "
            f"{binary_stl_size(claimed):,} bytes, but the file has {size:,} bytes"
        )
    if not solids:
        raise InvalidGeometryError(f"{path.name}: contains no triangles")
    names = unique_names([name for name, _ in solids])
    objects = tuple(
        SceneObject(name=name, data=checked_mesh(path, *merge_duplicate_vertices(kw["vertices"], kw["faces"])))
        for name, (_, kw) in zip(names, solids, strict=True)
    )
    return Scene(title=path.stem, objects=objects)


_STL_SOLID_LINE = re.compile(r"^[ \t]*solid\b([^\n]*)", re.IGNORECASE | re.MULTILINE)


def _ascii_stl_solids(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(name, trimesh kwargs) per solid. The solids are renumbered before trimesh sees them: its
    name bookkeeping is quadratic in the number of solids sharing a name."""
    from trimesh.exchange.stl import load_stl_ascii

    text = text_of(path, path.read_bytes(), "STL")
    names = [m.group(1).strip() or path.stem for m in _STL_SOLID_LINE.finditer(text)]
    check_parts(path, len(names), "solids")
    number = iter(range(len(names)))
    numbered = _STL_SOLID_LINE.sub(lambda _: f"solid {next(number)}", text)
    loaded = trimesh_call(path, "ASCII STL", lambda: load_stl_ascii(io.StringIO(numbered)))
    parts = loaded["geometry"].values() if "geometry" in loaded else [loaded]
    return [(names[int(kw["metadata"]["name"])], kw) for kw in parts if "vertices" in kw]


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
    check_parts(path, len(directives), "o/g groups")
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

    loaded = trimesh_call(path, "OBJ", parse)
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
        values = np.asarray(flat, dtype=np.float64)
    except ValueError:
        raise ValueError("OFF face lines have an index that is not a number") from None
    return counts, _integers(values)


def _integers(values: npt.NDArray[np.float64]) -> IntArray:
    if values.size and not (values == np.floor(values)).all():
        raise ValueError("OFF face indices are not integers")
    return values.astype(np.int64)


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
        sniff=sniff_gltf,
        description="glTF 2.0 scene, binary (.glb) or JSON (.gltf)",
    )
)
