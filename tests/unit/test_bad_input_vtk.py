"""Hostile and broken VTK files: each gives a one-line InputError naming the file, never a crash or a hang."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import pyvista as pv
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vtkmodules import vtkIOXML

import vizserver.io.vtk_legacy  # registers the reader
import vizserver.io.vtk_xml  # noqa: F401  (registers the readers)
from vizserver.errors import (
    InputError,
    InvalidGeometryError,
    LimitExceededError,
    UnreadableFileError,
    UnsupportedFormatError,
)
from vizserver.io import read
from vizserver.io.vtk_header import check_legacy_header, check_xml_header, parse_xml

LEGACY_HEAD = "# vtk DataFile Version 3.0\nforged\nASCII\n"


def write_vtu(grid: pv.UnstructuredGrid, path: Path, compress: bool = False, appended: bool = True) -> Path:
    writer = vtkIOXML.vtkXMLUnstructuredGridWriter()
    writer.SetFileName(str(path))
    writer.SetInputData(grid)
    if appended:
        writer.SetDataModeToAppended()
        writer.EncodeAppendedDataOff()
    else:
        writer.SetDataModeToAscii()
    if compress:
        writer.SetCompressorTypeToZLib()
    else:
        writer.SetCompressorTypeToNone()
    assert writer.Write() == 1
    return path


def grid() -> pv.UnstructuredGrid:
    g = pv.ImageData(dimensions=(8, 8, 8)).triangulate()
    g.point_data["u"] = np.arange(g.n_points, dtype=np.float64)
    return g


def appended_start(data: bytes) -> int:
    return data.index(b"_", data.index(b"<AppendedData")) + 1


def one_line(exc: pytest.ExceptionInfo[InputError], name: str) -> None:
    message = str(exc.value)
    assert message.startswith(f"{name}: ") and "\n" not in message


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("fraction", [0.3, 0.5, 0.9, 0.999])
def test_truncated_appended_vtu(tmp_path: Path, compress: bool, fraction: float) -> None:
    data = write_vtu(grid(), tmp_path / "full.vtu", compress).read_bytes()
    cut = tmp_path / "cut.vtu"
    cut.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(UnreadableFileError, match="truncated") as exc:
        read(cut)
    one_line(exc, "cut.vtu")


def test_truncated_inline_xml_vtu_names_the_line(tmp_path: Path) -> None:
    data = write_vtu(grid(), tmp_path / "full.vtu", appended=False).read_bytes()
    (tmp_path / "cut.vtu").write_bytes(data[: len(data) // 2])
    with pytest.raises(UnreadableFileError, match=r"cut\.vtu: (malformed XML at line \d+|claims)"):
        read(tmp_path / "cut.vtu")


@pytest.mark.parametrize("seed", range(6))
def test_flipped_bytes_in_compressed_appended_data(tmp_path: Path, seed: int) -> None:
    data = bytearray(write_vtu(grid(), tmp_path / "full.vtu", compress=True).read_bytes())
    start = appended_start(bytes(data))
    rng = np.random.default_rng(seed)
    for i in rng.integers(start, len(data) - 40, 40):
        data[i] ^= 0xFF
    (tmp_path / "flip.vtu").write_bytes(bytes(data))
    with pytest.raises(UnreadableFileError) as exc:
        read(tmp_path / "flip.vtu")
    one_line(exc, "flip.vtu")


@pytest.mark.parametrize("seed", range(6))
def test_flipped_bytes_in_raw_appended_data_never_crash(tmp_path: Path, seed: int) -> None:
    """Flips in raw data may hit block headers (unreadable) or values (bad geometry, or a valid file)."""
    data = bytearray(write_vtu(grid(), tmp_path / "full.vtu").read_bytes())
    start = appended_start(bytes(data))
    rng = np.random.default_rng(seed)
    for i in rng.integers(start, len(data) - 40, 200):
        data[i] ^= 0xFF
    (tmp_path / "flip.vtu").write_bytes(bytes(data))
    try:
        read(tmp_path / "flip.vtu")
    except InputError as exc:
        assert str(exc).startswith("flip.vtu: ") and "\n" not in str(exc)


def test_block_header_claiming_more_than_the_file_holds(tmp_path: Path) -> None:
    data = bytearray(write_vtu(grid(), tmp_path / "full.vtu").read_bytes())
    start = appended_start(bytes(data))
    data[start : start + 4] = (1 << 30).to_bytes(4, "little")  # the first array's byte count
    (tmp_path / "forged.vtu").write_bytes(bytes(data))
    with pytest.raises(UnreadableFileError, match="runs past the end of the file"):
        read(tmp_path / "forged.vtu")


def test_forged_point_count_in_appended_vtu(tmp_path: Path) -> None:
    data = write_vtu(grid(), tmp_path / "full.vtu").read_bytes()
    forged = re.sub(rb'NumberOfPoints="\d+"', b'NumberOfPoints="900000000"', data, count=1)
    (tmp_path / "forged.vtu").write_bytes(forged)
    with pytest.raises(UnreadableFileError, match=r"forged\.vtu: claims 900,000,000 points"):
        read(tmp_path / "forged.vtu")


def test_point_count_that_disagrees_with_its_block(tmp_path: Path) -> None:
    data = write_vtu(grid(), tmp_path / "full.vtu").read_bytes()
    (tmp_path / "off.vtu").write_bytes(re.sub(rb'NumberOfPoints="512"', b'NumberOfPoints="500"', data, count=1))
    with pytest.raises(UnreadableFileError, match=r"holds .* bytes but the header implies"):
        read(tmp_path / "off.vtu")


def test_random_bytes_with_vtu_suffix(tmp_path: Path) -> None:
    (tmp_path / "noise.vtu").write_bytes(np.random.default_rng(1).bytes(20_000))
    with pytest.raises(UnreadableFileError, match=r"noise\.vtu: not a valid VTK XML UnstructuredGrid"):
        read(tmp_path / "noise.vtu")


def test_random_bytes_after_a_valid_looking_header(tmp_path: Path) -> None:
    head = b'<?xml version="1.0"?>\n<VTKFile type="UnstructuredGrid" version="0.1">\n'
    (tmp_path / "noise.vtu").write_bytes(head + np.random.default_rng(2).bytes(20_000))
    with pytest.raises(UnreadableFileError, match=r"noise\.vtu: malformed XML"):
        read(tmp_path / "noise.vtu")


def test_legacy_claiming_two_billion_points(tmp_path: Path) -> None:
    path = tmp_path / "huge.vtk"
    path.write_text(LEGACY_HEAD + "DATASET POLYDATA\nPOINTS 2000000000 float\n0 0 0\n")
    with pytest.raises(UnreadableFileError, match=r"huge\.vtk: claims 2,000,000,000 points .* file is \d+ bytes"):
        read(path)


def test_binary_legacy_claiming_more_cells_than_it_holds(tmp_path: Path) -> None:
    good = tmp_path / "good.vtk"
    grid().save(good, binary=True)
    data = good.read_bytes()
    forged = re.sub(rb"\nCELL_TYPES \d+", b"\nCELL_TYPES 400000000", data, count=1)
    (tmp_path / "forged.vtk").write_bytes(forged)
    with pytest.raises(UnreadableFileError, match=r"forged\.vtk: claims"):
        read(tmp_path / "forged.vtk")


def test_truncated_binary_legacy(tmp_path: Path) -> None:
    grid().save(tmp_path / "good.vtk", binary=True)
    data = (tmp_path / "good.vtk").read_bytes()
    (tmp_path / "cut.vtk").write_bytes(data[: len(data) // 2])
    with pytest.raises(UnreadableFileError, match=r"cut\.vtk: claims .* but the file is"):
        read(tmp_path / "cut.vtk")


def test_legacy_field_array_claim(tmp_path: Path) -> None:
    path = tmp_path / "field.vtk"
    path.write_text(
        LEGACY_HEAD + "DATASET POLYDATA\nPOINTS 3 float\n0 0 0 1 0 0 0 1 0\nPOLYGONS 1 4\n3 0 1 2\n"
        "POINT_DATA 3\nFIELD FieldData 1\nbig 3 999999999 double\n1 2 3\n"
    )
    with pytest.raises(UnreadableFileError, match=r"field\.vtk: claims"):
        read(path)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("not vtk at all\n", "first bytes do not match"),
        ("# vtk DataFile Version 3.0\nx\nTEXT\nDATASET POLYDATA\n", "ASCII or BINARY"),
        ("# vtk DataFile Version 3.0\nx\nASCII\nDATASET TABLE\n", "unsupported legacy DATASET 'TABLE'"),
        ("# vtk DataFile Version 3.0\nx\nASCII\nPOINTS 3 float\n", "no DATASET line"),
    ],
)
def test_legacy_bad_headers(tmp_path: Path, text: str, reason: str) -> None:
    (tmp_path / "bad.vtk").write_text(text)
    with pytest.raises(UnreadableFileError, match=reason):
        read(tmp_path / "bad.vtk")


def test_nan_coordinates_in_vtu(tmp_path: Path) -> None:
    g = grid()
    g.points[5] = [np.nan, 0.0, 0.0]
    g.points[9] = [0.0, np.inf, 0.0]
    with pytest.raises(InvalidGeometryError, match=r"nan\.vtu: 2 of 512 points have NaN or infinite"):
        read(write_vtu(g, tmp_path / "nan.vtu"))


def test_nan_coordinates_in_legacy_ascii(tmp_path: Path) -> None:
    path = tmp_path / "nan.vtk"
    path.write_text(LEGACY_HEAD + "DATASET POLYDATA\nPOINTS 3 float\n0 0 0 nan 0 0 0 1 0\nPOLYGONS 1 4\n3 0 1 2\n")
    with pytest.raises(InvalidGeometryError, match=r"nan\.vtk: 1 of 3 points"):
        read(path)


def test_connectivity_out_of_range_in_vtu(tmp_path: Path) -> None:
    g = pv.UnstructuredGrid(np.array([4, 0, 1, 2, 9]), np.array([pv.CellType.TETRA]), np.eye(4, 3))
    with pytest.raises(InvalidGeometryError, match=r"bad\.vtu: cells refer to point 9 but there are 4 points"):
        read(write_vtu(g, tmp_path / "bad.vtu"))


def test_connectivity_out_of_range_in_legacy_polydata(tmp_path: Path) -> None:
    path = tmp_path / "bad.vtk"
    path.write_text(LEGACY_HEAD + "DATASET POLYDATA\nPOINTS 3 float\n0 0 0 1 0 0 0 1 0\nPOLYGONS 1 4\n3 0 1 7\n")
    with pytest.raises(InvalidGeometryError, match=r"bad\.vtk: polygons refer to point 7"):
        read(path)


def test_connectivity_out_of_range_in_vtp(tmp_path: Path) -> None:
    path = tmp_path / "bad.vtp"
    path.write_text(
        '<?xml version="1.0"?>\n<VTKFile type="PolyData" version="1.0">\n<PolyData>\n'
        '<Piece NumberOfPoints="3" NumberOfPolys="1">\n<Points>\n'
        '<DataArray type="Float32" NumberOfComponents="3" format="ascii">0 0 0 1 0 0 0 1 0</DataArray>\n'
        '</Points>\n<Polys>\n<DataArray type="Int64" Name="connectivity" format="ascii">0 1 -3</DataArray>\n'
        '<DataArray type="Int64" Name="offsets" format="ascii">3</DataArray>\n</Polys>\n'
        "</Piece>\n</PolyData>\n</VTKFile>\n"
    )
    with pytest.raises(InvalidGeometryError, match=r"bad\.vtp: polygons refer to point -3"):
        read(path)


def test_cell_with_too_few_nodes_for_its_type(tmp_path: Path) -> None:
    path = tmp_path / "short.vtk"
    path.write_text(
        LEGACY_HEAD + "DATASET UNSTRUCTURED_GRID\nPOINTS 4 float\n0 0 0 1 0 0 0 1 0 0 0 1\n"
        "CELLS 1 4\n3 0 1 2\nCELL_TYPES 1\n10\n"
    )
    with pytest.raises(InvalidGeometryError, match=r"short\.vtk: 1 cells have the wrong node count .*TETRA with 3"):
        read(path)


def test_unknown_cell_type_number(tmp_path: Path) -> None:
    path = tmp_path / "odd.vtk"
    path.write_text(
        LEGACY_HEAD + "DATASET UNSTRUCTURED_GRID\nPOINTS 3 float\n0 0 0 1 0 0 0 1 0\n"
        "CELLS 1 4\n3 0 1 2\nCELL_TYPES 1\n200\n"
    )
    with pytest.raises(InputError, match=r"odd\.vtk: .*cell type"):
        read(path)


def test_xml_entity_expansion_is_refused(tmp_path: Path) -> None:
    bomb = (
        '<?xml version="1.0"?>\n<!DOCTYPE VTKFile [\n<!ENTITY a "aaaaaaaaaa">\n<!ENTITY b "&a;&a;&a;&a;&a;&a;">\n]>\n'
        '<VTKFile type="UnstructuredGrid" version="0.1"><UnstructuredGrid>&b;</UnstructuredGrid></VTKFile>\n'
    )
    (tmp_path / "bomb.vtu").write_text(bomb)
    with pytest.raises(UnreadableFileError, match=r"bomb\.vtu: XML entity declarations are not allowed"):
        read(tmp_path / "bomb.vtu")
    (tmp_path / "bomb.xml").write_text(bomb)
    with pytest.raises(UnreadableFileError, match="entity declarations"):
        parse_xml(tmp_path / "bomb.xml")


def test_point_limit_applies_to_honest_headers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Limits are read in the process that checks, so this calls the checks directly with a small limit."""
    path = write_vtu(grid(), tmp_path / "ok.vtu")
    grid().save(tmp_path / "ok.vtk")
    monkeypatch.setenv("VIZSERVER_MAX_POINTS", "100")
    with pytest.raises(LimitExceededError, match=r"ok\.vtu: 512 points is over the 100-point limit"):
        check_xml_header(path, "UnstructuredGrid")
    with pytest.raises(LimitExceededError, match=r"ok\.vtk: 512 points"):
        check_legacy_header(tmp_path / "ok.vtk")


