"""XDMF (``.xdmf``, ``.xmf``): light XML that describes meshes, heavy data inline or in HDF5 files.

Our own parser over a defused XML tree and h5py, not meshio's reader: we need what meshio does not
offer — refusing entity declarations, keeping every ``file.h5:/path`` inside the XDMF file's folder,
checking every claimed shape against the limits and the stored dataset before reading it, and
reading a temporal collection's steps lazily, one HDF5 dataset at a time.

Supported: ``Uniform`` grids, ``Collection`` grids (``Temporal`` -> one :class:`TimeSeries`;
``Spatial`` -> one object per member), ``Topology`` Triangle, Quadrilateral, Tetrahedron, Pyramid,
Wedge, Hexahedron, their quadratic forms (corner nodes kept), Polyvertex/Polyline/Polygon with
fixed small node counts, and ``Mixed``; ``Geometry`` XYZ, XY, X_Y_Z; ``Attribute`` Scalar, Vector,
Tensor, Tensor6, Matrix on Node or Cell; ``DataItem`` formats XML and HDF. A step grid without its
own Topology/Geometry (meshio and FEniCS write an ``xi:include``) uses the grid its include names
(``Grid[@Name="..."]``) or else the previous step's. Times come from each step's
``<Time Value=...>`` or the collection's ``<Time>`` list or hyperslab.

Heavy data totalling at most ``EAGER_SERIES_BYTES`` is read in the isolated child; larger temporal
collections carry :class:`XdmfSteps`, which read a step's datasets with h5py when indexed (the
child already checked that each exists with the declared shape).
"""

from __future__ import annotations

