"""glTF 2.0, binary (.glb) or JSON (.gltf) with its buffers beside it, parsed by trimesh.

One object per node that shows a mesh primitive, named after the mesh (or the node when the mesh
has none). Node transforms are *applied* to the vertices and normals, so ``SceneObject.transform``
stays the identity: the geometry and encode stages work on vertices alone, and an instanced mesh
is simply repeated. ``NORMAL`` gives normals, ``COLOR_0`` the ``color`` field, custom ``_NAME``
attributes the point field ``NAME``; point primitives give point clouds. Materials, textures and
line primitives are not read.

Before trimesh sees a file we refuse what it would mis-read or over-allocate: compressed data
(Draco, meshopt), accessors without a buffer view (trimesh fills them with zeros of whatever
count they claim), counts over the limits, and buffer URIs that are not files beside the .gltf.
"""

from __future__ import annotations

import io
import json
import re
import struct
from collections.abc import Mapping
from dataclasses import replace
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
)
from vizserver.io.glb_decode import DecodedGlb, read_glb
from vizserver.io.meshcheck import check_parts, checked_mesh, color_values, trimesh_call, unique_names
from vizserver.io.sniff import is_glb, is_gltf_json
from vizserver.model import Field, Mesh, Scene, SceneObject

GLTF_UNSUPPORTED_EXTENSIONS = ("KHR_draco_mesh_compression", "EXT_meshopt_compression")
"""Refused in .gltf files and in GLBs trimesh would read; meshopt GLBs go to our decoder instead."""

DECODED_EXTENSIONS = frozenset({"EXT_meshopt_compression", "KHR_mesh_quantization"})
"""A GLB requiring these is read by :mod:`vizserver.io.glb_decode` (the inverse of our encoder):
trimesh cannot decode meshopt and ignores the normalized flag of quantized custom attributes."""

_GLB_HEADER = struct.Struct("<4sII")
_GLB_CHUNK = struct.Struct("<II")
_GLB_JSON = 0x4E4F534A
_PLACEHOLDER_MESH_NAME = re.compile(r"GLTF(_\d+)?")


def read_gltf(path: Path) -> Scene:
    from trimesh.exchange.gltf import load_glb, load_gltf

    data = path.read_bytes()
    if is_glb(data):
        tree = _glb_json(path, data)
        if set(tree.get("extensionsRequired", [])) & DECODED_EXTENSIONS:
            return _decoded_scene(path, read_glb(data, name=path.name))
        _check_gltf_json(path, tree, external_buffers=False)
        loaded = trimesh_call(path, "GLB", lambda: load_glb(io.BytesIO(data), skip_materials=True))
    else:
        try:
            tree = json.loads(data)
        except ValueError as exc:
            raise UnreadableFileError(f"{path.name}: glTF JSON is malformed ({exc})") from None
        _check_gltf_json(path, tree, external_buffers=True)
        buffers = _gltf_buffers(path, tree)
        loaded = trimesh_call(path, "glTF", lambda: load_gltf(io.BytesIO(data), resolver=buffers, skip_materials=True))
    return _gltf_scene(path, loaded)


def _decoded_scene(path: Path, decoded: DecodedGlb) -> Scene:
    """A quantized or meshopt GLB (ours, or gltfpack's) decoded by :mod:`vizserver.io.glb_decode`."""
    objects = []
    for name, mesh in decoded.meshes.items():
        units = {f.get("name"): f.get("unit", "") for f in mesh.extras.get("fields", []) if isinstance(f, dict)}
        surface = checked_mesh(path, mesh.positions, mesh.indices, normals=mesh.normals, point_fields=mesh.fields)
        fields = {k: Field(k, f.values, "point", str(units.get(k) or "")) for k, f in surface.point_fields.items()}
        objects.append(SceneObject(name, replace(surface, point_fields=fields)))
    return Scene(path.stem, tuple(objects))


def sniff_gltf(head: bytes) -> bool:
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
    check_parts(path, sum(len(m.get("primitives", [])) for m in meshes if isinstance(m, dict)), "mesh primitives")
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
    check_parts(path, len(instances), "mesh instances")
    placed: list[tuple[str, Mesh]] = []
    for node, geom in instances:
        kw = geometry[geom]
        if "entities" in kw or "vertices" not in kw:
            continue  # line primitives: nothing to show as a surface
        label = node if _PLACEHOLDER_MESH_NAME.fullmatch(geom) else geom
        placed.append((label, _gltf_mesh(path, kw, world.get(node, np.eye(4)))))
    if not placed:
        raise InvalidGeometryError(f"{path.name}: glTF has no triangle or point primitives")
    names = unique_names([label for label, _ in placed])
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