def test_type_attribute_must_match_the_suffix(tmp_path: Path) -> None:
    path = write_vtu(grid(), tmp_path / "g.vtu")
    with pytest.raises(UnreadableFileError, match=r"g\.vtu: VTKFile type is 'UnstructuredGrid', expected 'PolyData'"):
        check_xml_header(path, "PolyData")


def test_multiblock_without_its_body(tmp_path: Path) -> None:
    (tmp_path / "m.vtm").write_text('<VTKFile type="vtkMultiBlockDataSet"><Other/></VTKFile>')
    with pytest.raises(UnreadableFileError, match=r"m\.vtm: no <vtkMultiBlockDataSet>"):
        read(tmp_path / "m.vtm")


def test_multiblock_leaf_of_an_unsupported_kind(tmp_path: Path) -> None:
    (tmp_path / "leaf.vtk").write_text(LEGACY_HEAD + "DATASET POLYDATA\nPOINTS 0 float\n")
    (tmp_path / "m.vtm").write_text(
        '<VTKFile type="vtkMultiBlockDataSet"><vtkMultiBlockDataSet>'
        '<DataSet index="0" file="leaf.vtk"/></vtkMultiBlockDataSet></VTKFile>'
    )
    with pytest.raises(UnsupportedFormatError, match=r"m\.vtm: block file 'leaf\.vtk' is not a VTK XML dataset"):
        read(tmp_path / "m.vtm")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=600), legacy=st.booleans())
def test_header_checks_only_raise_input_errors(tmp_path: Path, body: bytes, legacy: bool) -> None:
    path = tmp_path / "fuzz"
    prefix = b"# vtk DataFile Version 4.2\nx\nBINARY\nDATASET POLYDATA\n" if legacy else b'<VTKFile type="PolyData"'
    path.write_bytes(prefix + body)
    try:
        if legacy:
            check_legacy_header(path)
        else:
            check_xml_header(path, "PolyData")
    except InputError as exc:
        assert str(exc).startswith("fuzz: ") and "\n" not in str(exc)