import re
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from vizserver.config import limits
from vizserver.errors import InvalidGeometryError, LimitExceededError, UnreadableFileError, UnsupportedFormatError
from vizserver.io.registry import ReaderSpec, register
from vizserver.io.series import EAGER_SERIES_BYTES
from vizserver.io.vtk_header import contained_file, parse_xml
from vizserver.model import (
    NODES_PER_CELL,
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

TOPOLOGY_KINDS: dict[str, CellKind] = {
    "triangle": "triangle", "quadrilateral": "quad", "tetrahedron": "tetra", "pyramid": "pyramid",
    "wedge": "wedge", "hexahedron": "hexahedron", "edge_3": "line", "triangle_6": "triangle",
    "quadrilateral_8": "quad", "quadrilateral_9": "quad", "tetrahedron_10": "tetra", "pyramid_13": "pyramid",
    "wedge_15": "wedge", "wedge_18": "wedge", "hexahedron_20": "hexahedron", "hexahedron_24": "hexahedron",
    "hexahedron_27": "hexahedron",
}  # fmt: skip
"""XDMF topology names (lower-case) -> our kind; quadratic cells keep their corner nodes."""

MIXED_IDS: dict[int, tuple[CellKind, int]] = {
    4: ("triangle", 3), 5: ("quad", 4), 6: ("tetra", 4), 7: ("pyramid", 5), 8: ("wedge", 6),
    9: ("hexahedron", 8), 34: ("line", 3), 35: ("quad", 9), 36: ("triangle", 6), 37: ("quad", 8),
    38: ("tetra", 10), 39: ("pyramid", 13), 40: ("wedge", 15), 41: ("wedge", 18), 48: ("hexahedron", 20),
    49: ("hexahedron", 24), 50: ("hexahedron", 27),
}  # fmt: skip
"""Cell type ids in a Mixed topology -> (kind, nodes stored)."""

MIXED_VARIABLE: dict[int, dict[int, CellKind]] = {1: {1: "vertex"}, 2: {2: "line"}, 3: {3: "triangle", 4: "quad"}}
"""Polyvertex, Polyline, Polygon ids (a node count follows the id) -> the counts we accept."""

MAX_NODES_PER_CELL = 27
"""The most values per point or cell any DataItem needs (a 27-node hexahedron); bounds claimed sizes."""

ATTRIBUTE_COMPONENTS = {"scalar": 1, "vector": 3, "tensor": 9, "tensor6": 6, "matrix": 0}
"""Components per attribute type (0: any)."""

_NUMBER_TYPES = {"float", "int", "uint", "char", "uchar"}


@dataclass(frozen=True, slots=True)
class HeavyData:
    """One HDF5 dataset an XDMF file refers to, already checked to exist with ``shape``."""

    file: Path
    dataset: str
    shape: tuple[int, ...]

    def read(self, owner: str) -> npt.NDArray[Any]:
        try:
            with h5py.File(self.file, "r") as h5:
                node = h5.get(self.dataset)
                if not isinstance(node, h5py.Dataset) or tuple(node.shape) != self.shape:
                    raise UnreadableFileError(f"{owner}: {self.file.name}:{self.dataset} changed since it was checked")
                values: npt.NDArray[Any] = node[()]
        except OSError as exc:
            raise UnreadableFileError(f"{owner}: cannot read {self.file.name}:{self.dataset} ({exc})") from exc
        return values

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * 8


Source = npt.NDArray[Any] | HeavyData
"""Values of a DataItem: parsed inline numbers, or an HDF5 dataset read when needed."""


def _load(source: Source, owner: str) -> npt.NDArray[Any]:
    return source.read(owner) if isinstance(source, HeavyData) else source


def _nbytes(source: Source) -> int:
    return int(source.nbytes)


# ------------------------------------------------------------------------------------ data items


def _data_item(parent: ET.Element, path: Path, index: int = 0) -> Source:
    """The ``index``-th DataItem under ``parent``: inline values parsed now, HDF5 checked and deferred."""
    items = parent.findall("DataItem")
    if len(items) <= index:
        raise UnreadableFileError(f"{path.name}: <{parent.tag}> has no DataItem")
    item = items[index]
    if item.get("ItemType", "Uniform").lower() != "uniform" or item.get("Reference"):
        raise UnsupportedFormatError(f"{path.name}: DataItem ItemType/Reference {item.attrib} is not supported")
    number_type = item.get("NumberType", item.get("DataType", "Float")).lower()
    if number_type not in _NUMBER_TYPES:
        raise UnsupportedFormatError(f"{path.name}: DataItem number type {number_type!r} is not supported")
    try:
        shape = tuple(int(v) for v in item.get("Dimensions", "").split())
    except ValueError:
        raise UnreadableFileError(f"{path.name}: DataItem Dimensions {item.get('Dimensions')!r}") from None
    count = int(np.prod(shape, dtype=np.int64)) if shape else 0
    if not shape or min(shape) < 0:
        raise UnreadableFileError(f"{path.name}: DataItem needs positive Dimensions, got {item.get('Dimensions')!r}")
    lim = limits()
    if count > MAX_NODES_PER_CELL * max(lim.max_points, lim.max_cells):
        raise LimitExceededError(f"{path.name}: DataItem of {count:,} values is over the limits")
    text = (item.text or "").strip()
    fmt = item.get("Format", "XML").upper()
    if fmt == "XML":
        values = _parse_numbers(text, count, path)
        return values.reshape(shape)
    if fmt == "HDF":
        return _heavy(text, shape, path)
    raise UnsupportedFormatError(f"{path.name}: DataItem format {fmt!r} is not supported (XML and HDF are)")


def _parse_numbers(text: str, count: int, path: Path) -> npt.NDArray[np.float64]:
    if len(text) + 1 < 2 * count - 1:
        raise UnreadableFileError(f"{path.name}: inline DataItem claims {count:,} values in {len(text):,} characters")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        try:
            values = np.fromstring(text, dtype=np.float64, sep=" ")
        except (ValueError, DeprecationWarning):
            raise UnreadableFileError(f"{path.name}: inline DataItem holds something other than numbers") from None
    if values.size != count:
        raise UnreadableFileError(f"{path.name}: inline DataItem holds {values.size:,} values, not {count:,}")
    return values


def _heavy(text: str, shape: tuple[int, ...], path: Path) -> HeavyData:
    file_part, _, dataset = text.partition(":")
    if not dataset:
        raise UnreadableFileError(f"{path.name}: HDF DataItem {text[:80]!r} is not 'file.h5:/path'")
    file = contained_file(path, file_part, "HDF5 file")
    try:
        with h5py.File(file, "r") as h5:
            node = h5.get(dataset)
            if not isinstance(node, h5py.Dataset):
                raise UnreadableFileError(f"{path.name}: {file_part}:{dataset} is not a dataset")
            if node.dtype.kind not in "biuf":
                raise UnreadableFileError(f"{path.name}: {file_part}:{dataset} is not numeric ({node.dtype})")
            stored = tuple(int(v) for v in node.shape)
    except OSError as exc:
        raise UnreadableFileError(f"{path.name}: cannot open {file_part} as HDF5 ({exc})") from exc
    if int(np.prod(stored, dtype=np.int64)) != int(np.prod(shape, dtype=np.int64)):
        raise UnreadableFileError(f"{path.name}: {file_part}:{dataset} has shape {stored}, the XDMF says {shape}")
    return HeavyData(file, dataset, stored)


# -------------------------------------------------------------------------------------- topology


@dataclass(frozen=True, slots=True)
class Topology:
    """Cell blocks and the original index of every cell, in block order (to reorder cell fields)."""

    blocks: tuple[CellBlock, ...]
    cell_order: npt.NDArray[np.int64] | None

    @property
    def n_cells(self) -> int:
        return sum(len(b) for b in self.blocks)


def _topology(element: ET.Element, n_points: int, path: Path) -> Topology:
    name = element.get("TopologyType", element.get("Type", "")).lower()
    declared = element.get("NumberOfElements") or (element.get("Dimensions") or "").split(" ")[0]
    flat = np.asarray(_load(_data_item(element, path), path.name))
    if flat.size and not np.isfinite(flat).all():
        raise InvalidGeometryError(f"{path.name}: topology holds NaN or infinite indices")
    ints = flat.astype(np.int64).ravel()
    if name == "mixed":
        topology = _mixed(ints, path)
    else:
        kind, nodes = _fixed_kind(name, element.get("NodesPerElement"), path)
        if ints.size % nodes:
            raise UnreadableFileError(f"{path.name}: {ints.size:,} topology values are not a multiple of {nodes}")
        corners = NODES_PER_CELL[kind]
        topology = Topology((CellBlock(kind, ints.reshape(-1, nodes)[:, :corners].astype(np.uint32)),), None)
        if ints.size and (ints.min() < 0 or ints.max() >= n_points):
            _out_of_range(ints, n_points, path)
    if declared.isdigit() and int(declared) != topology.n_cells:
        raise UnreadableFileError(f"{path.name}: topology declares {declared} cells but holds {topology.n_cells:,}")
    return topology


def _fixed_kind(name: str, nodes_attr: str | None, path: Path) -> tuple[CellKind, int]:
    nodes = int(nodes_attr) if nodes_attr and nodes_attr.isdigit() else 0
    if name in TOPOLOGY_KINDS:
        kind = TOPOLOGY_KINDS[name]
        stored = int(name.split("_")[1]) if "_" in name else NODES_PER_CELL[kind]
        return kind, stored
    variable = {"polyvertex": 1, "polyline": 2, "polygon": 3}.get(name)
    if variable is not None and nodes in MIXED_VARIABLE[variable]:
        return MIXED_VARIABLE[variable][nodes], nodes
    raise UnsupportedFormatError(f"{path.name}: topology {name or '(none)'!r} with {nodes} nodes is not supported")


def _out_of_range(ints: npt.NDArray[np.int64], n_points: int, path: Path) -> None:
    wrong = int(ints.min()) if ints.min() < 0 else int(ints.max())
    raise InvalidGeometryError(
        f"{path.name}: topology refers to point {wrong:,} but there are {n_points:,} points (index out of range)"
    )


def _mixed(flat: npt.NDArray[np.int64], path: Path) -> Topology:
    """Split a Mixed topology ``[id, nodes..., id, nodes...]`` into blocks without a per-cell loop.

    Every position gets the position the next cell would start at if a cell started there; the
    chain from 0 is then enumerated by pointer doubling (log2(cells) whole-array rounds).
    """
    n = int(flat.size)
    if n == 0:
        return Topology((), None)
    stored = np.full(64, -1, dtype=np.int64)
    for code, (_, nodes) in MIXED_IDS.items():
        stored[code] = nodes
    codes = np.where((flat >= 0) & (flat < 64), flat, 0)
    variable = np.isin(codes, tuple(MIXED_VARIABLE))
    following = np.append(flat[1:], -1)
    step = np.where(variable, 2 + following, 1 + stored[codes])
    bad = (step <= 1) | (variable & (following < 1))
    jump = np.where(bad, n + 1, np.minimum(np.arange(n) + step, n + 1))
    jump = np.append(jump, [n, n + 1])
    on_chain = np.zeros(n + 2, dtype=bool)  # positions where a cell starts (plus the end markers)
    on_chain[0] = True
    reached = np.zeros(1, dtype=np.int64)  # after round k: the first 2^k chain elements; jump = next^(2^k)
    while True:
        ahead = jump[reached]
        ahead = ahead[~on_chain[ahead]]
        if not ahead.size:
            break
        on_chain[ahead] = True
        reached = np.concatenate([reached, ahead])
        jump = jump[jump]
    starts = np.flatnonzero(on_chain[:n])
    if on_chain[n + 1]:
        at = int(starts[-1])
        raise UnreadableFileError(f"{path.name}: Mixed topology is malformed at value {at:,} (cell id {flat[at]})")
    ids = flat[starts]
    counts = np.where(variable[starts], following[starts], stored[np.clip(ids, 0, 63)])
    groups: dict[CellKind, list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]] = {}
    for key in np.unique(ids + 64 * counts).tolist():  # ids < 64: one key per (id, node count)
        code, count = int(key) % 64, int(key) // 64
        kind = MIXED_VARIABLE[code].get(count) if code in MIXED_VARIABLE else MIXED_IDS[code][0]
        if kind is None:
            raise UnsupportedFormatError(f"{path.name}: Mixed cell id {code} with {count} nodes is not supported")
        index = np.flatnonzero((ids == code) & (counts == count))
        first = starts[index] + (2 if code in MIXED_VARIABLE else 1)
        groups.setdefault(kind, []).append((index, flat[first[:, None] + np.arange(NODES_PER_CELL[kind])]))
    blocks: list[CellBlock] = []
    order: list[npt.NDArray[np.int64]] = []
    for kind in sorted(groups, key=list(NODES_PER_CELL).index):  # one block per kind, in a fixed kind order
        index = np.concatenate([i for i, _ in groups[kind]])
        blocks.append(CellBlock(kind, np.concatenate([c for _, c in groups[kind]]).astype(np.uint32)))
        order.append(index)
    return Topology(tuple(blocks), np.concatenate(order))


