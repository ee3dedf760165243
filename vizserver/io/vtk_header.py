"""Cheap checks on VTK-family files before VTK reads them: VTK trusts what a header claims, we do not.

XML files (``.vtu``, ``.vtp``, ...): the ``VTKFile`` root, its ``type`` for the suffix, byte order,
header type and compressor, the point and cell counts every array implies against the file size
and the limits, and for raw appended data that each array's block lies inside the file. Legacy
files (``.vtk``): the version line, ``ASCII``/``BINARY``, the ``DATASET`` type and the count every
section line claims (``POINTS``, ``CELLS``, ``SCALARS``, field arrays, ...) against the file size.

Also here, because every XML index file (``.pvd``, ``.vtm``, ``.pvtu``) and XDMF needs them: a
defused XML parse (entity declarations and external entities are refused, as defusedxml does by
default; a plain ``<!DOCTYPE>`` such as FEniCS writes is harmless and allowed) and the check that
a file an index names stays inside the index's folder.
"""

from __future__ import annotations

import mmap
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, BinaryIO, Literal
from xml.parsers import expat

from vizserver.config import limits
from vizserver.errors import LimitExceededError, UnreadableFileError

MAX_COMPRESSION_RATIO = 2048
"""Most a compressed VTK block may inflate (zlib peaks near 1032:1 on 32 KiB blocks); bounds claims."""

ASCII_BYTES_PER_VALUE = 2
"""The fewest bytes one ASCII number takes: a digit and a separator."""

_CHUNK = 1 << 20

Endian = Literal["little", "big"]

XML_VALUE_BYTES: dict[str, int] = {
    "Int8": 1, "UInt8": 1, "Int16": 2, "UInt16": 2, "Int32": 4, "UInt32": 4,
    "Int64": 8, "UInt64": 8, "Float32": 4, "Float64": 8, "String": 0, "Bit": 0,
}  # fmt: skip

LEGACY_VALUE_BYTES: dict[str, int] = {
    "bit": 0, "char": 1, "unsigned_char": 1, "short": 2, "unsigned_short": 2, "int": 4,
    "unsigned_int": 4, "long": 4, "unsigned_long": 4, "vtkidtype": 4, "vtktypeint64": 8,
    "vtktypeuint64": 8, "float": 4, "double": 8, "string": 0, "utf8_string": 0,
}  # fmt: skip

LEGACY_DATASETS = ("STRUCTURED_POINTS", "STRUCTURED_GRID", "RECTILINEAR_GRID", "POLYDATA", "UNSTRUCTURED_GRID")


# ---------------------------------------------------------------------------------------------- XML


@dataclass(frozen=True, slots=True)
class XmlHeader:
    """What a VTK XML file claims. ``sources`` are the ``Piece Source`` names of a parallel file."""

    type: str
    byte_order: str
    header_type: str
    compressor: str
    n_points: int
    n_cells: int
    sources: tuple[str, ...]


@dataclass(slots=True)
class _XmlScan:
    """Mutable state while expat walks the XML part of a VTK file (start tags only, no text kept)."""

    root: dict[str, str] | None = None
    stack: list[str] | None = None
    piece_points: int = 0
    piece_cells: dict[str, int] | None = None
    n_points: int = 0
    n_cells: int = 0
    need_bytes: int = 0
    sources: list[str] | None = None
    appended: list[tuple[str, int, int]] | None = None  # (array name, offset, uncompressed bytes or -1)
    error: str = ""


