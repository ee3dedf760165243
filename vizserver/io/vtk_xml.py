"""VTK XML files: ``.vtu .vtp .vti .vts .vtr``, their parallel forms ``.pvtu .pvtp .pvti .pvts .pvtr``, ``.vtm``.

Every file is header-checked (:mod:`vizserver.io.vtk_header`) before VTK reads it, and every reader
runs isolated (VTK can crash on hostile input). A parallel file's pieces are merged by VTK into one
object; each piece's ``Source`` must stay inside the parallel file's folder. A ``.vtm`` multiblock
is walked here, not by VTK, so every leaf file is checked the same way: one scene object per leaf,
named by its block names joined with ``/`` (``heart/lv``); empty blocks are skipped.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyvista as pv
from vtkmodules import vtkIOXML

from vizserver.config import limits
from vizserver.errors import LimitExceededError, UnreadableFileError, UnsupportedFormatError
from vizserver.io.registry import ReaderSpec, register
from vizserver.io.vtk_dataset import checked, object_data, run_reader
from vizserver.io.vtk_header import check_vtk_index, check_xml_header, contained_file, parse_xml
from vizserver.model import Scene, SceneObject

SERIAL: dict[str, tuple[str, Callable[[], Any]]] = {
    ".vtu": ("UnstructuredGrid", vtkIOXML.vtkXMLUnstructuredGridReader),
    ".vtp": ("PolyData", vtkIOXML.vtkXMLPolyDataReader),
    ".vti": ("ImageData", vtkIOXML.vtkXMLImageDataReader),
    ".vts": ("StructuredGrid", vtkIOXML.vtkXMLStructuredGridReader),
    ".vtr": ("RectilinearGrid", vtkIOXML.vtkXMLRectilinearGridReader),
}
"""Serial XML suffix -> (VTKFile type, VTK reader class)."""

PARALLEL: dict[str, tuple[str, str, Callable[[], Any]]] = {
    ".pvtu": ("PUnstructuredGrid", ".vtu", vtkIOXML.vtkXMLPUnstructuredGridReader),
    ".pvtp": ("PPolyData", ".vtp", vtkIOXML.vtkXMLPPolyDataReader),
    ".pvti": ("PImageData", ".vti", vtkIOXML.vtkXMLPImageDataReader),
    ".pvts": ("PStructuredGrid", ".vts", vtkIOXML.vtkXMLPStructuredGridReader),
    ".pvtr": ("PRectilinearGrid", ".vtr", vtkIOXML.vtkXMLPRectilinearGridReader),
}
"""Parallel XML suffix -> (VTKFile type, piece suffix, VTK reader class)."""

MULTIBLOCK_TYPE = "vtkMultiBlockDataSet"


def check_xml_file(path: Path) -> None:
    """Header-check a serial or parallel XML file (and a parallel file's pieces) without VTK."""
    suffix = path.suffix.lower()
    if suffix in SERIAL:
        check_xml_header(path, SERIAL[suffix][0])
    elif suffix in PARALLEL:
        vtk_type, piece_suffix, _ = PARALLEL[suffix]
        _check_pieces(path, check_xml_header(path, vtk_type).sources, piece_suffix)
    else:
        raise UnsupportedFormatError(f"{path.name}: {suffix!r} is not a VTK XML dataset suffix")


def read_xml_dataset(path: Path) -> pv.DataSet:
    """One checked dataset from a serial or parallel XML file (parallel pieces merged by VTK)."""
    check_xml_file(path)
    suffix = path.suffix.lower()
    reader = SERIAL[suffix][1] if suffix in SERIAL else PARALLEL[suffix][2]
    return checked(run_reader(reader(), path), path)


def _check_pieces(path: Path, sources: tuple[str, ...], piece_suffix: str) -> None:
    """Each piece stays in the folder, has the serial suffix and a sound header; totals within limits."""
    if not sources:
        raise UnreadableFileError(f"{path.name}: parallel file lists no <Piece Source=...>")
    vtk_type = SERIAL[piece_suffix][0]
    points = cells = 0
    for source in sources:
        piece = contained_file(path, source, "piece")
        if piece.suffix.lower() != piece_suffix:
            raise UnreadableFileError(f"{path.name}: piece {source!r} is not a {piece_suffix} file")
        header = check_xml_header(piece, vtk_type)
        points, cells = points + header.n_points, cells + header.n_cells
    lim = limits()
    if points > lim.max_points or cells > lim.max_cells:
        raise LimitExceededError(
            f"{path.name}: pieces hold {points:,} points and {cells:,} cells, over the limits "
            f"({lim.max_points:,} points, {lim.max_cells:,} cells)"
        )


def read_xml(path: Path) -> Scene:
    """A serial or parallel XML file as a scene of one object named after the file."""
    data = object_data(read_xml_dataset(path), path)
    return Scene(path.stem, (SceneObject(path.stem, data),))


def read_multiblock(path: Path) -> Scene:
    """A ``.vtm``: one object per non-empty leaf, read and checked like a file of its own."""
    root = parse_xml(path)
    check_vtk_index(path, root, MULTIBLOCK_TYPE)
    body = root.find(MULTIBLOCK_TYPE)
    if body is None:
        raise UnreadableFileError(f"{path.name}: no <{MULTIBLOCK_TYPE}> element")
    objects: list[SceneObject] = []
    taken: set[str] = set()
    for name, reference in _leaves(body, ()):
        leaf = contained_file(path, reference, "block file")
        if leaf.suffix.lower() not in SERIAL and leaf.suffix.lower() not in PARALLEL:
            raise UnsupportedFormatError(f"{path.name}: block file {reference!r} is not a VTK XML dataset")
        unique = _unique(name, taken)
        objects.append(SceneObject(unique, object_data(read_xml_dataset(leaf), leaf)))
    if not objects:
        raise UnreadableFileError(f"{path.name}: multiblock has no non-empty blocks")
    return Scene(path.stem, tuple(objects))


def _leaves(element: ET.Element, names: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    """(joined name, file) for every ``DataSet`` with a file, depth first in file order."""
    for position, child in enumerate(element):
        index = child.get("index", str(position))
        if child.tag == "DataSet":
            reference = child.get("file")
            if reference:
                label = child.get("name") or Path(reference).stem
                yield "/".join((*names, label)), reference
        elif child.tag in ("Block", "Piece"):
            label = child.get("name") or f"{child.tag.lower()}{index}"
            yield from _leaves(child, (*names, label))


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name} ({n})", n + 1
    taken.add(candidate)
    return candidate


def _sniffer(vtk_type: str) -> Callable[[bytes], bool]:
    pattern = re.compile(rb"<VTKFile\b[^>]*\btype\s*=\s*[\"']" + vtk_type.encode() + rb"[\"']")
    return lambda head: pattern.search(head) is not None


for _suffix, (_type, _) in SERIAL.items():
    register(
        ReaderSpec(
            name=f"VTK XML {_type}",
            suffixes=(_suffix,),
            read=read_xml,
            sniff=_sniffer(_type),
            isolated=True,
            description=f"VTK XML {_type} ({_suffix}): ascii, binary, appended, compressed",
        )
    )
for _suffix, (_type, _piece, _) in PARALLEL.items():
    register(
        ReaderSpec(
            name=f"VTK XML {_type}",
            suffixes=(_suffix,),
            read=read_xml,
            sniff=_sniffer(_type),
            isolated=True,
            description=f"parallel VTK XML ({_suffix}): its {_piece} pieces merged into one object",
        )
    )
register(
    ReaderSpec(
        name="VTK XML multiblock",
        suffixes=(".vtm",),
        read=read_multiblock,
        sniff=_sniffer(MULTIBLOCK_TYPE),
        isolated=True,
        description="VTK multiblock (.vtm): one object per leaf block, named by block names joined with '/'",
    )
)