def _check_blocks(topology: Topology, n_points: int, path: Path) -> None:
    for block in topology.blocks:
        if len(block) and int(block.connectivity.max()) >= n_points:
            _out_of_range(block.connectivity.astype(np.int64), n_points, path)


# -------------------------------------------------------------------------------------- geometry


def _geometry(element: ET.Element, path: Path) -> npt.NDArray[np.float32]:
    kind = element.get("GeometryType", element.get("Type", "XYZ")).upper()
    if kind == "X_Y_Z":
        axes = [np.asarray(_load(_data_item(element, path, i), path.name), dtype=np.float64).ravel() for i in range(3)]
        if len({a.size for a in axes}) != 1:
            raise UnreadableFileError(f"{path.name}: X_Y_Z geometry arrays differ in length")
        points = np.stack(axes, axis=1)
    elif kind in ("XYZ", "XY"):
        width = len(kind)
        values = np.asarray(_load(_data_item(element, path), path.name), dtype=np.float64).ravel()
        if values.size % width:
            raise UnreadableFileError(f"{path.name}: {values.size:,} coordinates are not a multiple of {width}")
        points = values.reshape(-1, width)
        if width == 2:
            points = np.hstack([points, np.zeros((points.shape[0], 1))])
    else:
        raise UnsupportedFormatError(f"{path.name}: geometry type {kind!r} is not supported (XYZ, XY, X_Y_Z are)")
    if points.shape[0] > limits().max_points:
        raise LimitExceededError(f"{path.name}: {points.shape[0]:,} points is over the point limit")
    finite = np.isfinite(points).all(axis=1)
    if not finite.all():
        raise InvalidGeometryError(f"{path.name}: {int((~finite).sum()):,} points have NaN or infinite coordinates")
    return points.astype(np.float32)


