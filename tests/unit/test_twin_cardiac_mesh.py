"""The cardiac twin on the tetrahedra of a mesh file (the four-chamber heart's route): the recipe's ``mesh``
option, fibres from a ``fiber`` field, boundary triangles and their points left out, pacing sites, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fixtures.tetra import FIBRE, SLAB_MM, write_tet_vtu

from vizserver.errors import VizServerError
from vizserver.io import read
from vizserver.model import UnstructuredMesh
from vizserver.twins.base import ParameterError
from vizserver.twins.cardiac import LV_DT_MS, CardiacTwin, build_mesh_twin, tetrahedra_of
from vizserver.twins.recipes import TwinRecipe, TwinRecipeError, build_twin

REST_MV = -80.0


@pytest.fixture(scope="module")
def slab_vtu(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tet_vtu(tmp_path_factory.mktemp("mesh") / "slab.vtu")


def test_the_recipe_with_a_mesh_builds_a_twin_on_its_tetrahedra_that_paces_and_conducts(slab_vtu: Path) -> None:
    twin = build_twin(TwinRecipe("cardiac", {"mesh": str(slab_vtu), "pace_points": [0.0, 2.0, 1.0]},
                                 {"cycle_length": 500}))
    assert isinstance(twin, CardiacTwin)
    n_grid = int(np.prod([int(n) + 1 for n in SLAB_MM]))
    assert len(twin.points) == n_grid  # the point only a boundary triangle uses is left out
    assert twin.params["cycle_length"] == 500 and twin.dt_ms == LV_DT_MS
    assert twin.diffusion_substeps >= 1  # 1 mm tetrahedra: explicit
    twin.step(30.0)
    at, x = twin.fields()["activation_time"], twin.points[:, 0]
    assert np.all(np.isfinite(at[x <= 2.0]))  # the wave started at the pacing site, x = 0 ...
    assert np.all(np.isnan(at[x >= 18.0]))  # ... and has not reached the far end yet
    twin.step(60.0)
    at = twin.fields()["activation_time"]
    assert np.all(np.isfinite(at)) and at[x >= 18.0].min() > at[x <= 2.0].max()


@pytest.mark.parametrize("fibre_on", ["cell", "point"])
def test_fibres_come_from_a_fiber_field_and_only_from_the_tetrahedra(tmp_path: Path, fibre_on: str) -> None:
    twin = build_mesh_twin(write_tet_vtu(tmp_path / "slab.vtu", fibre_on), kernel="numpy")
    assert twin.fibres is not None
    np.testing.assert_allclose(twin.fibres, np.tile(FIBRE, (len(twin.geometry.tets), 1)))


def test_a_mesh_with_triangles_before_its_tetrahedra_takes_the_right_fibre_rows(tmp_path: Path) -> None:
    mesh = read(write_tet_vtu(tmp_path / "slab.vtu", dangling=False)).objects[0].data
    assert isinstance(mesh, UnstructuredMesh) and [b.kind for b in mesh.blocks] == ["triangle", "tetra"]
    twin = CardiacTwin(mesh, kernel="numpy")  # straight on the file's mesh, triangles and all
    assert twin.fibres is not None
    np.testing.assert_allclose(twin.fibres, np.tile(FIBRE, (len(twin.geometry.tets), 1)))


def test_the_wave_runs_faster_along_the_fibres_than_across_them(slab_vtu: Path, tmp_path: Path) -> None:
    across_vtu = write_tet_vtu(tmp_path / "across.vtu", fibre=(0.0, 1.0, 0.0))
    along, across = (build_mesh_twin(path, pace_points=[0.0, 2.0, 1.0]) for path in (slab_vtu, across_vtu))
    for twin in (along, across):
        twin.step(30.0)
    reached = [twin.points[np.isfinite(twin.fields()["activation_time"]), 0].max() for twin in (along, across)]
    assert reached[0] > 1.5 * reached[1]  # d_par = 4 d_perp: about twice as far


def test_tetrahedra_of_keeps_fields_with_their_points_and_cells(slab_vtu: Path) -> None:
    mesh = read(slab_vtu).objects[0].data
    assert isinstance(mesh, UnstructuredMesh)
    tets = tetrahedra_of(mesh)
    assert [b.kind for b in tets.blocks] == ["tetra"] and tets.n_points == mesh.n_points - 1
    assert np.all(tets.cell_fields["_volume-id"].values == 1.0)
    np.testing.assert_array_equal(tets.points[tets.blocks[0].connectivity], mesh.points[mesh.blocks[1].connectivity])


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"mesh": "no-such.vtu"}, VizServerError, r"^cardiac twin: no-such\.vtu: no such file"),
        ({"mesh": 5}, ParameterError, r"^cardiac twin: mesh must be a file path, got 5$"),
        ({"pace_points": [1.0, 2.0]}, ParameterError, r"^cardiac twin: pace_points must be \[x, y, z\]"),
        ({"pace_points": "apex"}, ParameterError, r"^cardiac twin: pace_points must be"),
        ({"resolution": 24}, TwinRecipeError, r"^cardiac: .*unexpected keyword argument 'resolution'"),
    ],
)
def test_bad_mesh_options_give_one_line(slab_vtu: Path, options: dict[str, object], error: type[Exception],
                                        message: str) -> None:
    with pytest.raises(error, match=message) as info:
        build_twin(TwinRecipe("cardiac", {"mesh": str(slab_vtu), **options}))
    assert "\n" not in str(info.value)


def test_a_surface_file_is_refused_for_want_of_tetrahedra(tmp_path: Path) -> None:
    stl = tmp_path / "sheet.stl"
    stl.write_text("solid s\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 0\nvertex 0 1 0\n"
                   "endloop\nendfacet\nendsolid s\n")
    with pytest.raises(VizServerError, match=r"^cardiac twin: sheet\.stl has no tetrahedra$"):
        build_twin(TwinRecipe("cardiac", {"mesh": str(stl)}))


def test_a_null_mesh_keeps_the_default_lv_twin() -> None:
    twin = build_twin(TwinRecipe("cardiac", {"mesh": None, "sim_resolution": 16, "resolution": 12}))
    assert isinstance(twin, CardiacTwin) and twin.points[:, 2].min() < -15.0  # the LV lattice, apex at z ~ -20 mm
