"""glTF 2.0 numbers shared by the GLB writer (:mod:`vizserver.encode.glb`) and reader
(:mod:`vizserver.io.glb_decode`): the format's constants, not either side's logic."""

from __future__ import annotations

GLB_MAGIC = 0x46546C67  # b"glTF"
GLB_VERSION = 2
CHUNK_JSON = 0x4E4F534A
CHUNK_BIN = 0x004E4942
MAX_GLB_BYTES = (1 << 32) - 1
"""A GLB's length field is 32 bits."""

ARRAY_BUFFER = 34962
ELEMENT_ARRAY_BUFFER = 34963
BYTE, UNSIGNED_BYTE, SHORT, UNSIGNED_SHORT, UNSIGNED_INT, FLOAT = 5120, 5121, 5122, 5123, 5125, 5126
MODE_POINTS, MODE_TRIANGLES = 0, 4
TYPES = {1: "SCALAR", 2: "VEC2", 3: "VEC3", 4: "VEC4"}
MAX_ATTRIBUTE_COMPONENTS = 4
"""A field with more components (a tensor) cannot be one vertex attribute; it is listed, not encoded."""

EXT_MESHOPT = "EXT_meshopt_compression"
KHR_QUANTIZATION = "KHR_mesh_quantization"