# ------------------------------------------------------------------------------------ attributes


@dataclass(frozen=True, slots=True)
class FieldSource:
    """An attribute to load: its values come from ``source`` (inline array or HDF5 dataset)."""

    name: str
    association: Association
    source: Source
    count: int
    components: int

    def load(self, owner: str, cell_order: npt.NDArray[np.int64] | None) -> Field:
        values = np.asarray(_load(self.source, owner), dtype=np.float32)
        width = self.components or max(values.size // max(self.count, 1), 1)
        if values.size != self.count * width:
            raise UnreadableFileError(
                f"{owner}: attribute {self.name!r} holds {values.size:,} values, not {self.count:,} x {width}"
            )
        values = values.reshape(self.count, width) if width > 1 else values.reshape(self.count)
        if self.association == "cell" and cell_order is not None:
            values = values[cell_order]
        return Field(self.name, values, self.association)


def _attributes(grid: ET.Element, n_points: int, n_cells: int, path: Path) -> tuple[FieldSource, ...]:
    sources: list[FieldSource] = []
    for element in grid.findall("Attribute"):
        center = element.get("Center", "Node").lower()
        if center not in ("node", "cell"):
            continue  # Grid/Face/Edge-centred values have nothing to attach to
        kind = element.get("AttributeType", element.get("Type", "Scalar")).lower()
        if kind not in ATTRIBUTE_COMPONENTS:
            raise UnsupportedFormatError(f"{path.name}: attribute type {kind!r} is not supported")
        name = element.get("Name") or f"attribute{len(sources)}"
        association: Association = "point" if center == "node" else "cell"
        count = n_points if association == "point" else n_cells
        source = _data_item(element, path)
        components = ATTRIBUTE_COMPONENTS[kind]
        size = int(np.prod(source.shape, dtype=np.int64))
        fits = size == count * components if components else size % max(count, 1) == 0
        if not fits:
            raise UnreadableFileError(
                f"{path.name}: attribute {name!r} has shape {tuple(source.shape)} for {count:,} {association}s"
            )
        sources.append(FieldSource(name, association, source, count, components))
    return tuple(sources)


# ------------------------------------------------------------------------------------------ grids


@dataclass(frozen=True, slots=True)
class _Shape:
    """A grid's geometry and topology, and the elements they came from (to spot a shared mesh)."""

    points: npt.NDArray[np.float32]
    topology: Topology
    key: tuple[str, str]


class _Document:
    """The parsed XDMF tree, with the include targets and a cache of meshes already read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.root = parse_xml(path)
        if self.root.tag != "Xdmf":
            raise UnreadableFileError(f"{path.name}: root element is <{self.root.tag}>, not <Xdmf>")
        self.named = {g.get("Name", ""): g for g in self.root.iter("Grid") if g.get("Name")}
        self.referenced: set[str] = set()
        self.cache: dict[tuple[str, str], _Shape] = {}

    def shape(self, grid: ET.Element, previous: _Shape | None) -> _Shape:
        topology, geometry = grid.find("Topology"), grid.find("Geometry")
        if topology is None or geometry is None:
            target = self._include_target(grid)
            if target is not None:
                topology = topology if topology is not None else target.find("Topology")
                geometry = geometry if geometry is not None else target.find("Geometry")
        if (topology is None or geometry is None) and previous is not None:
            return previous
        if topology is None or geometry is None:
            raise UnreadableFileError(f"{self.path.name}: grid {grid.get('Name', '')!r} has no Topology or Geometry")
        key = (_signature(topology), _signature(geometry))
        if key not in self.cache:
            points = _geometry(geometry, self.path)
            parsed = _topology(topology, points.shape[0], self.path)
            _check_blocks(parsed, points.shape[0], self.path)
            self.cache[key] = _Shape(points, parsed, key)
        return self.cache[key]

    def _include_target(self, grid: ET.Element) -> ET.Element | None:
        for child in grid:
            if child.tag.endswith("include"):
                match = re.search(r"Grid\[@Name=[\"']([^\"']+)[\"']\]", child.get("xpointer", ""))
                if match and match.group(1) in self.named:
                    self.referenced.add(match.group(1))
                    return self.named[match.group(1)]
        return None


def _signature(element: ET.Element) -> str:
    """Identifies a Topology/Geometry by its attributes and DataItems (same HDF path = same data)."""
    items = "|".join(f"{sorted(i.attrib.items())}{(i.text or '').strip()[:200]}" for i in element.iter("DataItem"))
    text = "".join((i.text or "") for i in element.iter("DataItem"))
    return f"{sorted(element.attrib.items())}{items}{len(text)}{hash(text)}"


def _mesh(shape: _Shape, fields: StepFields) -> UnstructuredMesh:
    points = {k: f for k, f in fields.items() if f.association == "point"}
    cells = {k: f for k, f in fields.items() if f.association == "cell"}
    return UnstructuredMesh(shape.points, shape.topology.blocks, points, cells)


def _load_fields(sources: Sequence[FieldSource], owner: str, order: npt.NDArray[np.int64] | None) -> StepFields:
    return {s.name: s.load(owner, order) for s in sources}


@dataclass(frozen=True, slots=True)
class XdmfSteps(StepSequence):
    """The fields of each step of a temporal collection, read from HDF5 when indexed."""

    steps: tuple[tuple[FieldSource, ...], ...]
    cell_order: npt.NDArray[np.int64] | None
    owner: str

    def __len__(self) -> int:
        return len(self.steps)

    def load(self, index: int) -> StepFields:
        return _load_fields(self.steps[index], self.owner, self.cell_order)


def _uniform(doc: _Document, grid: ET.Element, name: str) -> SceneObject:
    shape = doc.shape(grid, None)
    sources = _attributes(grid, shape.points.shape[0], shape.topology.n_cells, doc.path)
    fields = _load_fields(sources, doc.path.name, shape.topology.cell_order)
    return SceneObject(name, _mesh(shape, fields))


def _temporal(doc: _Document, collection: ET.Element, name: str) -> SceneObject:
    members = collection.findall("Grid")
    if not members:
        raise UnreadableFileError(f"{doc.path.name}: temporal collection {name!r} has no grids")
    if len(members) > limits().max_time_steps:
        raise LimitExceededError(f"{doc.path.name}: {len(members):,} steps is over the time-step limit")
    times = _times(doc, collection, members)
    first: _Shape | None = None
    previous: _Shape | None = None
    steps: list[tuple[FieldSource, ...]] = []
    for member in members:
        shape = doc.shape(member, previous)
        first = first or shape
        if shape.key != first.key and not _same_shape(shape, first):
            raise InvalidGeometryError(
                f"{doc.path.name}: step grid {member.get('Name', len(steps))!r} has another mesh than the first step "
                "(changing topology is not supported)"
            )
        steps.append(_attributes(member, first.points.shape[0], first.topology.n_cells, doc.path))
        previous = shape
    assert first is not None
    order = np.argsort(times, kind="stable")
    times, steps = times[order], [steps[i] for i in order]
    if (np.diff(times) <= 0).any():
        raise UnreadableFileError(f"{doc.path.name}: two steps of {name!r} share a time")
    geometry = _mesh(first, {})
    heavy = sum(_nbytes(s.source) for step in steps for s in step)
    lazy = XdmfSteps(tuple(steps), first.topology.cell_order, doc.path.name)
    series = lazy if heavy > EAGER_SERIES_BYTES else tuple(lazy[i] for i in range(len(lazy)))
    return SceneObject(name, TimeSeries(geometry, times, series))


def _same_shape(a: _Shape, b: _Shape) -> bool:
    """Same point count and the same cells (coordinates may differ: later steps' points are not kept)."""
    if a.points.shape != b.points.shape or len(a.topology.blocks) != len(b.topology.blocks):
        return False
    return all(
        x.kind == y.kind and np.array_equal(x.connectivity, y.connectivity)
        for x, y in zip(a.topology.blocks, b.topology.blocks, strict=True)
    )


def _times(doc: _Document, collection: ET.Element, members: list[ET.Element]) -> npt.NDArray[np.float64]:
    values: list[float] = []
    for member in members:
        element = member.find("Time")
        if element is None or element.get("Value") is None:
            break
        try:
            values.append(float(element.get("Value", "")))
        except ValueError:
            raise UnreadableFileError(f"{doc.path.name}: time {element.get('Value')!r} is not a number") from None
    if len(values) != len(members):
        values = _collection_times(doc, collection, len(members))
    times = np.asarray(values, dtype=np.float64)
    if not np.isfinite(times).all():
        raise UnreadableFileError(f"{doc.path.name}: a step time is NaN or infinite")
    return times


def _collection_times(doc: _Document, collection: ET.Element, count: int) -> list[float]:
    element = collection.find("Time")
    if element is None:
        return [float(i) for i in range(count)]
    kind = element.get("TimeType", "List").lower()
    values = np.asarray(_load(_data_item(element, doc.path), doc.path.name), dtype=np.float64).ravel()
    if kind == "hyperslab" and values.size == 3:
        values = values[0] + values[1] * np.arange(count)
    if values.size != count:
        raise UnreadableFileError(f"{doc.path.name}: {values.size} times for {count} steps")
    return [float(v) for v in values]


def read_xdmf(path: Path) -> Scene:
    """An XDMF file: one object per uniform grid or spatial-collection member, one series per temporal one."""
    doc = _Document(path)
    found: list[tuple[str, ET.Element, str]] = []  # (name, grid, kind)
    grids = [grid for domain in doc.root.findall("Domain") for grid in domain.findall("Grid")]
    for index, grid in enumerate(grids):
        default = path.stem if len(grids) == 1 else f"grid{index}"
        _collect(grid, grid.get("Name") or default, found, doc.path)
    objects: list[SceneObject] = []
    temporal = [(n, g) for n, g, k in found if k == "temporal"]
    for name, grid in temporal:
        objects.append(_temporal(doc, grid, name))
    for name, grid, kind in found:
        if kind == "uniform" and not (grid.get("Name") in doc.referenced and temporal):
            objects.append(_uniform(doc, grid, name))
    if not objects:
        raise UnreadableFileError(f"{path.name}: no grids")
    return Scene(path.stem, tuple(objects))


def _collect(grid: ET.Element, name: str, found: list[tuple[str, ET.Element, str]], path: Path) -> None:
    kind = grid.get("GridType", "Uniform").lower()
    if kind == "uniform":
        found.append((name, grid, "uniform"))
    elif kind == "collection" and grid.get("CollectionType", "Spatial").lower() == "temporal":
        found.append((name, grid, "temporal"))
    elif kind == "collection":
        for index, member in enumerate(grid.findall("Grid")):
            _collect(member, f"{name}/{member.get('Name') or f'grid{index}'}", found, path)
    else:
        raise UnsupportedFormatError(f"{path.name}: grid type {kind!r} is not supported")


def sniff_xdmf(head: bytes) -> bool:
    return re.search(rb"<Xdmf[\s>]", head) is not None


register(
    ReaderSpec(
        name="XDMF",
        suffixes=(".xdmf", ".xmf"),
        read=read_xdmf,
        sniff=sniff_xdmf,
        isolated=True,
        description="XDMF 2/3 with inline XML or HDF5 heavy data; temporal collections as time series",
    )
)
