"""Read a GLB back into float arrays: the check that what :mod:`glb` wrote means what we meant.

Handles what the encoder writes and the plain glTF it builds on: embedded buffers, strided
accessors, normalized integers, ``KHR_mesh_quantization`` (node transforms applied),
``EXT_meshopt_compression`` (decoded with the same ``meshopt`` codec as three.js's
MeshoptDecoder), and fields described in primitive extras (dequantized with their
``quantization``). Sparse accessors, external URIs and primitive modes other than TRIANGLES and
POINTS are refused. Malformed input raises :class:`UnreadableFileError` naming ``name``;
claimed counts are checked against the data and :func:`vizserver.config.limits` before
anything is allocated.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import meshopt
import numpy as np
import numpy.typing as npt

from vizserver.config import limits
from vizserver.errors import InvalidGeometryError, LimitExceededError, UnreadableFileError
from vizserver.gltf_format import (
    BYTE,
    CHUNK_BIN,
    CHUNK_JSON,
    EXT_MESHOPT,
    FLOAT,
    GLB_MAGIC,
    GLB_VERSION,
    MODE_POINTS,
    MODE_TRIANGLES,
    SHORT,
    UNSIGNED_BYTE,
    UNSIGNED_INT,
    UNSIGNED_SHORT,
)
from vizserver.quantize import dequantize

COMPONENT_DTYPES: dict[int, np.dtype[Any]] = {
    BYTE: np.dtype("<i1"),
    UNSIGNED_BYTE: np.dtype("<u1"),
    SHORT: np.dtype("<i2"),
    UNSIGNED_SHORT: np.dtype("<u2"),
    UNSIGNED_INT: np.dtype("<u4"),
    FLOAT: np.dtype("<f4"),
}
COMPONENTS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}
MESHOPT_MAX_RATIO = 1024
"""A meshopt stream claiming to inflate more than this many times its size is refused (a bomb)."""
MAX_NODE_DEPTH = 64


@dataclass(frozen=True, slots=True)
class DecodedMesh:
    """One primitive in world units: ``indices`` is ``(m, 3)`` uint32, ``(0, 3)`` for POINTS.

    ``fields`` are float32 by field name (``(n,)`` or ``(n, k)``), NaN where the encoder marked
    no data; ``extras`` is the primitive's extras as written.
    """

    name: str
    mode: int
    positions: npt.NDArray[np.float32]
    normals: npt.NDArray[np.float32] | None
    indices: npt.NDArray[np.uint32]
    fields: Mapping[str, npt.NDArray[np.float32]]
    extras: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class DecodedGlb:
    json: Mapping[str, Any]
    meshes: Mapping[str, DecodedMesh]
    """By node name (``name#i`` for a mesh's primitive ``i > 0``), in node order."""


def read_glb_file(path: Path) -> DecodedGlb:
    return read_glb(path.read_bytes(), name=path.name)


def read_glb(data: bytes, *, name: str = "scene.glb") -> DecodedGlb:
    """Parse and decode a GLB; ``name`` is what error messages call it."""
    gltf, binary = _split_glb(data, name)
    doc = _Document(gltf, binary, name)
    try:
        meshes = doc.meshes()
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        raise UnreadableFileError(f"{name}: malformed glTF ({type(exc).__name__}: {exc})") from exc
    return DecodedGlb(gltf, meshes)


def _split_glb(data: bytes, name: str) -> tuple[dict[str, Any], bytes | None]:
    """The JSON and the BIN chunk of a GLB container."""
    if len(data) < 20:
        raise UnreadableFileError(f"{name}: {len(data)} bytes is too short for a GLB")
    magic, version, length = struct.unpack_from("<III", data, 0)
    if magic != GLB_MAGIC:
        raise UnreadableFileError(f"{name}: not a GLB (magic {data[:4]!r})")
    if version != GLB_VERSION:
        raise UnreadableFileError(f"{name}: GLB version {version}, only 2 is supported")
    if length != len(data):
        raise UnreadableFileError(f"{name}: GLB header says {length} bytes but there are {len(data)}")
    chunks: list[tuple[int, bytes]] = []
    offset = 12
    while offset < length:
        if offset + 8 > length:
            raise UnreadableFileError(f"{name}: truncated chunk header at byte {offset}")
        size, kind = struct.unpack_from("<II", data, offset)
        if offset + 8 + size > length:
            raise UnreadableFileError(f"{name}: chunk at byte {offset} claims {size} bytes, past the end")
        chunks.append((kind, data[offset + 8 : offset + 8 + size]))
        offset += 8 + ((size + 3) & ~3)
    if not chunks or chunks[0][0] != CHUNK_JSON:
        raise UnreadableFileError(f"{name}: the first GLB chunk is not JSON")
    try:
        gltf = json.loads(chunks[0][1].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnreadableFileError(f"{name}: GLB JSON chunk does not parse ({exc})") from exc
    if not isinstance(gltf, dict):
        raise UnreadableFileError(f"{name}: GLB JSON is not an object")
    binary = chunks[1][1] if len(chunks) > 1 and chunks[1][0] == CHUNK_BIN else None
    return gltf, binary


class _Document:
    """Lazy access to the buffers, views and accessors of one parsed glTF."""

    def __init__(self, gltf: dict[str, Any], binary: bytes | None, name: str) -> None:
        self.gltf, self.binary, self.name = gltf, binary, name
        self._views: dict[int, bytes] = {}

    def fail(self, problem: str) -> UnreadableFileError:
        return UnreadableFileError(f"{self.name}: {problem}")

    def item(self, kind: str, index: object) -> dict[str, Any]:
        items = self.gltf.get(kind)
        if not isinstance(items, list) or not isinstance(index, int) or not 0 <= index < len(items):
            raise self.fail(f"{kind}[{index}] does not exist")
        entry = items[index]
        if not isinstance(entry, dict):
            raise self.fail(f"{kind}[{index}] is not an object")
        return entry

    def integer(self, entry: Mapping[str, Any], key: str, where: str, default: int | None = None) -> int:
        value = entry.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise self.fail(f"{where}.{key} must be a non-negative integer, got {value!r}")
        return value

    def buffer(self, index: int) -> bytes:
        entry = self.item("buffers", index)
        if "uri" in entry:
            raise self.fail(f"buffers[{index}] refers to an external URI; only embedded GLB data is read")
        if index != 0 or self.binary is None:
            raise self.fail(f"buffers[{index}] has no data")
        length = self.integer(entry, "byteLength", f"buffers[{index}]")
        if length > len(self.binary):
            raise self.fail(f"buffers[{index}] claims {length} bytes, the BIN chunk has {len(self.binary)}")
        return self.binary[:length]

    def view(self, index: int) -> bytes:
        if index not in self._views:
            self._views[index] = self._load_view(index)
        return self._views[index]

    def _load_view(self, index: int) -> bytes:
        entry = self.item("bufferViews", index)
        where = f"bufferViews[{index}]"
        length = self.integer(entry, "byteLength", where)
        ext = entry.get("extensions", {}).get(EXT_MESHOPT)
        if ext is not None:
            return self._meshopt_view(ext, length, where)
        data = self.buffer(self.integer(entry, "buffer", where))
        start = self.integer(entry, "byteOffset", where, 0)
        if start + length > len(data):
            raise self.fail(f"{where} runs past its buffer ({start}+{length} > {len(data)})")
        return data[start : start + length]

    def _meshopt_view(self, ext: Mapping[str, Any], length: int, where: str) -> bytes:
        where = f"{where}.extensions.{EXT_MESHOPT}"
        data = self.buffer(self.integer(ext, "buffer", where))
        start = self.integer(ext, "byteOffset", where, 0)
        size = self.integer(ext, "byteLength", where)
        count = self.integer(ext, "count", where)
        stride = self.integer(ext, "byteStride", where)
        mode, filter_ = ext.get("mode"), ext.get("filter", "NONE")
        if start + size > len(data):
            raise self.fail(f"{where} runs past its buffer ({start}+{size} > {len(data)})")
        if count * stride != length:
            raise self.fail(f"{where}: count {count} x byteStride {stride} != bufferView byteLength {length}")
        if length > MESHOPT_MAX_RATIO * max(size, 1):
            raise LimitExceededError(f"{self.name}: {where} claims {length} bytes from {size} compressed")
        if mode not in ("ATTRIBUTES", "TRIANGLES", "INDICES") or filter_ not in (
            "NONE",
            "OCTAHEDRAL",
            "QUATERNION",
            "EXPONENTIAL",
        ):
            raise self.fail(f"{where}: unknown mode {mode!r} or filter {filter_!r}")
        if count == 0:
            return b""
        try:
            rows = meshopt.decode_gltf_buffer(data[start : start + size], count, stride, mode, filter_)
        except (ValueError, RuntimeError) as exc:
            raise self.fail(f"{where}: meshopt data does not decode ({exc})") from exc
        return bytes(np.ascontiguousarray(rows).view(np.uint8).reshape(-1))

    def accessor(self, index: object, *, max_count: int, raw: bool = False) -> npt.NDArray[Any]:
        """An accessor's elements as ``(count, components)``: float32, or the stored integers if ``raw``."""
        if not isinstance(index, int):
            raise self.fail(f"accessor reference {index!r} is not an index")
        entry = self.item("accessors", index)
        where = f"accessors[{index}]"
        if "sparse" in entry:
            raise self.fail(f"{where} is sparse; sparse accessors are not supported")
        count = self.integer(entry, "count", where)
        if count > max_count:
            raise LimitExceededError(f"{self.name}: {where} has {count} elements, the limit is {max_count}")
        dtype = COMPONENT_DTYPES.get(entry.get("componentType", -1))
        components = COMPONENTS.get(entry.get("type", ""))
        if dtype is None or components is None:
            raise self.fail(f"{where}: unknown componentType or type")
        view_index = self.integer(entry, "bufferView", where)
        data = self.view(view_index)
        stride = self.item("bufferViews", view_index).get("byteStride") or dtype.itemsize * components
        offset = self.integer(entry, "byteOffset", where, 0)
        element = dtype.itemsize * components
        if not isinstance(stride, int) or stride < element:
            raise self.fail(f"{where}: byteStride {stride!r} is smaller than an element ({element})")
        if count and offset + (count - 1) * stride + element > len(data):
            raise self.fail(f"{where}: {count} elements run past the end of bufferView {view_index}")
        if count == 0:
            values = np.zeros((0, components), dtype=dtype)
        else:
            values = np.ndarray((count, components), dtype, data, offset, (stride, dtype.itemsize)).copy()
        if raw:
            return values
        return _as_float(values, bool(entry.get("normalized", False)))

    def meshes(self) -> dict[str, DecodedMesh]:
        out: dict[str, DecodedMesh] = {}
        for node_index, matrix in self._world_nodes():
            node = self.item("nodes", node_index)
            if "mesh" not in node:
                continue
            mesh = self.item("meshes", node.get("mesh"))
            label = node.get("name") or mesh.get("name") or f"node{node_index}"
            for i, primitive in enumerate(mesh.get("primitives", [])):
                key = str(label) if i == 0 else f"{label}#{i}"
                if not isinstance(primitive, dict):
                    raise self.fail(f"mesh {label!r} primitive {i} is not an object")
                out[key] = self._primitive(key, primitive, matrix)
        return out

    def _world_nodes(self) -> list[tuple[int, npt.NDArray[np.float64]]]:
        """Every node reachable from the default scene, with its world matrix, parents first."""
        scenes = self.gltf.get("scenes") or [{"nodes": list(range(len(self.gltf.get("nodes", []))))}]
        scene = self.item("scenes", self.gltf.get("scene", 0)) if self.gltf.get("scenes") else scenes[0]
        found: list[tuple[int, npt.NDArray[np.float64]]] = []
        stack = [(int(n), np.eye(4), 0) for n in reversed(scene.get("nodes", []))]
        while stack:
            index, parent, depth = stack.pop()
            if depth > MAX_NODE_DEPTH:
                raise self.fail(f"node hierarchy deeper than {MAX_NODE_DEPTH} (a cycle?)")
            node = self.item("nodes", index)
            world = parent @ _local_matrix(node)
            found.append((index, world))
            stack.extend((int(c), world, depth + 1) for c in reversed(node.get("children", [])))
        return found

    def _primitive(self, key: str, primitive: dict[str, Any], matrix: npt.NDArray[np.float64]) -> DecodedMesh:
        cap = limits()
        attributes = primitive.get("attributes")
        if not isinstance(attributes, dict) or "POSITION" not in attributes:
            raise self.fail(f"{key}: primitive has no POSITION attribute")
        mode = primitive.get("mode", MODE_TRIANGLES)
        if mode not in (MODE_TRIANGLES, MODE_POINTS):
            raise self.fail(f"{key}: primitive mode {mode!r} is not supported (TRIANGLES or POINTS only)")
        local = self.accessor(attributes["POSITION"], max_count=cap.max_points).astype(np.float64)
        if local.shape[1] != 3:
            raise self.fail(f"{key}: POSITION is not VEC3")
        positions = (local @ matrix[:3, :3].T + matrix[:3, 3]).astype(np.float32)
        normals = None
        if "NORMAL" in attributes:
            raw_normals = self.accessor(attributes["NORMAL"], max_count=cap.max_points).astype(np.float64)
            world = raw_normals @ np.linalg.inv(matrix[:3, :3])  # the inverse transpose, applied to rows
            length = np.linalg.norm(world, axis=1, keepdims=True)
            normals = (world / np.where(length > 0, length, 1.0)).astype(np.float32)
        indices = np.zeros((0, 3), dtype=np.uint32)
        if mode == MODE_TRIANGLES:
            if "indices" in primitive:
                flat = self.accessor(primitive["indices"], max_count=3 * cap.max_cells, raw=True).reshape(-1)
            else:
                flat = np.arange(positions.shape[0])
            if flat.shape[0] % 3:
                raise self.fail(f"{key}: {flat.shape[0]} indices is not a whole number of triangles")
            if flat.shape[0] and int(flat.max()) >= positions.shape[0]:
                top = int(flat.max())
                raise InvalidGeometryError(
                    f"{self.name}: {key}: index {top} out of range for {positions.shape[0]} vertices"
                )
            indices = flat.astype(np.uint32).reshape(-1, 3)
        found = primitive.get("extras")
        extras: dict[str, Any] = found if isinstance(found, dict) else {}
        fields = self._fields(key, attributes, extras, cap.max_points)
        return DecodedMesh(key, int(mode), positions, normals, indices, fields, extras)

    def _fields(
        self, key: str, attributes: Mapping[str, Any], extras: Mapping[str, Any], max_count: int
    ) -> dict[str, npt.NDArray[np.float32]]:
        """Custom attributes as fields: described ones dequantized under their names, others as found."""
        fields: dict[str, npt.NDArray[np.float32]] = {}
        described: set[str] = set()
        for entry in extras.get("fields", []):
            if not isinstance(entry, dict) or entry.get("attribute") not in attributes:
                raise self.fail(f"{key}: extras field {entry!r} names no attribute of the primitive")
            attribute = entry["attribute"]
            described.add(attribute)
            q = entry.get("quantization")
            if q is None:
                values = self.accessor(attributes[attribute], max_count=max_count)
            else:
                codes = self.accessor(attributes[attribute], max_count=max_count, raw=True)
                try:
                    lo, hi, bits = float(q["min"]), float(q["max"]), int(q["bits"])
                    values = dequantize(codes, lo, hi, bits, nodata=q.get("nodata") is not None)
                except (KeyError, TypeError, ValueError) as exc:
                    raise self.fail(f"{key}: field {entry.get('name')!r} has bad quantization {q!r}") from exc
            fields[str(entry.get("name", attribute))] = _squeeze(values)
        for attribute, index in attributes.items():
            if attribute.startswith("_") and attribute not in described:
                values = self.accessor(index, max_count=max_count)
                fields[attribute] = _squeeze(values)
        return fields


def _squeeze(values: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Scalars as ``(n,)``, like :class:`vizserver.model.Field`."""
    return np.ascontiguousarray(values[:, 0]) if values.shape[1] == 1 else values


def _as_float(values: npt.NDArray[Any], normalized: bool) -> npt.NDArray[np.float32]:
    """glTF's rules for normalized integers: unsigned c / max, signed max(c / max, -1)."""
    if values.dtype.kind == "f" or not normalized:
        return values.astype(np.float32)
    top = float(np.iinfo(values.dtype).max)
    scaled = values.astype(np.float32) / np.float32(top)
    return np.maximum(scaled, np.float32(-1.0)) if values.dtype.kind == "i" else scaled


def _local_matrix(node: Mapping[str, Any]) -> npt.NDArray[np.float64]:
    """A node's ``matrix`` (column-major), or its translation x rotation x scale."""
    if "matrix" in node:
        return np.asarray(node["matrix"], dtype=np.float64).reshape(4, 4).T
    t = np.asarray(node.get("translation", [0.0, 0.0, 0.0]), dtype=np.float64)
    x, y, z, w = np.asarray(node.get("rotation", [0.0, 0.0, 0.0, 1.0]), dtype=np.float64)
    s = np.asarray(node.get("scale", [1.0, 1.0, 1.0]), dtype=np.float64)
    rotation = np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )
    matrix = np.eye(4)
    matrix[:3, :3] = rotation * s
    matrix[:3, 3] = t
    return matrix