def check_xml_header(path: Path, expected_type: str) -> XmlHeader:
    """Validate a VTK XML file's structure and claims; raise :class:`UnreadableFileError` or
    :class:`LimitExceededError` with a one-line reason. Reads the file once, keeps no array text."""
    size = path.stat().st_size
    scan = _XmlScan(stack=[], piece_cells={}, sources=[], appended=[])
    parser = _defused_parser(path)
    parser.StartElementHandler = lambda tag, attrs: _on_start(scan, tag, attrs)
    parser.EndElementHandler = lambda tag: scan.stack.pop() if scan.stack else None
    appended_at = -1
    with path.open("rb") as f:
        tail = b""
        while True:
            chunk = f.read(_CHUNK)
            window = tail + chunk
            marker = window.find(b"<AppendedData")
            if marker >= 0:
                _feed(parser, path, window[len(tail) : marker] if marker >= len(tail) else b"", False)
                appended_at = f.tell() - len(window) + marker
                break
            _feed(parser, path, chunk, not chunk)
            if scan.error:
                break
            if not chunk:
                break
            tail = window[-16:]
    if scan.error:
        raise UnreadableFileError(f"{path.name}: {scan.error}")
    root = scan.root
    if root is None:
        raise UnreadableFileError(f"{path.name}: no <VTKFile> element")
    found = root.get("type", "")
    if found != expected_type:
        raise UnreadableFileError(f"{path.name}: VTKFile type is {found or '(none)'!r}, expected {expected_type!r}")
    byte_order = root.get("byte_order", "LittleEndian")
    header_type = root.get("header_type", "UInt32")
    compressor = root.get("compressor", "")
    if byte_order not in ("LittleEndian", "BigEndian"):
        raise UnreadableFileError(f"{path.name}: unknown byte_order {byte_order!r}")
    if header_type not in ("UInt32", "UInt64"):
        raise UnreadableFileError(f"{path.name}: unknown header_type {header_type!r}")
    if compressor not in ("", "vtkZLibDataCompressor", "vtkLZ4DataCompressor", "vtkLZMADataCompressor"):
        raise UnreadableFileError(f"{path.name}: unknown compressor {compressor!r}")
    if scan.need_bytes > size + 1:
        raise UnreadableFileError(
            f"{path.name}: claims {scan.n_points:,} points and {scan.n_cells:,} cells, which need at least "
            f"{scan.need_bytes:,} bytes, but the file is {size:,} bytes (truncated or forged header)"
        )
    _check_counts(path, scan.n_points, scan.n_cells)
    if scan.appended and appended_at < 0:
        raise UnreadableFileError(f"{path.name}: arrays refer to appended data but there is no <AppendedData>")
    if appended_at >= 0:
        _check_appended(path, appended_at, scan.appended or [], byte_order, header_type, bool(compressor))
    return XmlHeader(found, byte_order, header_type, compressor, scan.n_points, scan.n_cells, tuple(scan.sources or ()))


def _on_start(scan: _XmlScan, tag: str, attrs: dict[str, str]) -> None:
    stack = scan.stack if scan.stack is not None else []
    parent = stack[-1] if stack else ""
    stack.append(tag)
    try:
        if not parent:
            if tag != "VTKFile":
                scan.error = f"root element is <{tag}>, not <VTKFile>"
            scan.root = attrs
        elif tag == "Piece" and "Source" in attrs:
            (scan.sources if scan.sources is not None else []).append(attrs["Source"])
        elif tag == "Piece":
            _on_piece(scan, attrs)
        elif tag == "DataArray":
            _on_array(scan, parent, attrs)
    except ValueError as exc:
        scan.error = f"bad <{tag}> attribute ({exc})"


def _on_piece(scan: _XmlScan, attrs: dict[str, str]) -> None:
    if "Extent" in attrs:
        ext = [int(v) for v in attrs["Extent"].split()]
        if len(ext) != 6:
            raise ValueError(f"Extent {attrs['Extent']!r}")
        dims = [ext[2 * i + 1] - ext[2 * i] + 1 for i in range(3)]
        if min(dims) < 1:
            raise ValueError(f"empty Extent {attrs['Extent']!r}")
        points = dims[0] * dims[1] * dims[2]
        cells = max(dims[0] - 1, 1) * max(dims[1] - 1, 1) * max(dims[2] - 1, 1)
        counts = {"Cells": cells}
    else:
        points = _count(attrs, "NumberOfPoints")
        counts = {
            "Cells": _count(attrs, "NumberOfCells"),
            "Verts": _count(attrs, "NumberOfVerts"),
            "Lines": _count(attrs, "NumberOfLines"),
            "Strips": _count(attrs, "NumberOfStrips"),
            "Polys": _count(attrs, "NumberOfPolys"),
        }
    scan.piece_points = points
    scan.piece_cells = counts
    scan.n_points += points
    scan.n_cells += sum(counts.values())


