"""Time series of VTK files: .pvd collections, ParaView .series JSON and numbered files."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import pyvista as pv

import vizserver.io.series as series
from vizserver.errors import InvalidGeometryError, LimitExceededError, UnreadableFileError, UnsupportedFormatError
from vizserver.io import read
from vizserver.io.series import find_numbered_series, read_numbered_series
from vizserver.model import Mesh, TimeSeries, UnstructuredMesh

STEPS = 4


def tet_step(i: int, n: int = 3) -> pv.UnstructuredGrid:
    grid = pv.ImageData(dimensions=(n, n, n)).triangulate()
    grid.point_data["potential"] = np.full(grid.n_points, float(i))
    grid.point_data["flow"] = np.tile([float(i), 0.0, 0.0], (grid.n_points, 1))
    grid.cell_data["potential"] = np.arange(grid.n_cells, dtype=np.float64) * i  # same name as a point field
    return grid


def surface_step(i: int) -> pv.PolyData:
    surface = pv.Sphere(theta_resolution=8, phi_resolution=8)
    surface.point_data["strain"] = np.full(surface.n_points, 10.0 + i)
    return surface


def write_pvd(path: Path, entries: list[tuple[float, int, str]], extra: str = "") -> Path:
    lines = "".join(f'    <DataSet timestep="{t}" part="{p}" file="{f}"/>\n' for t, p, f in entries)
    path.write_text(
        f'<?xml version="1.0"?>\n{extra}<VTKFile type="Collection" version="0.1">\n  <Collection>\n'
        f"{lines}  </Collection>\n</VTKFile>\n"
    )
    return path


@pytest.fixture
def two_part_pvd(tmp_path: Path) -> Path:
    (tmp_path / "run").mkdir()
    entries = []
    for i in reversed(range(STEPS)):  # listed out of order on purpose
        tet_step(i).save(tmp_path / "run" / f"heart_{i}.vtu")
        surface_step(i).save(tmp_path / "run" / f"skin_{i}.vtp")
        entries += [(0.25 * i, 0, f"run/heart_{i}.vtu"), (0.25 * i, 1, f"run/skin_{i}.vtp")]
    return write_pvd(tmp_path / "sim.pvd", entries)


def test_pvd_gives_one_series_per_part_sorted_by_time(two_part_pvd: Path) -> None:
    scene = read(two_part_pvd)
    assert scene.title == "sim" and [o.name for o in scene.objects] == ["sim/part0", "sim/part1"]
    heart = scene.objects[0].data
    assert isinstance(heart, TimeSeries) and isinstance(heart.geometry, UnstructuredMesh)
    np.testing.assert_allclose(heart.times, [0.0, 0.25, 0.5, 0.75])
    assert not heart.geometry.point_fields and not heart.geometry.cell_fields
    assert set(heart.field_names) == {"potential", "flow", "potential (cell)"}
    for i, step in enumerate(heart.steps):
        assert step["potential"].association == "point" and float(step["potential"].values[0]) == i
        assert step["flow"].values.shape == (heart.geometry.n_points, 3)
        assert step["potential (cell)"].association == "cell"
        np.testing.assert_allclose(step["potential (cell)"].values, np.arange(heart.geometry.n_cells) * i)
    skin = scene.objects[1].data
    assert isinstance(skin, TimeSeries) and isinstance(skin.geometry, Mesh)
    assert [float(s["strain"].values[0]) for s in skin.steps] == [10.0, 11.0, 12.0, 13.0]


def test_pvd_single_part_object_is_named_after_the_file(tmp_path: Path) -> None:
    for i in range(2):
        tet_step(i).save(tmp_path / f"s{i}.vtu")
    scene = read(write_pvd(tmp_path / "one.pvd", [(1.0, 0, "s0.vtu"), (2.0, 0, "s1.vtu")]))
    assert [o.name for o in scene.objects] == ["one"]


def test_pvd_of_legacy_files(tmp_path: Path) -> None:
    for i in range(3):
        tet_step(i).save(tmp_path / f"s{i}.vtk", binary=i % 2 == 0)
    data = read(write_pvd(tmp_path / "legacy.pvd", [(float(i), 0, f"s{i}.vtk") for i in range(3)])).objects[0].data
    assert isinstance(data, TimeSeries) and data.n_steps == 3
    assert float(data.steps[2]["potential"].values[0]) == 2.0


def test_changing_topology_names_the_step(tmp_path: Path) -> None:
    tet_step(0).save(tmp_path / "a.vtu")
    tet_step(1, n=4).save(tmp_path / "b.vtu")
    pvd = write_pvd(tmp_path / "grow.pvd", [(0.0, 0, "a.vtu"), (1.0, 0, "b.vtu")])
    with pytest.raises(InvalidGeometryError, match=r"grow\.pvd: step b\.vtu has 64 points .*changing topology"):
        read(pvd)


def test_same_point_count_but_other_cells_is_a_topology_change(tmp_path: Path) -> None:
    first = tet_step(0)
    second = first.copy()
    second.cell_connectivity[:4] = second.cell_connectivity[:4][::-1]  # same counts, other cells
    first.save(tmp_path / "a.vtu")
    pv.UnstructuredGrid({pv.CellType.TETRA: second.cell_connectivity.reshape(-1, 4)}, second.points).save(
        tmp_path / "b.vtu"
    )
    with pytest.raises(InvalidGeometryError, match="changing topology"):
        read(write_pvd(tmp_path / "t.pvd", [(0.0, 0, "a.vtu"), (1.0, 0, "b.vtu")]))


@pytest.mark.parametrize(
    ("reference", "reason"),
    [("../escape.vtu", "leaves the folder"), ("/tmp/abs.vtu", "not a relative path"), ("nope.vtu", "does not exist")],
)
def test_pvd_step_files_must_stay_in_the_folder(tmp_path: Path, reference: str, reason: str) -> None:
    (tmp_path / "in").mkdir()
    tet_step(0).save(tmp_path / "escape.vtu")
    with pytest.raises(UnreadableFileError, match=rf"x\.pvd: step file .* {reason}"):
        read(write_pvd(tmp_path / "in" / "x.pvd", [(0.0, 0, reference)]))


def test_pvd_with_entity_declarations_is_refused(tmp_path: Path) -> None:
    tet_step(0).save(tmp_path / "a.vtu")
    extra = '<!DOCTYPE VTKFile [<!ENTITY f SYSTEM "file:///etc/passwd">]>\n'
    with pytest.raises(UnreadableFileError, match=r"e\.pvd: XML entity declarations are not allowed"):
        read(write_pvd(tmp_path / "e.pvd", [(0.0, 0, "a.vtu")], extra))


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('<VTKFile type="Collection"><Collection><DataSet timestep="x" file="a.vtu"/></Collection></VTKFile>',
         "timestep 'x' is not a number"),
        ('<VTKFile type="Collection"><Collection><DataSet timestep="1"/></Collection></VTKFile>', "no file attribute"),
        ('<VTKFile type="Collection"><Collection></Collection></VTKFile>', "no <DataSet> entries"),
        ('<VTKFile type="Collection"><Collection><DataSet timestep="1" file="a.vtu"/>'
         '<DataSet timestep="1" file="a.vtu"/></Collection></VTKFile>', "two steps at time 1"),
        ('<VTKFile type="Collection"><Collection><DataSet file="a.vtu"/>', "malformed XML"),
    ],
)  # fmt: skip
def test_malformed_pvd(tmp_path: Path, body: str, reason: str) -> None:
    tet_step(0).save(tmp_path / "a.vtu")
    (tmp_path / "bad.pvd").write_text(body)
    with pytest.raises(UnreadableFileError, match=reason):
        read(tmp_path / "bad.pvd")


def test_multiblock_steps_are_unsupported(tmp_path: Path) -> None:
    pv.MultiBlock({"a": tet_step(0)}).save(tmp_path / "m.vtm")
    with pytest.raises(UnsupportedFormatError, match=r"m\.vtm: '\.vtm' cannot be a time step"):
        read(write_pvd(tmp_path / "mb.pvd", [(0.0, 0, "m.vtm")]))


def test_paraview_series_json(tmp_path: Path) -> None:
    for i in range(3):
        tet_step(i).save(tmp_path / f"out_{i}.vtu")
    document = {"file-series-version": "1.0", "files": [{"name": f"out_{i}.vtu", "time": 2.0 * i} for i in range(3)]}
    (tmp_path / "out.vtu.series").write_text(json.dumps(document))
    scene = read(tmp_path / "out.vtu.series")
    assert scene.title == "out" and scene.objects[0].name == "out"
    data = scene.objects[0].data
    assert isinstance(data, TimeSeries)
    np.testing.assert_allclose(data.times, [0.0, 2.0, 4.0])
    assert float(data.steps[1]["potential"].values[0]) == 1.0


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"file-series-version": "2.0", "files": []}), "not a file-series-version 1.0"),
        (json.dumps({"file-series-version": "1.0", "files": [{"name": "a.vtu"}]}), "numeric 'time'"),
        (json.dumps({"file-series-version": "1.0", "files": [{"name": "../a.vtu", "time": 0}]}), "leaves the folder"),
    ],
)
def test_bad_series_json(tmp_path: Path, document: str, reason: str) -> None:
    (tmp_path / "x.vtu.series").write_text(document)
    with pytest.raises(UnreadableFileError, match=reason):
        series.read_series_json(tmp_path / "x.vtu.series")


def test_find_numbered_series_sorts_numerically(tmp_path: Path) -> None:
    for name in ["out_9.vtu", "out_10.vtu", "out_0.vtu", "out_10.vtp", "other_1.vtu", "out_x.vtu", "out_2.vtu"]:
        (tmp_path / name).write_text("x")
    found = find_numbered_series(tmp_path / "out_2.vtu")
    assert [p.name for p in found] == ["out_0.vtu", "out_2.vtu", "out_9.vtu", "out_10.vtu"]
    assert find_numbered_series(tmp_path / "out_x.vtu") == [tmp_path / "out_x.vtu"]
    (tmp_path / "mesh2_0001.vtu").write_text("x")
    (tmp_path / "mesh2_0002.vtu").write_text("x")
    assert [p.name for p in find_numbered_series(tmp_path / "mesh2_0002.vtu")] == ["mesh2_0001.vtu", "mesh2_0002.vtu"]


def test_single_numbered_file_reads_as_one_dataset(tmp_path: Path) -> None:
    for i in range(3):
        tet_step(i).save(tmp_path / f"out_{i:04d}.vtu")
    assert isinstance(read(tmp_path / "out_0001.vtu").objects[0].data, UnstructuredMesh)


@pytest.mark.parametrize("suffix", [".vtu", ".vtk", ".vtp"])
def test_numbered_series_times_are_the_numbers(tmp_path: Path, suffix: str) -> None:
    for i in (0, 5, 10):
        (tet_step(i) if suffix != ".vtp" else surface_step(i)).save(tmp_path / f"heart.{i:03d}{suffix}")
    scene = read_numbered_series(tmp_path / f"heart.005{suffix}")
    assert scene.title == "heart" and scene.objects[0].name == "heart"
    data = scene.objects[0].data
    assert isinstance(data, TimeSeries)
    np.testing.assert_allclose(data.times, [0.0, 5.0, 10.0])
    name = "strain" if suffix == ".vtp" else "potential"
    assert [float(s[name].values[0]) for s in data.steps] == ([10.0, 15.0, 20.0] if suffix == ".vtp" else [0, 5, 10])


def test_numbered_series_uses_time_value_field_data(tmp_path: Path) -> None:
    for i in range(3):
        step = tet_step(i)
        step.field_data["TimeValue"] = [0.001 * i]
        step.save(tmp_path / f"out_{i}.vtu")
    data = read_numbered_series(tmp_path / "out_0.vtu").objects[0].data
    assert isinstance(data, TimeSeries)
    np.testing.assert_allclose(data.times, [0.0, 0.001, 0.002])


def test_large_series_reads_steps_lazily(two_part_pvd: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Over EAGER_SERIES_BYTES the scene holds LazySteps; called in-process, as the isolated child does."""
    monkeypatch.setattr(series, "EAGER_SERIES_BYTES", 0)
    scene = series.read_pvd(two_part_pvd)
    heart = scene.objects[0].data
    assert isinstance(heart, TimeSeries) and isinstance(heart.steps, series.LazySteps)
    restored = pickle.loads(pickle.dumps(scene))  # what crosses the process boundary
    steps = restored.objects[0].data.steps
    assert len(steps) == STEPS and float(steps[3]["potential"].values[0]) == 3.0
    assert float(steps[-1]["flow"].values[0, 0]) == 3.0
    assert [float(s["potential"].values[0]) for s in steps[1:3]] == [1.0, 2.0]
    with pytest.raises(IndexError):
        steps[STEPS]
    (two_part_pvd.parent / "run" / "heart_2.vtu").write_bytes(b"<VTKFile garbage")
    with pytest.raises(UnreadableFileError, match=r"heart_2\.vtu"):
        steps[2]


def test_step_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(3):
        tet_step(i).save(tmp_path / f"s{i}.vtu")
    pvd = write_pvd(tmp_path / "many.pvd", [(float(i), 0, f"s{i}.vtu") for i in range(3)])
    monkeypatch.setenv("VIZSERVER_MAX_TIME_STEPS", "2")
    with pytest.raises(LimitExceededError, match=r"many\.pvd: 3 steps is over the 2-step limit"):
        series.read_pvd(pvd)
