"""Pack named triangle surfaces and point clouds into one compact GLB that passes the Khronos validator.

Each ``(name, Mesh)`` becomes one node, one mesh and one primitive (TRIANGLES, or POINTS for a
mesh with no triangles). Attributes: ``POSITION``, ``NORMAL`` when the mesh has normals, and each
point field as a custom attribute ``_NAME``. A level of detail also carries ``_FULL_VERTEX``: per
vertex the index of the full asset's vertex it stands for (see :func:`encode_glb_layout`). Three
compressions:

- ``"none"``: float32 positions, normals and fields; uint16/uint32 indices; no extensions.
- ``"quantized"``: ``KHR_mesh_quantization``. Positions are unsigned integers over the bounding
  box with one uniform step (so normals stay correct); the node's ``translation``/``scale``
  turn them back into the mesh's units. Normals are normalized int8 (int16 with
  ``normal_bits=16``). Fields are normalized uint8/uint16 over their finite ``[min, max]``.
- ``"meshopt"`` (default): the same data, triangles reordered for the vertex cache and vertices
  for fetch, then each bufferView compressed with ``EXT_meshopt_compression`` (vertex codec v0
  in ATTRIBUTES mode, normals through the OCTAHEDRAL filter, indices in TRIANGLES mode). The
  uncompressed layout lives in a fallback buffer with no data, so the extension is required.

What a client needs to turn codes back into values sits in the primitive's ``extras`` (three.js:
``geometry.userData``), described in docs/encoding.md and read back by
:mod:`vizserver.io.glb_decode`. Output is deterministic: the same input gives the same bytes.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import meshopt
import numpy as np
import numpy.typing as npt

from vizserver import __version__
from vizserver.errors import InvalidGeometryError, LimitExceededError
from vizserver.gltf_format import (
    ARRAY_BUFFER,
    BYTE,
    CHUNK_BIN,
    CHUNK_JSON,
    ELEMENT_ARRAY_BUFFER,
    EXT_MESHOPT,
    FLOAT,
    GLB_MAGIC,
    GLB_VERSION,
    KHR_QUANTIZATION,
    MAX_ATTRIBUTE_COMPONENTS,
    MAX_GLB_BYTES,
    MODE_POINTS,
    MODE_TRIANGLES,
    SHORT,
    TYPES,
    UNSIGNED_BYTE,
    UNSIGNED_INT,
    UNSIGNED_SHORT,
)
from vizserver.model import Field, Mesh
from vizserver.quantize import nodata_code, quantize, step

Compression = Literal["meshopt", "quantized", "none"]
MeshoptMode = Literal["ATTRIBUTES", "TRIANGLES"]
MeshoptFilter = Literal["NONE", "OCTAHEDRAL"]
FieldExtras = Mapping[str, Mapping[str, object]]
VertexIds = Mapping[str, npt.NDArray[np.uint32]]

MESHOPT_VERTEX_VERSION = 0
"""EXT_meshopt_compression decoders read vertex codec version 0 only (header byte 0xa0)."""

_UNUSED = np.uint32(0xFFFFFFFF)
FULL_VERTEX_ATTRIBUTE = "full vertex"
"""Named like a field, so it becomes ``_FULL_VERTEX`` (or ``_FULL_VERTEX_2`` beside a field of that name)."""
_RESERVED_FIELD_KEYS = frozenset(
    {"name", "attribute", "unit", "range", "components", "association", "quantization", "nonfinite"}
)


@dataclass(frozen=True, slots=True)
class EncodeOptions:
    """How to pack: see the module docstring. Bits are validated here, so a bad value fails early.

    ``position_bits`` (1-16): positions step = largest bounding-box side / (2**bits - 1).
    ``normal_bits`` (8 or 16): int8 or int16 normals (octahedral-filtered with meshopt).
    ``field_bits`` (8 or 16): uint8 or uint16 normalized field codes; 8 keeps a 1M-triangle surface
    with normals and one field under 4 bytes per triangle; 16 costs ~0.5-0.8 more per triangle.
    """

    compression: Compression = "meshopt"
    position_bits: int = 14
    normal_bits: int = 8
    field_bits: int = 8

    def __post_init__(self) -> None:
        if self.compression not in ("meshopt", "quantized", "none"):
            raise ValueError(f"compression must be meshopt, quantized or none, got {self.compression!r}")
        if not 1 <= self.position_bits <= 16:
            raise ValueError(f"position_bits must be 1 to 16, got {self.position_bits}")
        if self.normal_bits not in (8, 16):
            raise ValueError(f"normal_bits must be 8 or 16, got {self.normal_bits}")
        if self.field_bits not in (8, 16):
            raise ValueError(f"field_bits must be 8 or 16, got {self.field_bits}")


@dataclass(frozen=True, slots=True)
class EncodedMesh:
    """Where one input mesh went: GLB vertex ``i`` is input vertex ``vertex_order[i]``.

    Streams that later send per-vertex values for this mesh (time steps, twin frames) must send
    ``values[vertex_order]``. ``attributes`` maps each encoded field name to its glTF attribute.
    """

    name: str
    vertex_order: npt.NDArray[np.uint32]
    n_triangles: int
    attributes: Mapping[str, str]

    @property
    def n_vertices(self) -> int:
        return int(self.vertex_order.shape[0])


@dataclass(frozen=True, slots=True)
class EncodedGlb:
    data: bytes
    meshes: tuple[EncodedMesh, ...]


def encode_glb(
    meshes: Sequence[tuple[str, Mesh]],
    *,
    options: EncodeOptions = EncodeOptions(),
    extras: Mapping[str, object] | None = None,
    field_extras: Mapping[str, Mapping[str, object]] | None = None,
) -> bytes:
    """The GLB bytes of ``meshes``; see :func:`encode_glb_layout` for the arguments."""
    return encode_glb_layout(meshes, options=options, extras=extras, field_extras=field_extras).data


def encode_glb_layout(
    meshes: Sequence[tuple[str, Mesh]],
    *,
    options: EncodeOptions = EncodeOptions(),
    extras: Mapping[str, object] | None = None,
    field_extras: Mapping[str, Mapping[str, object]] | None = None,
    full_vertex_ids: VertexIds | None = None,
) -> EncodedGlb:
    """Encode ``meshes`` and say how their vertices were reordered.

    ``extras`` go on the glTF scene (three.js: ``gltf.scene.userData``). ``field_extras`` maps a
    field name to keys merged into that field's description wherever the field occurs (e.g.
    ``{"temperature": {"times": [...], "range_over_time": [lo, hi]}}``); a name that matches no
    field is ignored (a series field a point cloud could not carry); a key the encoder writes
    itself is a ``ValueError``.

    ``full_vertex_ids`` maps a mesh name to one uint32 per input vertex: the vertex of another
    asset (a level of detail's full asset, its meshes concatenated in node order) whose frame
    values this vertex shows. It is written as ``_FULL_VERTEX``, ``VEC2`` unsigned shorts
    ``(low, high)``, index ``= low + 65536 * high`` (glTF allows no UNSIGNED_INT attributes), in
    the GLB's vertex order; the primitive's ``extras.full_vertex.attribute`` names it. Raises
    :class:`InvalidGeometryError` for an empty mesh, NaN/inf coordinates, out-of-range indices
    or arrays whose lengths disagree, naming the mesh.
    """
    names = [name for name, _ in meshes]
    if len(set(names)) != len(names):
        raise ValueError(f"mesh names must be unique, got {names}")
    if not meshes:
        raise ValueError("nothing to encode: no meshes given")
    _check_field_extras(field_extras or {})
    builder = _Builder(options)
    ids = full_vertex_ids or {}
    encoded = tuple(builder.add_mesh(name, mesh, field_extras or {}, ids.get(name)) for name, mesh in meshes)
    return EncodedGlb(builder.glb(extras or {}), encoded)


@dataclass(frozen=True, slots=True)
class _View:
    """One bufferView: ``count`` rows of ``stride`` bytes, raw or (meshopt) already compressed."""

    count: int
    stride: int
    target: int
    raw: bytes | None = None
    compressed: bytes | None = None
    mode: MeshoptMode = "ATTRIBUTES"
    filter: MeshoptFilter = "NONE"


@dataclass(slots=True)
class _Builder:
    """Collects views, accessors, meshes and nodes, then lays them out into one GLB."""

    options: EncodeOptions
    views: list[_View] = field(default_factory=list)
    accessors: list[dict[str, Any]] = field(default_factory=list)
    gltf_meshes: list[dict[str, Any]] = field(default_factory=list)
    nodes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def compress(self) -> bool:
        return self.options.compression == "meshopt"

    def add_mesh(
        self, name: str, mesh: Mesh, field_extras: FieldExtras, full_ids: npt.NDArray[np.uint32] | None
    ) -> EncodedMesh:
        _check_mesh(name, mesh)
        if full_ids is not None and full_ids.shape != (mesh.n_points,):
            raise InvalidGeometryError(f"{name}: {full_ids.shape} full vertex ids for {mesh.n_points} vertices")
        order, indices = self._order(mesh)
        vertices = mesh.vertices if order is None else mesh.vertices[order]
        attributes: dict[str, int] = {}
        node: dict[str, Any] = {"name": name, "mesh": len(self.gltf_meshes)}
        extras: dict[str, Any] = {}
        if self.options.compression == "none":
            attributes["POSITION"] = self._float_attribute(vertices, with_bounds=True)
        else:
            attributes["POSITION"], node["translation"], node["scale"] = self._positions(vertices)
            extras["positions"] = {
                "bits": self.options.position_bits,
                "offset": node["translation"],
                "step": node["scale"][0],
            }
        if mesh.normals is not None:
            normals = _unit_normals(mesh.normals if order is None else mesh.normals[order])
            attributes["NORMAL"] = self._normals(normals)
        field_names: dict[str, str] = {}
        described, unencoded = [], []
        taken = set(attributes)
        for field_name, fld in mesh.point_fields.items():
            caller = _plain(field_extras.get(field_name, {}))
            if fld.components > MAX_ATTRIBUTE_COMPONENTS:
                reason = f"{fld.components} components; attributes hold at most 4"
                unencoded.append({**_unencoded(field_name, fld, reason), **caller})
                continue
            attribute = _attribute_name(field_name, taken)
            taken.add(attribute)
            values = fld.values if order is None else fld.values[order]
            attributes[attribute], description = self._field(field_name, values, fld)
            described.append({**description, "attribute": attribute, **caller})
            field_names[field_name] = attribute
        for field_name, fld in mesh.cell_fields.items():
            reason = "cell data; the geometry stage converts it to point data"
            unencoded.append(
                {**_unencoded(field_name, fld, reason), **_plain(field_extras.get(field_name, {}))}
            )
        extras["fields"] = described
        if full_ids is not None:
            attribute = _attribute_name(FULL_VERTEX_ATTRIBUTE, taken)
            attributes[attribute] = self._index_pairs(full_ids if order is None else full_ids[order])
            extras["full_vertex"] = {"attribute": attribute}
        if unencoded:
            extras["unencoded_fields"] = unencoded
        primitive: dict[str, Any] = {"attributes": attributes, "mode": MODE_TRIANGLES}
        if mesh.is_point_cloud:
            primitive["mode"] = MODE_POINTS
        else:
            primitive["indices"] = self._indices(indices, vertices.shape[0])
        primitive["extras"] = extras
        self.gltf_meshes.append({"name": name, "primitives": [primitive]})
        self.nodes.append(node)
        n = vertices.shape[0]
        vertex_order = np.arange(n, dtype=np.uint32) if order is None else order
        return EncodedMesh(name, vertex_order, mesh.n_triangles, field_names)

    def _order(self, mesh: Mesh) -> tuple[npt.NDArray[np.uint32] | None, npt.NDArray[np.uint32]]:
        """The vertex order (``None``: as given) and the triangle indices in it, flat.

        Triangles go in meshoptimizer's strip-friendly cache order (``optsize``, as gltfpack ``-cc``):
        the TRIANGLES codec then spends ~1.0 byte per triangle instead of ~1.25. Vertices follow in
        first-use order; unreferenced ones are dropped. Point clouds are sorted spatially.
        """
        flat = mesh.triangles.reshape(-1)
        if not self.compress:
            return None, flat
        if mesh.is_point_cloud:
            return np.asarray(meshopt.reorder_points(mesh.vertices), dtype=np.uint32), flat
        indices, remap, unique = meshopt.reorder_mesh(flat, triangles=True, optsize=True)
        used = remap != _UNUSED
        order = np.empty(int(unique), dtype=np.uint32)
        order[remap[used]] = np.flatnonzero(used).astype(np.uint32)
        return order, np.asarray(indices, dtype=np.uint32)

    def _positions(self, vertices: npt.NDArray[np.float32]) -> tuple[int, list[float], list[float]]:
        """Quantized positions: one uniform step over the largest side, offset at the box's minimum."""
        bits = self.options.position_bits
        lo, hi = _column_bounds(vertices)
        extent = float((hi - lo).max())
        codes = quantize(vertices, lo, lo + extent, bits)
        scale = step(0.0, extent, bits) or 1.0
        rows = np.zeros((codes.shape[0], 4), dtype=codes.dtype)
        rows[:, :3] = codes
        ctype = UNSIGNED_BYTE if bits <= 8 else UNSIGNED_SHORT
        view = self._attribute_view(rows, filter_="NONE")
        # quantize is monotonic, so the codes' bounds are the bounds' codes (and cheaper than a pass)
        bounds = quantize(np.stack([lo, hi]), lo, lo + extent, bits).tolist()
        index = self._accessor(view, ctype, 3, rows.shape[0], bounds=(bounds[0], bounds[1]))
        return index, [float(x) for x in lo], [scale, scale, scale]

    def _normals(self, normals: npt.NDArray[np.float32]) -> int:
        if self.options.compression == "none":
            return self._float_attribute(normals, with_bounds=False)
        bits = self.options.normal_bits
        ctype = BYTE if bits == 8 else SHORT
        if self.compress:
            padded = np.zeros((normals.shape[0], 4), dtype=np.float32)
            padded[:, :3] = normals
            rows = np.asarray(meshopt.encode_filter_oct(padded, 4 if bits == 8 else 8, bits))
            view = self._attribute_view(rows, filter_="OCTAHEDRAL")
        else:
            one = (1 << (bits - 1)) - 1
            ints = np.zeros((normals.shape[0], 4), dtype=np.int8 if bits == 8 else np.int16)
            ints[:, :3] = np.rint(normals * one)
            view = self._attribute_view(ints, filter_="NONE")
        return self._accessor(view, ctype, 3, normals.shape[0], normalized=True)

    def _field(self, name: str, values: npt.NDArray[np.float32], fld: Field) -> tuple[int, dict[str, Any]]:
        components = fld.components
        columns = values.reshape(values.shape[0], components)
        finite = np.isfinite(columns)
        n_nonfinite = int(columns.size - np.count_nonzero(finite))
        description: dict[str, Any] = {
            "name": name,
            "association": "point",
            "unit": fld.unit,
            "components": components,
            "range": _json_range(fld.range),
        }
        if n_nonfinite:
            description["nonfinite"] = n_nonfinite
        lo, hi = 0.0, 0.0
        if n_nonfinite < columns.size:
            lo, hi = float(columns[finite].min()), float(columns[finite].max())
        if self.options.compression == "none":
            clean = np.where(finite, columns, np.float32(lo)).astype(np.float32)
            description["quantization"] = None
            return self._float_attribute(clean, with_bounds=False), description
        bits = self.options.field_bits
        nodata = n_nonfinite > 0
        codes = quantize(columns, lo, hi, bits, nodata=nodata)
        width = -(-components * codes.itemsize // 4) * 4 // codes.itemsize  # pad each row to 4 bytes
        rows = np.zeros((codes.shape[0], width), dtype=codes.dtype)
        rows[:, :components] = codes
        view = self._attribute_view(rows, filter_="NONE")
        ctype = UNSIGNED_BYTE if bits == 8 else UNSIGNED_SHORT
        description["quantization"] = {
            "bits": bits,
            "normalized": True,
            "min": lo,
            "max": hi,
            "step": step(lo, hi, bits, nodata),
            "nodata": nodata_code(bits) if nodata else None,
        }
        return self._accessor(view, ctype, components, codes.shape[0], normalized=True), description

    def _index_pairs(self, ids: npt.NDArray[np.uint32]) -> int:
        """uint32 ids as (low, high) unsigned short pairs: exact, 4 bytes a row, meshopt-friendly."""
        ids = np.asarray(ids, dtype=np.uint32)
        rows = np.empty((ids.shape[0], 2), dtype=np.uint16)
        rows[:, 0] = ids & 0xFFFF
        rows[:, 1] = ids >> 16
        view = self._attribute_view(rows, filter_="NONE")
        return self._accessor(view, UNSIGNED_SHORT, 2, rows.shape[0])

    def _indices(self, indices: npt.NDArray[np.uint32], n_vertices: int) -> int:
        small = n_vertices <= 0xFFFF  # 0xFFFF itself is primitive restart in uint16
        ctype, stride = (UNSIGNED_SHORT, 2) if small else (UNSIGNED_INT, 4)
        count = int(indices.shape[0])
        if self.compress:
            compressed = meshopt.encode_gltf_buffer(indices, "TRIANGLES")
            view = _View(count, stride, ELEMENT_ARRAY_BUFFER, compressed=compressed, mode="TRIANGLES")
        else:
            raw = indices.astype(np.uint16 if small else np.uint32).tobytes()
            view = _View(count, stride, ELEMENT_ARRAY_BUFFER, raw=raw)
        self.views.append(view)
        return self._accessor(len(self.views) - 1, ctype, 1, count)

    def _float_attribute(self, values: npt.NDArray[np.float32], *, with_bounds: bool) -> int:
        columns = np.ascontiguousarray(values, dtype=np.float32).reshape(values.shape[0], -1)
        view = self._attribute_view(columns, filter_="NONE")
        bounds = None
        if with_bounds:
            lo, hi = _column_bounds(columns)
            bounds = (lo.tolist(), hi.tolist())
        return self._accessor(view, FLOAT, columns.shape[1], columns.shape[0], bounds=bounds)

    def _attribute_view(self, rows: npt.NDArray[Any], *, filter_: MeshoptFilter) -> int:
        """A vertex bufferView of ``rows`` (row size a multiple of 4, as glTF and meshopt require)."""
        rows = np.ascontiguousarray(rows)
        stride = rows.nbytes // rows.shape[0]
        if self.compress:
            data = meshopt.encode_gltf_buffer(rows, "ATTRIBUTES", MESHOPT_VERTEX_VERSION)
            view = _View(rows.shape[0], stride, ARRAY_BUFFER, compressed=data, filter=filter_)
        else:
            view = _View(rows.shape[0], stride, ARRAY_BUFFER, raw=rows.tobytes())
        self.views.append(view)
        return len(self.views) - 1

    def _accessor(
        self,
        view: int,
        component_type: int,
        components: int,
        count: int,
        *,
        normalized: bool = False,
        bounds: tuple[list[Any], list[Any]] | None = None,
    ) -> int:
        accessor: dict[str, Any] = {
            "bufferView": view,
            "componentType": component_type,
            "count": count,
            "type": TYPES[components],
        }
        if normalized:
            accessor["normalized"] = True
        if bounds is not None:
            accessor["min"], accessor["max"] = bounds
        self.accessors.append(accessor)
        return len(self.accessors) - 1

    def glb(self, scene_extras: Mapping[str, object]) -> bytes:
        """Lay out the binary chunk (and the meshopt fallback buffer) and write the GLB."""
        chunks: list[bytes] = []
        offset = 0
        fallback = 0
        views: list[dict[str, Any]] = []
        for v in self.views:
            payload = v.compressed if v.compressed is not None else v.raw
            assert payload is not None
            view: dict[str, Any] = {"buffer": 0, "byteOffset": offset, "byteLength": v.count * v.stride}
            if v.target == ARRAY_BUFFER:
                view["byteStride"] = v.stride
            view["target"] = v.target
            if v.compressed is not None:
                view["buffer"], view["byteOffset"] = 1, fallback
                fallback += _aligned(v.count * v.stride)
                ext: dict[str, Any] = {"buffer": 0, "byteOffset": offset, "byteLength": len(v.compressed)}
                ext.update({"byteStride": v.stride, "mode": v.mode, "count": v.count})
                if v.filter != "NONE":
                    ext["filter"] = v.filter
                view["extensions"] = {EXT_MESHOPT: ext}
            views.append(view)
            chunks.append(payload + b"\0" * (_aligned(len(payload)) - len(payload)))
            offset += _aligned(len(payload))
        binary = b"".join(chunks)
        buffers: list[dict[str, Any]] = [{"byteLength": len(binary)}]
        if self.compress:
            buffers.append({"byteLength": fallback, "extensions": {EXT_MESHOPT: {"fallback": True}}})
        gltf: dict[str, Any] = {"asset": {"version": "2.0", "generator": f"vizserver {__version__}"}}
        used = {"none": [], "quantized": [KHR_QUANTIZATION], "meshopt": [KHR_QUANTIZATION, EXT_MESHOPT]}
        if used[self.options.compression]:
            gltf["extensionsUsed"] = gltf["extensionsRequired"] = used[self.options.compression]
        scene: dict[str, Any] = {"nodes": list(range(len(self.nodes)))}
        if scene_extras:
            scene["extras"] = _plain(scene_extras)
        gltf.update({"scene": 0, "scenes": [scene], "nodes": self.nodes, "meshes": self.gltf_meshes})
        gltf.update({"accessors": self.accessors, "bufferViews": views, "buffers": buffers})
        return _pack_glb(gltf, binary)


def _pack_glb(gltf: Mapping[str, Any], binary: bytes) -> bytes:
    text = json.dumps(gltf, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    encoded = text.encode("utf-8")
    encoded += b" " * (_aligned(len(encoded)) - len(encoded))
    total = 12 + 8 + len(encoded) + (8 + len(binary) if binary else 0)
    if total > MAX_GLB_BYTES:
        raise LimitExceededError(f"GLB would be {total} bytes; the format holds at most {MAX_GLB_BYTES}")
    parts = [struct.pack("<III", GLB_MAGIC, GLB_VERSION, total), struct.pack("<II", len(encoded), CHUNK_JSON)]
    parts.append(encoded)
    if binary:
        parts += [struct.pack("<II", len(binary), CHUNK_BIN), binary]
    return b"".join(parts)


def _plain(value: object) -> Any:
    """Caller extras as plain JSON values: numpy scalars and arrays unpacked, NaN/inf as null, sets sorted."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, set | frozenset):
        return [_plain(v) for v in sorted(value)]
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if value is None or isinstance(value, str | int | float):
        return value
    raise TypeError(f"extras value of type {type(value).__name__} is not JSON serialisable")


def _column_bounds(
    values: npt.NDArray[np.float32],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Per-column min and max, exact float32 values as float64 (column by column: numpy's axis=0 is slow)."""
    lo = np.array([values[:, k].min() for k in range(values.shape[1])], dtype=np.float64)
    hi = np.array([values[:, k].max() for k in range(values.shape[1])], dtype=np.float64)
    return lo, hi


def _aligned(n: int) -> int:
    return (n + 3) & ~3


def _check_mesh(name: str, mesh: Mesh) -> None:
    if mesh.n_points == 0:
        raise InvalidGeometryError(f"{name}: mesh has no vertices, nothing to encode")
    if not np.isfinite(mesh.vertices).all():
        bad = int(np.count_nonzero(~np.isfinite(mesh.vertices).all(axis=1)))
        raise InvalidGeometryError(f"{name}: {bad} of {mesh.n_points} vertices are NaN or infinite")
    if mesh.n_triangles and int(mesh.triangles.max()) >= mesh.n_points:
        raise InvalidGeometryError(
            f"{name}: triangle index {int(mesh.triangles.max())} out of range for {mesh.n_points} vertices"
        )
    if mesh.normals is not None and mesh.normals.shape[0] != mesh.n_points:
        raise InvalidGeometryError(f"{name}: {mesh.normals.shape[0]} normals for {mesh.n_points} vertices")
    for fname, fld in mesh.point_fields.items():
        if len(fld) != mesh.n_points:
            raise InvalidGeometryError(
                f"{name}: point field {fname!r} has {len(fld)} values for {mesh.n_points} points"
            )


def _check_field_extras(field_extras: FieldExtras) -> None:
    for fname, keys in field_extras.items():
        clash = sorted(_RESERVED_FIELD_KEYS.intersection(keys))
        if clash:
            raise ValueError(f"field_extras for {fname!r} set {clash}, which the encoder writes itself")


def _unit_normals(normals: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Unit normals; a zero or non-finite one becomes +z, so the file stays valid (glTF wants unit length)."""
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    good = np.isfinite(length) & (length > 1e-20)
    unit = np.where(good, normals / np.where(good, length, 1.0), np.array([0.0, 0.0, 1.0], dtype=np.float32))
    return unit.astype(np.float32)


def _attribute_name(name: str, taken: set[str]) -> str:
    """``_NAME``: glTF wants application attributes to start with ``_``; we keep to [A-Z0-9_], unique."""
    base = "_" + (re.sub(r"[^A-Z0-9]+", "_", name.upper()).strip("_") or "FIELD")
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}_{n}", n + 1
    return candidate


def _json_range(bounds: tuple[float, float]) -> list[float] | None:
    lo, hi = bounds
    return [float(lo), float(hi)] if np.isfinite(lo) and np.isfinite(hi) else None


def _unencoded(name: str, fld: Field, reason: str) -> dict[str, Any]:
    return {
        "name": name,
        "association": fld.association,
        "unit": fld.unit,
        "components": fld.components,
        "range": _json_range(fld.range),
        "reason": reason,
    }
