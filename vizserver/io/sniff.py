"""Pure checks on a file's first bytes: what format do they look like, and what does a header claim.

Every function here takes bytes (and, where the format has no magic number, the file size) and
returns a verdict or a parsed header; none opens a file, so readers and the registry's sniffers
share them and tests feed them hostile bytes directly. A parsed header is only a *claim*: readers
compare its counts with the file size before they allocate anything.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Literal

STL_HEADER_BYTES = 84
"""Binary STL: an 80-byte comment, then a little-endian uint32 triangle count."""

STL_RECORD_BYTES = 50
"""Binary STL: per triangle a normal and three corners (12 float32) and a 2-byte attribute."""

STL_PLAUSIBLE_ABS = 1e12
"""Binary STL sniffing: real coordinates and normals are finite and smaller than this."""

PLY_MAGICS = (b"ply\n", b"ply\r\n")
GLB_MAGIC = b"glTF"
OFF_PREFIX_LETTERS = b"STCN4n"
"""OFF keywords are ``OFF`` with optional prefixes: ST (texture), C (colour), N (normal), 4 (4D), n (nD)."""

_TEXT_CONTROL = bytes(sorted(set(range(32)) - {9, 10, 12, 13}))
"""Control bytes that text does not contain (tab, newline, form feed and carriage return it does)."""
_TEXT_TOLERANCE = 0.01


def looks_like_text(head: bytes) -> bool:
    """True when ``head`` has no NUL byte and (almost) no other control characters.

    UTF-8 and Latin-1 text pass; binary data (floats, integers) fails, because it is full of
    NUL and control bytes.
    """
    if not head:
        return True
    if b"\x00" in head:
        return False
    control = len(head) - len(head.translate(None, _TEXT_CONTROL))
    return control <= _TEXT_TOLERANCE * len(head)


def _stripped_start(head: bytes) -> bytes:
    return head.lstrip(b"\xef\xbb\xbf").lstrip()


# --- STL ---------------------------------------------------------------------------------------


def binary_stl_triangle_count(head: bytes) -> int | None:
    """The triangle count a binary STL header claims, or ``None`` when ``head`` is too short."""
    if len(head) < STL_HEADER_BYTES:
        return None
    return int(struct.unpack_from("<I", head, 80)[0])


def binary_stl_size(triangles: int) -> int:
    """The exact size of a binary STL file with ``triangles`` triangles."""
    return STL_HEADER_BYTES + STL_RECORD_BYTES * triangles


def is_binary_stl(head: bytes, size: int) -> bool:
    """True when the header's triangle count accounts for the file size exactly (84 + 50 N)."""
    count = binary_stl_triangle_count(head)
    return count is not None and binary_stl_size(count) == size


def is_ascii_stl(head: bytes) -> bool:
    """Text that starts with ``solid`` (binary STL headers may start with it too: check size first)."""
    return _stripped_start(head)[:5].lower() == b"solid" and looks_like_text(head)


