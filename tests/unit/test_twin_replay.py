"""The replay twin: a recorded series played through the Twin interface (values, interpolation, loop, seek)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
import pyvista as pv

from vizserver.errors import InputError, InvalidGeometryError
from vizserver.model import Field, TimeSeries, UnstructuredMesh
from vizserver.model.cells import CellBlock
from vizserver.twins.base import ParameterError
from vizserver.twins.recipes import TwinRecipe
from vizserver.twins.replay import DEFAULT_PLAY_SECONDS, ReplayTwin
from vizserver.twins.runner import LocalTwinRunner, TwinEvent, TwinFrame

WAIT_S = 20.0
TIMES = [0.0, 1.0, 2.0, 4.0]  # uneven on purpose


def tet_grid() -> pv.UnstructuredGrid:
    return pv.ImageData(dimensions=(3, 3, 3)).cast_to_unstructured_grid().triangulate()


def step_values(grid: pv.UnstructuredGrid, i: int) -> np.ndarray:
    """Distinct per point and per step: 10 * step + x."""
    return (10.0 * i + np.asarray(grid.points)[:, 0]).astype(np.float32)


def memory_series(*, time_unit: str = "ms") -> TimeSeries:
    grid = tet_grid()
    mesh = UnstructuredMesh(np.asarray(grid.points), (CellBlock("tetra", grid.cells_dict[pv.CellType.TETRA]),))
    steps = [
        {
            "p": Field("p", step_values(grid, i), "point", "mV"),
            "flow": Field("flow", np.tile([float(i), 0.0, 0.0], (grid.n_points, 1)), "point"),
            "c": Field("c", np.arange(grid.n_cells, dtype=np.float32) * (i + 1), "cell"),
        }
        for i in range(len(TIMES))
    ]
    return TimeSeries(mesh, np.asarray(TIMES), steps, time_unit)


def write_pvd(folder: Path) -> Path:
    entries = ""
    for i, t in enumerate(TIMES):
        grid = tet_grid()
        grid.point_data["p"] = step_values(grid, i)
        grid.save(folder / f"s{i}.vtu")
        entries += f'    <DataSet timestep="{t}" part="0" file="s{i}.vtu"/>\n'
    pvd = folder / "run.pvd"
    pvd.write_text(
        f'<?xml version="1.0"?>\n<VTKFile type="Collection" version="0.1">\n  <Collection>\n{entries}'
        "  </Collection>\n</VTKFile>\n"
    )
    return pvd


@pytest.fixture
def twin() -> ReplayTwin:
    return ReplayTwin(memory_series())


def expected(i: int) -> np.ndarray:
    return step_values(tet_grid(), i)


def test_values_at_recorded_steps_are_the_steps(twin: ReplayTwin) -> None:
    assert twin.time == 0.0 and twin.time_unit == "ms"
    np.testing.assert_array_equal(twin.fields()["p"], expected(0))
    for i in range(1, len(TIMES)):
        twin.step(TIMES[i] - TIMES[i - 1])
        assert twin.time == TIMES[i]
        out = twin.fields()
        assert out["p"].dtype == np.float32
        np.testing.assert_array_equal(out["p"], expected(i))


def test_between_steps_values_are_linear_in_time(twin: ReplayTwin) -> None:
    twin.step(1.5)  # halfway from t=1 to t=2
    np.testing.assert_allclose(twin.fields()["p"], 0.5 * (expected(1) + expected(2)), rtol=1e-6)
    twin.step(1.0)  # t=2.5: a quarter of the way from t=2 to t=4
    np.testing.assert_allclose(twin.fields()["p"], 0.75 * expected(2) + 0.25 * expected(3), rtol=1e-6)


def test_outputs_are_scalar_fields_with_units_and_ranges_over_all_steps(twin: ReplayTwin) -> None:
    assert twin.schema.outputs == ("p", "c")  # the vector field is left out
    assert twin.schema.units["p"] == "mV"
    lo, hi = twin.schema.ranges["p"]
    assert lo == pytest.approx(float(expected(0).min())) and hi == pytest.approx(float(expected(3).max()))
    assert twin.schema.ranges["c"] == (0.0, pytest.approx((twin.series.geometry.n_cells - 1) * 4.0))


def test_cell_fields_are_averaged_onto_points(twin: ReplayTwin) -> None:
    mesh = twin.series.geometry
    assert isinstance(mesh, UnstructuredMesh)
    tets = mesh.blocks[0].connectivity
    values = twin.fields()["c"]
    assert values.shape == (mesh.n_points,)
    for point in (0, 13, mesh.n_points - 1):  # a corner, the centre, the far corner
        around = np.flatnonzero((tets == point).any(axis=1))
        assert values[point] == pytest.approx(float(around.mean()))


def test_loop_wraps_and_no_loop_holds_the_last_step(twin: ReplayTwin) -> None:
    twin.step(5.0)  # duration 4: wraps to t=1
    assert twin.time == pytest.approx(1.0)
    np.testing.assert_array_equal(twin.fields()["p"], expected(1))
    twin.set_params({"loop": False})
    twin.step(100.0)
    assert twin.time == 4.0
    np.testing.assert_array_equal(twin.fields()["p"], expected(3))
    twin.step(1.0)
    assert twin.time == 4.0


def test_seek_jumps_every_time_it_is_set(twin: ReplayTwin) -> None:
    twin.set_params({"seek": 2.0})
    assert twin.time == 2.0
    np.testing.assert_array_equal(twin.fields()["p"], expected(2))
    twin.step(1.0)
    twin.set_params({"seek": 2.0})  # the same value again still jumps
    assert twin.time == 2.0
    with pytest.raises(ParameterError, match=r"seek: 9.0 ms is outside \[0.0, 4.0\]"):
        twin.set_params({"seek": 9.0})
    twin.reset({"seek": 1.0})
    assert twin.time == 1.0
    twin.reset()
    assert twin.time == 0.0


def test_time_per_second_plays_the_whole_recording_in_ten_seconds_by_default(twin: ReplayTwin) -> None:
    assert twin.time_per_second == pytest.approx(4.0 / DEFAULT_PLAY_SECONDS)
    assert ReplayTwin(memory_series(), time_per_second=2.0).time_per_second == 2.0
    with pytest.raises(ParameterError, match="time_per_second must be a positive number"):
        ReplayTwin(memory_series(), time_per_second=0.0)


def test_bound_outputs_and_probe_follow_the_nearest_point(twin: ReplayTwin) -> None:
    points = twin.field_points()
    twin.bind_outputs(points[[5, 0]] + 0.01)
    twin.set_params({"seek": 4.0})
    np.testing.assert_array_equal(twin.outputs()["p"], expected(3)[[5, 0]])
    assert twin.probe(points[5])["p"] == pytest.approx(float(expected(3)[5]))


def test_actions_and_bad_steps_are_refused(twin: ReplayTwin) -> None:
    with pytest.raises(ParameterError, match="unknown action 'pace here'"):
        twin.act("pace here", np.zeros(3))
    with pytest.raises(ParameterError, match="finite number >= 0"):
        twin.step(float("nan"))


def test_a_step_missing_a_field_is_refused_when_built() -> None:
    good = memory_series()
    steps = list(good.steps)
    steps[2] = {k: v for k, v in steps[2].items() if k != "p"}
    with pytest.raises(InvalidGeometryError, match=r"step 2 \(time 2\) lacks the point field 'p'"):
        ReplayTwin(TimeSeries(good.geometry, good.times, steps))


def test_from_options_reads_a_recorded_pvd(tmp_path: Path) -> None:
    twin = ReplayTwin.from_options({"path": str(write_pvd(tmp_path)), "time_per_second": 0.5})
    assert twin.time_per_second == 0.5 and twin.schema.outputs == ("p",)
    twin.step(1.5)
    np.testing.assert_allclose(twin.fields()["p"], 0.5 * (expected(1) + expected(2)), rtol=1e-6)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"path": "nowhere/run.pvd"}, r"^replay twin: run.pvd: no such file or folder$"),
        ({}, "option 'path' must name a recorded series"),
        ({"path": "x.pvd", "speed": 2}, "unknown option.*speed"),
        ({"PVD": 0, "object": 3}, r"object 3"),
        ({"PVD": 0, "object": "heart"}, r"has no object 'heart'"),
        ({"STL": 0}, "is not a time series"),
        ({"PVD": 0, "time_per_second": "fast"}, "time_per_second must be a number"),
    ],
)
def test_bad_options_give_a_one_line_error(tmp_path: Path, options: dict[str, object], message: str) -> None:
    if "PVD" in options:
        options = {"path": str(write_pvd(tmp_path)), **{k: v for k, v in options.items() if k != "PVD"}}
    if "STL" in options:
        pv.Cube().triangulate().save(tmp_path / "box.stl")
        options = {"path": str(tmp_path / "box.stl")}
    with pytest.raises(InputError, match=message) as error:
        ReplayTwin.from_options(options)
    assert "\n" not in str(error.value)


def test_the_replay_recipe_plays_in_a_worker_process(tmp_path: Path) -> None:
    """What the server runs for ``kind: replay``: the recipe built in a real worker, seek steered by tag."""
    pvd = write_pvd(tmp_path)
    targets = np.asarray(tet_grid().points, dtype=np.float32)

    async def main() -> None:
        events: asyncio.Queue[TwinEvent] = asyncio.Queue()
        recipe = TwinRecipe("replay", {"path": str(pvd), "time_per_second": 1e-6})  # frames barely move on
        runner = LocalTwinRunner(recipe, targets, events.put_nowait, frame_interval_s=0.02)
        try:
            info = await asyncio.wait_for(runner.start(), WAIT_S)
            assert info.schema.outputs == ("p",) and info.time_per_second == 1e-6
            assert info.outputs[0].range == pytest.approx((float(expected(0).min()), float(expected(3).max())))
            runner.set_params({"seek": 2.0}, 5)
            async with asyncio.timeout(WAIT_S):
                while not (isinstance(event := await events.get(), TwinFrame) and 5 in event.caused_by):
                    pass
            assert event.time == pytest.approx(2.0, abs=1e-6)
            np.testing.assert_allclose(event.fields["p"], expected(2), rtol=1e-5)
        finally:
            await runner.stop()

    asyncio.run(main())