def _count(attrs: dict[str, str], key: str) -> int:
    value = int(attrs.get(key, "0"))
    if value < 0:
        raise ValueError(f"{key}={value}")
    return value


def _on_array(scan: _XmlScan, parent: str, attrs: dict[str, str]) -> None:
    """Add the fewest bytes this array's data can take, and note where appended arrays start."""
    cells = scan.piece_cells or {}
    name = attrs.get("Name", "")
    if parent in ("Points", "PointData"):
        tuples = scan.piece_points
    elif parent == "CellData":
        tuples = sum(cells.values())
    elif parent in cells and name in ("offsets", "types"):
        tuples = cells[parent]
    elif "NumberOfTuples" in attrs:
        tuples = _count(attrs, "NumberOfTuples")
    else:
        tuples = 0
    components = int(attrs.get("NumberOfComponents", "1"))
    if components < 1:
        raise ValueError(f"NumberOfComponents={components}")
    value_bytes = XML_VALUE_BYTES.get(attrs.get("type", ""), 1)
    raw_bytes = tuples * components * value_bytes
    values = tuples * components
    fmt = attrs.get("format", "ascii")
    compressed = bool((scan.root or {}).get("compressor"))
    if fmt == "ascii":
        scan.need_bytes += values * ASCII_BYTES_PER_VALUE - 1 if values else 0
    elif fmt in ("binary", "appended"):
        scan.need_bytes += raw_bytes // MAX_COMPRESSION_RATIO if compressed else raw_bytes
        if fmt == "appended":
            offset = int(attrs.get("offset", "-1"))
            if offset < 0:
                raise ValueError(f"array {name!r} is appended but has no offset")
            known = tuples > 0 or parent in ("Points", "PointData", "CellData")
            (scan.appended if scan.appended is not None else []).append(
                (name, offset, raw_bytes if known and value_bytes else -1)
            )
    else:
        raise ValueError(f"array {name!r} has unknown format {fmt!r}")


def _check_appended(
    path: Path,
    start: int,
    arrays: list[tuple[str, int, int]],
    byte_order: str,
    header_type: str,
    compressed: bool,
) -> None:
    """Every appended array's block header and data must lie inside the file (raw encoding)."""
    size = path.stat().st_size
    with path.open("rb") as f:
        f.seek(start)
        head = f.read(256)
        f.seek(max(size - 256, 0))
        tail = f.read()
        if b"</VTKFile>" not in tail:
            raise UnreadableFileError(f"{path.name}: truncated (no closing </VTKFile>; file is {size:,} bytes)")
        match = re.match(rb'<AppendedData\s+encoding="(\w+)"\s*>\s*_', head)
        if match is None:
            raise UnreadableFileError(f"{path.name}: malformed <AppendedData> element at byte {start:,}")
        if match.group(1) != b"raw":
            return
        base = start + match.end()
        length = size - base
        word = 8 if header_type == "UInt64" else 4
        endian: Endian = "little" if byte_order == "LittleEndian" else "big"
        for name, offset, expected in arrays:
            blocks = _block_bytes(f, base, length, offset, word, endian, compressed)
            if blocks is None:
                raise UnreadableFileError(
                    f"{path.name}: appended array {name!r} at offset {offset:,} runs past the end of the file"
                )
            if expected >= 0 and blocks != expected:
                raise UnreadableFileError(
                    f"{path.name}: appended array {name!r} holds {blocks:,} bytes but the header implies {expected:,}"
                )


def _block_bytes(
    f: BinaryIO, base: int, length: int, offset: int, word: int, endian: Endian, compressed: bool
) -> int | None:
    """The uncompressed byte count of the block at ``offset``, or None when it does not fit."""

    def words(at: int, n: int) -> list[int] | None:
        if at + n * word > length:
            return None
        f.seek(base + at)
        raw = f.read(n * word)
        return [int.from_bytes(raw[i : i + word], endian) for i in range(0, n * word, word)]

    if offset >= length:
        return None
    if not compressed:
        head = words(offset, 1)
        if head is None or offset + word + head[0] > length:
            return None
        return head[0]
    head = words(offset, 3)
    if head is None:
        return None
    n_blocks, block, last = head
    if n_blocks * word > length:
        return None
    sizes = words(offset + 3 * word, n_blocks)
    if sizes is None or offset + (3 + n_blocks) * word + sum(sizes) > length:
        return None
    if n_blocks == 0:
        return 0
    return (n_blocks - 1) * block + (last or block)