def _plausible_stl_records(head: bytes, count: int) -> bool:
    """The records visible in ``head`` hold finite, modest floats, as real STL geometry does."""
    visible = min(count, (len(head) - STL_HEADER_BYTES) // STL_RECORD_BYTES)
    for index in range(visible):
        offset = STL_HEADER_BYTES + index * STL_RECORD_BYTES
        for value in struct.unpack_from("<12f", head, offset):
            if not math.isfinite(value) or abs(value) > STL_PLAUSIBLE_ABS:
                return False
    return True


def looks_like_stl(head: bytes, *, whole_file: bool) -> bool:
    """Whether ``head`` looks like an STL file, ASCII or binary; it never accepts another format's magic.

    Binary STL has no magic number, so: the header must claim at least one triangle and at least
    the bytes there are (a truncated file is still recognised, for the reader to report what is
    missing), the bytes after the header must be binary (text decodes to modest floats too), and
    the records visible in ``head`` must hold finite, modest floats, which random bytes fail
    within a triangle or two. ``whole_file`` says ``head`` is the entire file.
    """
    if has_other_mesh_signature(head):
        return False
    if is_ascii_stl(head):
        return True
    count = binary_stl_triangle_count(head)
    if count is None or len(head) < STL_HEADER_BYTES + STL_RECORD_BYTES:
        return whole_file and count == 0 and len(head) == STL_HEADER_BYTES
    claimed = binary_stl_size(count)
    if count == 0 or claimed < len(head) or (claimed == len(head) and not whole_file):
        return False
    return not looks_like_text(head[STL_HEADER_BYTES:]) and _plausible_stl_records(head, count)


# --- other signatures --------------------------------------------------------------------------


def is_ply(head: bytes) -> bool:
    return head.startswith(PLY_MAGICS)


def is_off(head: bytes) -> bool:
    """``OFF``-family keyword (``OFF``, ``COFF``, ``NOFF``, ...) as the first word of the file."""
    words = _stripped_start(head[:64]).split(maxsplit=1)
    if not words or not words[0].endswith(b"OFF") or len(words[0]) > 10:
        return False
    return all(letter in OFF_PREFIX_LETTERS for letter in words[0][:-3])


def is_glb(head: bytes) -> bool:
    return head.startswith(GLB_MAGIC)


def is_gltf_json(head: bytes) -> bool:
    """A JSON object that mentions ``"asset"`` (required in every glTF) near its start."""
    return _stripped_start(head).startswith(b"{") and b'"asset"' in head


def is_pcd(head: bytes) -> bool:
    """PCD: a ``# .PCD`` comment, or ``VERSION``/``FIELDS`` as the first header keyword."""
    start = _stripped_start(head)
    if start.startswith(b"# .PCD"):
        return True
    return start.startswith((b"VERSION", b"FIELDS")) and looks_like_text(head.split(b"DATA", 1)[0])


def signature_format(head: bytes) -> str | None:
    """The format whose signature ``head`` starts with: ``"PLY"``, ``"OFF"``, ``"glTF"`` or ``"PCD"``.

    STL, OBJ and XYZ have none; their readers call this to refuse a file of another format that was
    renamed to their suffix, since the registry cannot tell them apart by content.
    """
    if is_ply(head):
        return "PLY"
    if is_off(head):
        return "OFF"
    if is_glb(head) or is_gltf_json(head):
        return "glTF"
    if is_pcd(head):
        return "PCD"
    return None


def has_other_mesh_signature(head: bytes) -> bool:
    """True for PLY, OFF, glTF (binary or JSON) and PCD signatures: files that are not STL/OBJ/XYZ."""
    return signature_format(head) is not None


# --- PLY header --------------------------------------------------------------------------------

PlyFormat = Literal["ascii", "binary_little_endian", "binary_big_endian"]

PLY_TYPES: dict[str, str] = {
    "char": "i1",
    "uchar": "u1",
    "short": "i2",
    "ushort": "u2",
    "int": "i4",
    "uint": "u4",
    "float": "f4",
    "double": "f8",
    "int8": "i1",
    "uint8": "u1",
    "int16": "i2",
    "uint16": "u2",
    "int32": "i4",
    "uint32": "u4",
    "float32": "f4",
    "float64": "f8",
}
"""PLY type names (the spec's and the sized aliases in the wild) to numpy codes without byte order."""


@dataclass(frozen=True, slots=True)
class PlyProperty:
    """``dtype`` is a numpy code without byte order (``"f4"``); ``count_dtype`` is set for lists."""

    name: str
    dtype: str
    count_dtype: str | None = None

    @property
    def is_list(self) -> bool:
        return self.count_dtype is not None


@dataclass(frozen=True, slots=True)
class PlyElement:
    name: str
    count: int
    properties: tuple[PlyProperty, ...]

    def min_row_bytes(self, binary: bool) -> int:
        """The fewest bytes one row can take (lists empty): binary sizes, or ``"0 "`` per value in ASCII."""
        if not binary:
            return 2 * len(self.properties)
        return sum(int(p.count_dtype[1:]) if p.count_dtype else int(p.dtype[1:]) for p in self.properties)


@dataclass(frozen=True, slots=True)
class PlyHeader:
    """A PLY header as written; ``data_offset`` is where the body starts (after ``end_header``)."""

    format: PlyFormat
    elements: tuple[PlyElement, ...]
    data_offset: int

    def element(self, name: str) -> PlyElement | None:
        for element in self.elements:
            if element.name == name:
                return element
        return None

    def min_body_bytes(self) -> int:
        """The fewest body bytes the header's counts need; more than the file holds means a lying header."""
        binary = self.format != "ascii"
        return sum(e.count * e.min_row_bytes(binary) for e in self.elements)


def ply_header(head: bytes) -> PlyHeader | None:
    """Parse the PLY header at the start of ``head``; ``None`` if ``head`` is not PLY at all.

    Raises ``ValueError`` (message without a file name) when the header is malformed or does not
    end within ``head``.
    """
    if not is_ply(head):
        return None
    end = head.find(b"end_header")
    if end < 0:
        raise ValueError(f"PLY header has no end_header in its first {len(head):,} bytes")
    line_end = head.find(b"\n", end)
    if line_end < 0:
        raise ValueError("PLY header ends without a newline after end_header")
    text = head[:end].decode("ascii", errors="replace")
    lines = [line.split() for line in text.splitlines()[1:]]
    fmt: str | None = None
    elements: list[PlyElement] = []
    properties: list[PlyProperty] = []
    name, count = "", 0
    for words in lines:
        if not words or words[0] in ("comment", "obj_info"):
            continue
        if words[0] == "format" and len(words) >= 2:
            fmt = words[1]
        elif words[0] == "element" and len(words) == 3:
            if name:
                elements.append(PlyElement(name, count, tuple(properties)))
            name, count, properties = words[1], _count(words[2]), []
        elif words[0] == "property" and name:
            properties.append(_ply_property(words))
        else:
            raise ValueError(f"PLY header line {' '.join(words)[:60]!r} is not understood")
    if name:
        elements.append(PlyElement(name, count, tuple(properties)))
    if fmt not in ("ascii", "binary_little_endian", "binary_big_endian"):
        raise ValueError(f"PLY format {fmt!r} is not ascii, binary_little_endian or binary_big_endian")
    return PlyHeader(fmt, tuple(elements), line_end + 1)  # type: ignore[arg-type]


def _count(word: str) -> int:
    if not word.isdigit():
        raise ValueError(f"PLY element count {word[:20]!r} is not a non-negative integer")
    return int(word)


def _ply_property(words: list[str]) -> PlyProperty:
    if len(words) == 3 and words[1] in PLY_TYPES:
        return PlyProperty(words[2], PLY_TYPES[words[1]])
    if len(words) == 5 and words[1] == "list" and words[2] in PLY_TYPES and words[3] in PLY_TYPES:
        if PLY_TYPES[words[2]][0] == "f":
            raise ValueError(f"PLY list {words[4]!r} has a floating-point count type")
        return PlyProperty(words[4], PLY_TYPES[words[3]], PLY_TYPES[words[2]])
    raise ValueError(f"PLY property line {' '.join(words)[:60]!r} is not understood")
