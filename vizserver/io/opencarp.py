"""openCARP meshes (``NAME.pts`` + ``NAME.elem`` [+ ``NAME.lon``]) and their ``.igb`` time series.

* ``NAME.pts``: the point count on the first line, then ``x y z`` per line. openCARP works in
  micrometres; values are kept as written (no unit conversion).
* ``NAME.elem``: the element count, then ``Tt n1 n2 n3 n4 tag`` per line (``Ln``, ``Tr``, ``Qd``,
  ``Tt``, ``Py``, ``Pr``, ``Hx``); indices are 0-based; the trailing region tag becomes the cell
  field ``region``. Node order is passed through unchanged.
* ``NAME.lon`` (optional): ``1`` (fibres) or ``2`` (fibres and sheets) on the first line, then 3
  or 6 numbers per element: cell fields ``fibres`` and ``sheets``.
* ``*.igb`` in the same folder whose ``x`` equals the point count (or the element count) are
  attached as a :class:`TimeSeries`, one field per file named after its stem (``vm.igb`` ->
  ``vm``), sharing the time axis of the group with the most files (``vm`` breaks ties).
  Reading an ``.igb`` directly finds the one ``.pts`` in its folder with a matching point count.

Reading either ``NAME.pts`` or ``NAME.elem`` reads the whole triple. Parsing is vectorised:
whole-file splits and numpy conversions, no per-line Python.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import numpy.typing as npt

from vizserver.config import limits
from vizserver.errors import InvalidGeometryError, LimitExceededError, UnreadableFileError
from vizserver.io.igb import IgbFrames, IgbHeader, looks_like_igb, read_header
from vizserver.io.registry import ReaderSpec, check_size, register
from vizserver.model import (
    Association,
    CellBlock,
    CellKind,
    Field,
    Scene,
    SceneObject,
    StepFields,
    StepSequence,
    TimeSeries,
    UnstructuredMesh,
)

ELEMENT_TYPES: dict[bytes, tuple[CellKind, int]] = {
    b"Ln": ("line", 2), b"Tr": ("triangle", 3), b"Qd": ("quad", 4), b"Tt": ("tetra", 4),
    b"Py": ("pyramid", 5), b"Pr": ("wedge", 6), b"Hx": ("hexahedron", 8),
}
"""openCARP element code -> (our cell kind, node count)."""

LENGTH_UNIT = "um"
"""openCARP coordinates are micrometres by convention; values are kept as written."""

_MIN_POINT_LINE_BYTES = 6  # "0 0 0\n"
_MIN_ELEMENT_LINE_BYTES = 7  # "Ln 0 1\n"


def read_opencarp(path: Path) -> Scene:
    """Read ``NAME.pts``/``NAME.elem`` (and ``NAME.lon``, sibling ``.igb`` files) into a Scene."""
    suffix = path.suffix.lower()
    if suffix == ".igb" or (suffix not in (".pts", ".elem") and looks_like_igb(_head(path))):
        return read_igb(path)
    stem = path.with_suffix("")
    is_elem = suffix == ".elem" or (suffix != ".pts" and _head(path).split(b"\n", 2)[1][:2] in ELEMENT_TYPES)
    pts = stem.with_suffix(".pts") if is_elem else path
    elem = path if is_elem else stem.with_suffix(".elem")
    mesh, order = load_mesh(pts, elem, stem.with_suffix(".lon"))
    series = _series_for(mesh, order, _igb_headers(path.parent))
    data: UnstructuredMesh | TimeSeries = mesh if series is None else series
    active = None if series is None else series.field_names[0]
    return Scene(title=stem.name, objects=(SceneObject(name=stem.name, data=data, active_field=active),))


def read_igb(path: Path) -> Scene:
    """Read ``NAME.igb`` on the one openCARP mesh in its folder whose point count matches ``x``."""
    header = read_header(path)
    candidates = [pts for pts in sorted(path.parent.glob("*.pts")) if _count_line(pts) == header.values_per_step]
    if not candidates:
        raise UnreadableFileError(
            f"{path.name}: no openCARP mesh (.pts) in its folder has {header.values_per_step:,} points; "
            "put the .igb next to its mesh"
        )
    if len(candidates) > 1:
        names = ", ".join(p.name for p in candidates)
        raise UnreadableFileError(f"{path.name}: several meshes in its folder match ({names}); read the mesh instead")
    pts = candidates[0]
    mesh, order = load_mesh(pts, pts.with_suffix(".elem"), pts.with_suffix(".lon"))
    headers = {p: h for p, h in _igb_headers(path.parent).items() if h.same_time_axis(header)}
    headers[path] = header
    series = _series_for(mesh, order, headers, prefer=path)
    assert series is not None
    return Scene(
        title=path.stem,
        objects=(SceneObject(name=pts.stem, data=series, active_field=path.stem),),
    )


def read_mesh(pts: Path, elem: Path, lon: Path) -> UnstructuredMesh:
    """The mesh of an openCARP triple; ``lon`` is optional (skipped when absent)."""
    return load_mesh(pts, elem, lon)[0]


def load_mesh(pts: Path, elem: Path, lon: Path) -> tuple[UnstructuredMesh, npt.NDArray[np.int64]]:
    """The mesh and ``order``: the file index of each cell (cells are grouped into blocks by type)."""
    for required in (pts, elem):
        if not required.is_file():
            raise UnreadableFileError(f"{required.name}: missing (an openCARP mesh needs {pts.name} and {elem.name})")
        check_size(required)
    points = parse_points(pts.read_bytes(), pts.name)
    kinds, conn, order, tags = parse_elements(elem.read_bytes(), elem.name, len(points))
    cell_fields: dict[str, Field] = {}
    if tags is not None:
        cell_fields["region"] = Field("region", tags[order].astype(np.float32), "cell")
    if lon.is_file():
        check_size(lon)
        for name, values in parse_fibres(lon.read_bytes(), lon.name, len(order)).items():
            cell_fields[name] = Field(name, values[order], "cell")
    blocks = tuple(CellBlock(kind, c) for kind, c in zip(kinds, conn, strict=True))
    return UnstructuredMesh(points=points, blocks=blocks, cell_fields=cell_fields), order


def parse_points(data: bytes, name: str) -> npt.NDArray[np.float32]:
    """``(n, 3)`` float32 from the text of a ``.pts`` file; counts and finiteness are checked."""
    count, body = _count_and_body(data, name, "point", limits().max_points, _MIN_POINT_LINE_BYTES)
    tokens = body.split()
    if len(tokens) < 3 * count:
        raise UnreadableFileError(
            f"{name}: truncated: header says {count:,} points, found {len(tokens) // 3:,}"
        )
    if len(tokens) > 3 * count:
        raise UnreadableFileError(
            f"{name}: {len(tokens) - 3 * count:,} values beyond the {count:,} points the header says "
            "(each line must be 'x y z')"
        )
    try:
        values = np.array(tokens, dtype=np.float64).reshape(count, 3)
    except ValueError as exc:
        raise UnreadableFileError(f"{name}: a coordinate is not a number ({_first_line(exc)})") from None
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        raise InvalidGeometryError(f"{name}: point {int(np.argmax(bad))} has a NaN or infinite coordinate")
    return values.astype(np.float32)


def parse_elements(
    data: bytes, name: str, n_points: int
) -> tuple[list[CellKind], list[npt.NDArray[np.uint32]], npt.NDArray[np.int64], npt.NDArray[np.int64] | None]:
    """Element blocks from the text of an ``.elem`` file.

    Returns the kinds and connectivities of the blocks (in order of first appearance), ``order``
    (file element index of each cell, blocks concatenated) and the region tags in file order
    (``None`` when no element has one; elements without a tag get 0).
    """
    count, body = _count_and_body(data, name, "element", limits().max_cells, _MIN_ELEMENT_LINE_BYTES)
    uniform = _uniform_elements(body, count)
    if uniform is not None:
        kind, nodes, numbers_2d = uniform
        conn_u = numbers_2d[:, :nodes]
        _check_indices(conn_u, np.arange(count), n_points, name)
        tags_u = numbers_2d[:, nodes] if numbers_2d.shape[1] > nodes else None
        return [kind], [conn_u.astype(np.uint32)], np.arange(count, dtype=np.int64), tags_u
    tokens = np.array(body.split())
    if tokens.size == 0:
        raise UnreadableFileError(f"{name}: truncated: header says {count:,} elements, found 0")
    is_code = _code_tokens(tokens)
    starts = np.flatnonzero(is_code)
    if starts.size != count:
        raise UnreadableFileError(f"{name}: truncated: header says {count:,} elements, found {starts.size:,}"
                                  if starts.size < count else
                                  f"{name}: header says {count:,} elements, found {starts.size:,}")
    if starts[0] != 0:
        raise UnreadableFileError(f"{name}: line 2 does not start with an element type (Tt, Tr, Hx, ...)")
    codes = tokens[starts]
    numbers_per = np.diff(np.append(starts, tokens.size)) - 1
    try:
        numbers = tokens[~is_code].astype(np.int64)
    except ValueError as exc:
        raise UnreadableFileError(f"{name}: a node index is not an integer ({_first_line(exc)})") from None
    first_number = np.cumsum(numbers_per) - numbers_per
    tags = np.zeros(count, dtype=np.int64)
    any_tag = False
    kinds: list[CellKind] = []
    blocks: list[npt.NDArray[np.uint32]] = []
    order_parts: list[npt.NDArray[np.int64]] = []
    unique_codes, first_seen = np.unique(codes, return_index=True)
    for code in unique_codes[np.argsort(first_seen)]:
        code_bytes = bytes(code)
        if code_bytes not in ELEMENT_TYPES:
            line = int(np.flatnonzero(codes == code)[0]) + 2
            known = ", ".join(c.decode() for c in ELEMENT_TYPES)
            raise UnreadableFileError(f"{name}: line {line}: unknown element type {code_bytes[:8]!r} (known: {known})")
        kind, nodes = ELEMENT_TYPES[code_bytes]
        members = np.flatnonzero(codes == code)
        extra = numbers_per[members] - nodes
        wrong = (extra < 0) | (extra > 1)
        if wrong.any():
            e = int(members[np.argmax(wrong)])
            raise UnreadableFileError(
                f"{name}: line {e + 2}: {code_bytes.decode()} needs {nodes} node indices and an optional tag, "
                f"found {int(numbers_per[e])} numbers"
            )
        conn = numbers[first_number[members][:, None] + np.arange(nodes)]
        has_tag = extra == 1
        if has_tag.any():
            any_tag = True
            tags[members[has_tag]] = numbers[first_number[members[has_tag]] + nodes]
        _check_indices(conn, members, n_points, name)
        kinds.append(kind)
        blocks.append(conn.astype(np.uint32))
        order_parts.append(members.astype(np.int64))
    return kinds, blocks, np.concatenate(order_parts), (tags if any_tag else None)


def _code_tokens(tokens: npt.NDArray[np.bytes_]) -> npt.NDArray[np.bool_]:
    """Tokens shaped like an element code: an upper-case then a lower-case letter (``Tt``, ``Hx``)."""
    chars = tokens.view(np.uint8).reshape(tokens.size, -1)
    if chars.shape[1] < 2:
        return np.zeros(tokens.size, dtype=np.bool_)
    upper = (chars[:, 0] >= ord("A")) & (chars[:, 0] <= ord("Z"))
    lower = (chars[:, 1] >= ord("a")) & (chars[:, 1] <= ord("z"))
    two = chars[:, 2] == 0 if chars.shape[1] > 2 else np.ones(tokens.size, dtype=np.bool_)
    result: npt.NDArray[np.bool_] = upper & lower & two
    return result


def _uniform_elements(body: bytes, count: int) -> tuple[CellKind, int, npt.NDArray[np.int64]] | None:
    """Fast path for the usual file, every line ``CODE n1 .. nk [tag]`` with one code and one width.

    Returns (kind, nodes, numbers ``(count, nodes [+1])``) or ``None`` when the file is anything
    else (mixed codes or widths, odd spacing, bad numbers): the general parser then reports why.
    """
    first = body.split(b"\n", 1)[0].split()
    if not first or first[0] not in ELEMENT_TYPES:
        return None
    code = first[0]
    kind, nodes = ELEMENT_TYPES[code]
    width = len(first)
    if width - 1 not in (nodes, nodes + 1):
        return None
    if body.count(b"\n" + code + b" ") + int(body.startswith(code + b" ")) != count:
        return None
    raw = np.frombuffer(body, dtype=np.uint8)
    blank = (raw == 32) | (raw == 9) | (raw == 10) | (raw == 13)
    tokens = int(np.count_nonzero(~blank[1:] & blank[:-1])) + int(raw.size > 0 and not blank[0])
    if tokens != count * width:
        return None
    try:
        numbers = np.loadtxt(io.BytesIO(body), usecols=range(1, width), dtype=np.int64, ndmin=2, comments=None)
    except ValueError:
        return None
    return (kind, nodes, numbers) if numbers.shape == (count, width - 1) else None


def _check_indices(
    conn: npt.NDArray[np.int64], elements: npt.NDArray[np.int64], n_points: int, name: str
) -> None:
    """Refuse node indices outside the point range, naming the first element that has one."""
    out_of_range = (conn < 0) | (conn >= n_points)
    if out_of_range.any():
        row = int(np.argmax(out_of_range.any(axis=1)))
        raise InvalidGeometryError(
            f"{name}: element {int(elements[row])} refers to node {int(conn[row][out_of_range[row]][0])}, "
            f"outside 0..{n_points - 1}"
        )


def parse_fibres(data: bytes, name: str, n_cells: int) -> dict[str, npt.NDArray[np.float32]]:
    """``fibres`` (and ``sheets``) ``(n_cells, 3)`` from a ``.lon`` file (header line optional)."""
    first_line, _, rest = data.partition(b"\n")
    head = first_line.split()
    if len(head) == 1:
        try:
            directions = int(head[0])
        except ValueError:
            raise UnreadableFileError(f"{name}: first line {head[0][:20]!r} is not 1 or 2") from None
        body = rest
    else:  # old files: no header line, 3 or 6 numbers per line
        directions = 2 if len(head) == 6 else 1
        body = data
    if directions not in (1, 2):
        raise UnreadableFileError(f"{name}: first line says {directions} fibre directions; expected 1 or 2")
    width = 3 * directions
    tokens = body.split()
    if len(tokens) != width * n_cells:
        raise UnreadableFileError(
            f"{name}: expected {n_cells:,} elements of {width} numbers, found {len(tokens) / width:,.1f}"
        )
    try:
        values = np.array(tokens, dtype=np.float64).reshape(n_cells, width)
    except ValueError as exc:
        raise UnreadableFileError(f"{name}: a fibre component is not a number ({_first_line(exc)})") from None
    directions_f32 = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)
    out = {"fibres": directions_f32[:, :3]}
    if directions == 2:
        out["sheets"] = directions_f32[:, 3:]
    return out


class IgbSteps(StepSequence):
    """The time steps of several ``.igb`` files on one mesh: step ``i`` reads frame ``i`` of each."""

    __slots__ = ("association", "frames", "order", "units")

    def __init__(
        self, frames: Mapping[str, IgbFrames], association: Association, order: npt.NDArray[np.int64] | None = None
    ) -> None:
        self.frames = dict(frames)
        self.association: Association = association
        self.order = order
        self.units = {name: f.header.unit for name, f in self.frames.items()}

    def __len__(self) -> int:
        return len(next(iter(self.frames.values()))) if self.frames else 0

    def load(self, index: int) -> StepFields:
        fields: dict[str, Field] = {}
        for name, frames in self.frames.items():
            values = frames[index]
            ordered = values if self.order is None else values[self.order]
            fields[name] = Field(name, ordered, self.association, self.units[name])
        return fields


def _series_for(
    mesh: UnstructuredMesh,
    order: npt.NDArray[np.int64],
    headers: Mapping[Path, IgbHeader],
    prefer: Path | None = None,
) -> TimeSeries | None:
    """The mesh with the ``.igb`` files that fit it (by point count, else cell count) as a series."""
    association: Association = "point"
    fitting = {p: h for p, h in headers.items() if h.values_per_step == mesh.n_points}
    if not fitting:
        association = "cell"
        fitting = {p: h for p, h in headers.items() if h.values_per_step == mesh.n_cells}
    if not fitting:
        return None
    groups: list[list[Path]] = []
    for p in sorted(fitting):
        for group in groups:
            if fitting[group[0]].same_time_axis(fitting[p]):
                group.append(p)
                break
        else:
            groups.append([p])
    if prefer is not None:
        chosen = next(g for g in groups if prefer in g)
    else:
        chosen = max(groups, key=lambda g: (len(g), any(p.stem == "vm" for p in g)))
    chosen.sort(key=lambda p: (p != prefer, p.stem != "vm", p.stem))
    head = fitting[chosen[0]]
    frames = {p.stem: IgbFrames(p, fitting[p]) for p in chosen}
    permutation = order if association == "cell" and np.any(order != np.arange(order.size)) else None
    return TimeSeries(geometry=mesh, times=head.times(), steps=IgbSteps(frames, association, permutation),
                      time_unit=head.time_unit)


def _igb_headers(folder: Path) -> dict[Path, IgbHeader]:
    """Headers of the readable ``.igb`` files in ``folder``; an unreadable one is an error naming it."""
    headers: dict[Path, IgbHeader] = {}
    for p in sorted(folder.glob("*.igb")):
        check_size(p)
        headers[p] = read_header(p)
    return headers


def _head(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read(4096)


def _count_line(path: Path) -> int | None:
    """The integer on the first line of ``path`` (a ``.pts`` point count), ``None`` if there is none."""
    with path.open("rb") as f:
        line = f.readline(64).split()
    try:
        return int(line[0]) if len(line) == 1 else None
    except ValueError:
        return None


def _count_and_body(data: bytes, name: str, what: str, limit: int, min_line_bytes: int) -> tuple[int, bytes]:
    """The count on the first line and the rest, after checking the count against limit and size."""
    first, _, body = data.partition(b"\n")
    head = first.split()
    if len(head) != 1:
        raise UnreadableFileError(f"{name}: first line must be the {what} count, found {first[:40]!r}")
    try:
        count = int(head[0])
    except ValueError:
        raise UnreadableFileError(f"{name}: first line must be the {what} count, found {first[:40]!r}") from None
    if count < 1:
        raise UnreadableFileError(f"{name}: {what} count is {count}")
    if count > limit:
        raise LimitExceededError(f"{name}: {count:,} {what}s is over the {limit:,} limit")
    if count * min_line_bytes > len(body) + 1:
        found = body.count(b"\n") + (0 if body.endswith(b"\n") or not body else 1)
        raise UnreadableFileError(f"{name}: truncated: header says {count:,} {what}s, found {found:,} lines")
    return count, body


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0][:80] if str(exc) else type(exc).__name__


def sniff(head: bytes) -> bool:
    """An openCARP file start: an IGB header, or a lone count then ``x y z`` or an element line.

    Lenient past the signature (the parser gives the precise errors); a Leica ``.pts`` point cloud
    (4 or 7 columns) does not match.
    """
    if looks_like_igb(head):
        return True
    lines = head.split(b"\n", 2)
    first = lines[0].split()
    if len(first) != 1 or not first[0].isdigit():
        return False
    second = lines[1].split() if len(lines) > 1 else []
    if not second:
        return True
    if second[0] in ELEMENT_TYPES:
        return True
    if len(second) != 3:
        return False
    try:
        [float(v) for v in second]
    except ValueError:
        return False
    return True


register(ReaderSpec(
    name="openCARP",
    suffixes=(".pts", ".elem", ".igb"),
    read=read_opencarp,
    sniff=sniff,
    description="openCARP mesh (.pts + .elem [+ .lon]) with .igb time series found beside it",
))