def _check_counts(path: Path, n_points: int, n_cells: int) -> None:
    lim = limits()
    if n_points > lim.max_points:
        raise LimitExceededError(f"{path.name}: {n_points:,} points is over the {lim.max_points:,}-point limit")
    if n_cells > lim.max_cells:
        raise LimitExceededError(f"{path.name}: {n_cells:,} cells is over the {lim.max_cells:,}-cell limit")


# ------------------------------------------------------------------------------------------- legacy


@dataclass(frozen=True, slots=True)
class LegacyHeader:
    version: str
    binary: bool
    dataset: str
    n_points: int
    n_cells: int


_LEGACY_TYPES = "|".join(sorted(LEGACY_VALUE_BYTES, key=len, reverse=True))
_LEGACY_LINE = re.compile(
    rb"\n(?:"
    rb"(?P<points>POINTS)[ \t]+(?P<np>\d+)[ \t]+(?P<ptype>\w+)"
    rb"|(?P<cells>CELLS|POLYGONS|LINES|VERTICES|TRIANGLE_STRIPS)[ \t]+(?P<nc>\d+)[ \t]+(?P<csize>\d+)"
    rb"|(?P<offsets>OFFSETS|CONNECTIVITY)[ \t]+(?P<otype>\w+)"
    rb"|(?P<celltypes>CELL_TYPES)[ \t]+(?P<nct>\d+)"
    rb"|(?P<dims>DIMENSIONS)[ \t]+(?P<dx>\d+)[ \t]+(?P<dy>\d+)[ \t]+(?P<dz>\d+)"
    rb"|(?P<coords>[XYZ]_COORDINATES)[ \t]+(?P<ncoord>\d+)[ \t]+(?P<ctype>\w+)"
    rb"|(?P<attr>POINT_DATA|CELL_DATA)[ \t]+(?P<nattr>\d+)"
    rb"|(?P<scalars>SCALARS)[ \t]+\S+[ \t]+(?P<stype>\w+)(?:[ \t]+(?P<scomp>\d+))?"
    rb"|(?P<lut>LOOKUP_TABLE)[ \t]+\S+(?:[ \t]+(?P<lsize>\d+))?"
    rb"|(?P<color>COLOR_SCALARS)[ \t]+\S+[ \t]+(?P<ccomp>\d+)"
    rb"|(?P<vectors>VECTORS|NORMALS)[ \t]+\S+[ \t]+(?P<vtype>\w+)"
    rb"|(?P<tensors>TENSORS6?)[ \t]+\S+[ \t]+(?P<ttype>\w+)"
    rb"|(?P<tcoords>TEXTURE_COORDINATES)[ \t]+\S+[ \t]+(?P<tdim>\d+)[ \t]+(?P<tctype>\w+)"
    rb"|(?P<farray>\S+)[ \t]+(?P<fcomp>\d+)[ \t]+(?P<ftuples>\d+)[ \t]+(?P<ftype>(?i:" + _LEGACY_TYPES.encode() + rb"))"
    rb")[ \t]*\r?$",
    re.MULTILINE,
)

_EXACT_BINARY_TYPES = frozenset(
    {"char", "unsigned_char", "short", "unsigned_short", "int", "unsigned_int", "float", "double",
     "vtktypeint64", "vtktypeuint64"}
)  # fmt: skip
"""Types whose size in a binary legacy file is fixed, so the walker can jump over their data."""


