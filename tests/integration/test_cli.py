"""The command line end to end, as a user runs it: a real subprocess, real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import pyvista as pv
import trimesh
from fixtures.cli import run_cli

from vizserver.io.glb_decode import read_glb


def _sphere_stl(tmp_path: Path) -> Path:
    path = tmp_path / "sphere.stl"
    trimesh.creation.icosphere(subdivisions=3).export(path)
    return path


def _tet_vtu(tmp_path: Path) -> Path:
    grid = pv.ImageData(dimensions=(6, 6, 6), spacing=(0.5, 0.5, 0.5)).triangulate()
    grid.point_data["temperature"] = np.asarray(grid.points[:, 0], dtype=np.float32) * 10.0
    grid.cell_data["region"] = np.arange(grid.n_cells, dtype=np.float32) % 3
    path = tmp_path / "block.vtu"
    grid.save(path)
    return path


def test_convert_writes_glb_and_prints_one_json_object(tmp_path: Path) -> None:
    out = tmp_path / "new" / "folder" / "sphere.glb"
    result = run_cli("convert", str(_sphere_stl(tmp_path)), "-o", str(out), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert result.stdout.count("\n") == 1
    assert summary["triangles"] == 1280
    assert summary["bytes"] == out.stat().st_size
    decoded = read_glb(out.read_bytes())
    assert sum(len(m.indices) for m in decoded.meshes.values()) == 1280


def test_convert_with_reduction_decimates(tmp_path: Path) -> None:
    out = tmp_path / "small.glb"
    result = run_cli("convert", str(_sphere_stl(tmp_path)), "-o", str(out), "--reduction", "0.75", "--json")
    assert result.returncode == 0, result.stderr
    triangles = json.loads(result.stdout)["triangles"]
    assert 250 <= triangles <= 400


def test_convert_volume_mesh_keeps_fields(tmp_path: Path) -> None:
    out = tmp_path / "block.glb"
    result = run_cli("convert", str(_tet_vtu(tmp_path)), "-o", str(out), "--json")
    assert result.returncode == 0, result.stderr
    decoded = read_glb(out.read_bytes())
    mesh = next(iter(decoded.meshes.values()))
    temperature = mesh.fields["temperature"]
    np.testing.assert_allclose(temperature, mesh.positions[:, 0] * 10.0, atol=25.0 / 255 + 1e-3)


def test_inspect_json_reports_counts_fields_and_bounds(tmp_path: Path) -> None:
    result = run_cli("inspect", str(_tet_vtu(tmp_path)), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    obj = report["objects"][0]
    assert obj["points"] == 216
    assert obj["cell_types"] == {"tetra": 5 * 125}
    fields = {f["name"]: f for f in obj["fields"]}
    assert fields["temperature"]["range"] == [0.0, 25.0]
    assert fields["region"]["association"] == "cell"
    assert obj["bounds"] == [[0.0, 0.0, 0.0], [2.5, 2.5, 2.5]]
    assert report["memory_bytes"] > 0


def test_inspect_text_is_readable(tmp_path: Path) -> None:
    result = run_cli("inspect", str(_tet_vtu(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert "216 points" in result.stdout
    assert "field temperature on points: [0, 25]" in result.stdout


def test_bad_input_is_one_line_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "noise.stl"
    bad.write_bytes(np.random.default_rng(1).bytes(5000))
    result = run_cli("convert", str(bad), "-o", str(tmp_path / "x.glb"))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: noise.stl: ")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "x.glb").exists()


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "empty.vtu"
    bad.write_bytes(b"")
    result = run_cli("--debug", "inspect", str(bad))
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert "error: empty.vtu: file is empty" in result.stderr


def test_missing_file_and_unknown_format(tmp_path: Path) -> None:
    missing = run_cli("inspect", str(tmp_path / "nope.vtu"))
    assert missing.returncode == 1 and "nope.vtu: no such file" in missing.stderr
    odd = tmp_path / "notes.docx"
    odd.write_bytes(b"hello")
    unknown = run_cli("inspect", str(odd))
    assert unknown.returncode == 1 and "notes.docx: unknown format '.docx'" in unknown.stderr


def test_file_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    result = run_cli("inspect", str(_sphere_stl(tmp_path)), env={"VIZSERVER_MAX_INPUT_BYTES": "1000"})
    assert result.returncode == 1
    assert "over the 1,000-byte input limit" in result.stderr


def test_isolated_readers_see_limits_set_after_the_first_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vizserver.errors import LimitExceededError
    from vizserver.io import read

    vtu = _tet_vtu(tmp_path)
    assert read(vtu).objects[0].data.n_points == 216
    monkeypatch.setenv("VIZSERVER_MAX_POINTS", "100")
    with pytest.raises(LimitExceededError, match=r"block\.vtu"):
        read(vtu)


def test_a_pattern_reads_numbered_files_as_one_time_series(tmp_path: Path) -> None:
    for step in range(4):
        grid = pv.ImageData(dimensions=(4, 4, 4)).triangulate()
        grid.point_data["u"] = np.full(grid.n_points, float(step), dtype=np.float32)
        grid.save(tmp_path / f"out_{step:03d}.vtu")
    result = run_cli("inspect", str(tmp_path / "out_*.vtu"), "--json")
    assert result.returncode == 0, result.stderr
    obj = json.loads(result.stdout)["objects"][0]
    assert obj["time_steps"]["count"] == 4
    assert (obj["time_steps"]["first"], obj["time_steps"]["last"]) == (0.0, 3.0)
    none = run_cli("inspect", str(tmp_path / "nothing_*.vtu"))
    assert none.returncode == 1 and "nothing_*.vtu: no files match" in none.stderr


def test_isolated_reads_work_from_a_script_on_stdin(tmp_path: Path) -> None:
    """The reader child must not re-run the caller's main script (here: one that cannot be re-run)."""
    vtu = _tet_vtu(tmp_path)
    script = f"from vizserver.io import read\nprint(read({str(vtu)!r}).objects[0].data.n_cells)\n"
    result = subprocess.run([sys.executable, "-"], input=script, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "625"