@dataclass(slots=True)
class _LegacyWalk:
    binary: bool
    new_cells: bool
    n_points: int = 0
    n_cells: int = 0
    need: int = 0
    current: int = 0  # the count POINT_DATA/CELL_DATA set for the attribute arrays after it
    last_cells: tuple[int, int] = (0, 0)  # the counts of the latest CELLS-like line
    pending: tuple[int, str] = (0, "float")  # SCALARS values whose data follows the LOOKUP_TABLE line

    def data(self, values: int, type_name: str) -> int:
        """Add the fewest bytes ``values`` numbers take; return their exact binary size (0 if unknown)."""
        key = type_name.lower()
        if not self.binary:
            self.need += values * ASCII_BYTES_PER_VALUE - 1 if values else 0
            return 0
        self.need += values * LEGACY_VALUE_BYTES.get(key, 1)
        return values * LEGACY_VALUE_BYTES[key] if key in _EXACT_BINARY_TYPES else 0

    def line(self, g: dict[str, bytes | None]) -> int:
        """Account for one section line; return how many binary data bytes follow it (0 if unknown)."""

        def num(key: str) -> int:
            return int(g[key] or b"0")

        def word(key: str) -> str:
            return (g[key] or b"float").decode("ascii", "replace")

        if g["points"]:
            self.n_points = num("np")
            return self.data(3 * self.n_points, word("ptype"))
        if g["cells"]:
            count, total = num("nc"), num("csize")
            self.n_cells += max(count - 1, 0) if self.new_cells else count
            return 0 if self.new_cells else self.data(total, "int")
        if g["celltypes"]:
            return self.data(num("nct"), "int")
        if g["dims"]:
            dims = (num("dx"), num("dy"), num("dz"))
            self.n_points = dims[0] * dims[1] * dims[2]
            self.n_cells = max(dims[0] - 1, 1) * max(dims[1] - 1, 1) * max(dims[2] - 1, 1)
            return 0
        if g["coords"]:
            return self.data(num("ncoord"), word("ctype"))
        if g["attr"]:
            self.current = num("nattr")
            return 0
        if g["scalars"]:
            self.pending = (self.current * max(num("scomp"), 1), word("stype"))
            return 0
        if g["lut"]:
            if g["lsize"] is not None:
                return self.data(4 * num("lsize"), "float" if not self.binary else "unsigned_char")
            values, type_name = self.pending
            self.pending = (0, "float")
            return self.data(values, type_name)
        if g["color"]:
            return self.data(self.current * num("ccomp"), "float" if not self.binary else "unsigned_char")
        if g["vectors"]:
            return self.data(3 * self.current, word("vtype"))
        if g["tensors"]:
            return self.data((6 if g["tensors"] == b"TENSORS6" else 9) * self.current, word("ttype"))
        if g["tcoords"]:
            return self.data(self.current * num("tdim"), word("tctype"))
        if g["farray"]:
            return self.data(num("fcomp") * num("ftuples"), word("ftype"))
        return 0


def check_legacy_header(path: Path) -> LegacyHeader:
    """Validate a legacy ``.vtk`` file's first lines and every count its section lines claim."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(1024)
    lines = head.split(b"\n", 4)
    if not head.startswith(b"# vtk DataFile Version") or len(lines) < 4:
        raise UnreadableFileError(f"{path.name}: not a legacy VTK file (no '# vtk DataFile Version' line)")
    version = lines[0][len(b"# vtk DataFile Version") :].strip().decode("ascii", "replace")
    mode = lines[2].strip().upper()
    if mode not in (b"ASCII", b"BINARY"):
        raise UnreadableFileError(f"{path.name}: third line must be ASCII or BINARY, not {mode[:20]!r}")
    binary = mode == b"BINARY"
    match = re.search(rb"^DATASET[ \t]+(\w+)", b"\n".join(lines[3:]), re.MULTILINE)
    if match is None:
        raise UnreadableFileError(f"{path.name}: no DATASET line after the header")
    dataset = match.group(1).decode("ascii").upper()
    if dataset not in LEGACY_DATASETS:
        raise UnreadableFileError(f"{path.name}: unsupported legacy DATASET {dataset!r}")
    new_cells = _major(version) >= 5
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        n_points, n_cells, need = _legacy_claims(data, binary, new_cells)
    if need > size + 1:
        raise UnreadableFileError(
            f"{path.name}: claims {n_points:,} points and {n_cells:,} cells, which need at least {need:,} bytes, "
            f"but the file is {size:,} bytes (truncated or forged header)"
        )
    _check_counts(path, n_points, n_cells)
    return LegacyHeader(version, binary, dataset, n_points, n_cells)


def _major(version: str) -> int:
    head = version.split(".")[0]
    return int(head) if head.isdigit() else 0


def _legacy_claims(data: mmap.mmap, binary: bool, new_cells: bool) -> tuple[int, int, int]:
    """(points, cells, fewest bytes the data can take) from every section line, in file order.

    In binary files the walk jumps over each section's data when its size is exact, so it costs
    a few searches, not a scan of the whole file; ASCII files are scanned line by line.
    """
    walk = _LegacyWalk(binary, new_cells)
    position = 0
    while (m := _LEGACY_LINE.search(data, position)) is not None:
        if m.group("offsets") and new_cells:
            # OFFSETS/CONNECTIVITY follow "CELLS n_offsets n_connectivity": sized by that line
            n = walk.last_cells[0 if m.group("offsets") == b"OFFSETS" else 1]
            skip = walk.data(n, m.group("otype").decode("ascii", "replace"))
        else:
            skip = walk.line(m.groupdict())
            if m.group("cells"):
                walk.last_cells = (int(m.group("nc")), int(m.group("csize")))
        position = m.end() + skip
    return walk.n_points, walk.n_cells, walk.need


# ------------------------------------------------------------------------------- defused XML, paths


def _defused_parser(path: Path) -> Any:
    """An expat parser that refuses entity declarations and external entities (billion laughs, XXE)."""
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def refuse(*_: object) -> None:
        raise UnreadableFileError(f"{path.name}: XML entity declarations are not allowed")

    def refuse_external(*_: object) -> int:
        raise UnreadableFileError(f"{path.name}: XML external entities are not allowed")

    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse_external
    return parser


def _feed(parser: Any, path: Path, data: bytes, final: bool) -> None:
    try:
        parser.Parse(data, final)
    except expat.ExpatError as exc:
        reason = expat.ErrorString(exc.code) if exc.code else str(exc)
        raise UnreadableFileError(
            f"{path.name}: malformed XML at line {exc.lineno}, column {exc.offset} ({reason})"
        ) from None


def parse_xml(path: Path) -> ET.Element:
    """The element tree of a small XML file (an index, an XDMF light-data file), parsed defused."""
    builder = ET.TreeBuilder()
    parser = _defused_parser(path)
    start: Callable[[str, dict[str, str]], Any] = builder.start
    parser.StartElementHandler = start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    parser.buffer_text = True
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            _feed(parser, path, chunk, False)
    _feed(parser, path, b"", True)
    root: ET.Element = builder.close()
    return root


def check_vtk_index(path: Path, root: ET.Element, expected_type: str) -> None:
    """An index file (``.pvd``, ``.vtm``) must be a ``VTKFile`` of the expected type."""
    if root.tag != "VTKFile":
        raise UnreadableFileError(f"{path.name}: root element is <{root.tag}>, not <VTKFile>")
    found = root.get("type", "")
    if found != expected_type:
        raise UnreadableFileError(f"{path.name}: VTKFile type is {found or '(none)'!r}, expected {expected_type!r}")


def contained_file(owner: Path, reference: str, what: str) -> Path:
    """The file ``reference`` names, relative to ``owner``'s folder, refusing any way out of that folder.

    Absolute paths, drive letters, ``..`` components and symlinks that resolve elsewhere are refused
    with :class:`UnreadableFileError`, as is a missing file.
    """
    text = reference.strip()
    posix, windows = PurePosixPath(text.replace("\\", "/")), PureWindowsPath(text)
    if not text or posix.is_absolute() or windows.drive or windows.root:
        raise UnreadableFileError(f"{owner.name}: {what} {reference!r} is not a relative path inside its folder")
    if ".." in posix.parts:
        raise UnreadableFileError(f"{owner.name}: {what} {reference!r} leaves the folder of {owner.name} ('..')")
    folder = owner.parent.resolve()
    target = (folder / Path(*posix.parts)).resolve()
    if not target.is_relative_to(folder):
        raise UnreadableFileError(f"{owner.name}: {what} {reference!r} resolves outside the folder of {owner.name}")
    if not target.is_file():
        raise UnreadableFileError(f"{owner.name}: {what} {reference!r} does not exist")
    return target
