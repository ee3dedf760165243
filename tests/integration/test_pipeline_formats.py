"""Every format, file to validated GLB: read -> surfaces -> encode -> Khronos validator, zero errors."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import nrrd
import numpy as np
import pytest
import pyvista as pv
import SimpleITK as sitk  # noqa: N813 (the name its docs use)
import trimesh

from vizserver.convert import ConvertOptions, convert_file
from vizserver.io import read
from vizserver.io.glb_decode import read_glb
from vizserver.model import Mesh

ROOT = Path(__file__).resolve().parents[2]
VALIDATOR = ROOT / "tests" / "tools" / "validate_gltf.mjs"


def _label_volume() -> np.ndarray:
    i, j, k = np.meshgrid(np.arange(24), np.arange(24), np.arange(24), indexing="ij")
    labels = np.zeros((24, 24, 24), dtype=np.uint8)
    labels[(i - 12) ** 2 + (j - 12) ** 2 + (k - 12) ** 2 < 81] = 1
    labels[(i - 12) ** 2 + (j - 12) ** 2 + (k - 12) ** 2 < 16] = 2
    return labels


def _intensity_volume() -> np.ndarray:
    i, j, k = np.meshgrid(np.arange(20), np.arange(20), np.arange(20), indexing="ij")
    return (1000.0 - 40.0 * np.sqrt((i - 10) ** 2 + (j - 10) ** 2 + (k - 10) ** 2)).astype(np.int16)


def _sphere() -> pv.PolyData:
    sphere = pv.Sphere(theta_resolution=24, phi_resolution=16)
    sphere.point_data["height"] = np.asarray(sphere.points[:, 2], dtype=np.float32)
    return sphere


def _tets() -> pv.UnstructuredGrid:
    grid = pv.ImageData(dimensions=(5, 5, 5)).triangulate()
    grid.point_data["potential"] = np.asarray(grid.points[:, 0], dtype=np.float32)
    return grid


def make_stl(d: Path) -> Path:
    trimesh.creation.icosphere(2).export(d / "a.stl")
    return d / "a.stl"


def make_obj(d: Path) -> Path:
    trimesh.creation.box().export(d / "a.obj")
    return d / "a.obj"


def make_ply(d: Path) -> Path:
    trimesh.creation.icosphere(2).export(d / "a.ply")
    return d / "a.ply"


def make_off(d: Path) -> Path:
    trimesh.creation.box().export(d / "a.off")
    return d / "a.off"


def make_glb(d: Path) -> Path:
    trimesh.creation.capsule().export(d / "a.glb")
    return d / "a.glb"


def make_vtk_legacy(d: Path) -> Path:
    _tets().save(d / "a.vtk")
    return d / "a.vtk"


def make_vtp(d: Path) -> Path:
    _sphere().save(d / "a.vtp")
    return d / "a.vtp"


def make_vtu(d: Path) -> Path:
    _tets().save(d / "a.vtu")
    return d / "a.vtu"


def make_vti(d: Path) -> Path:
    image = pv.ImageData(dimensions=(20, 20, 20))
    image.point_data["density"] = _intensity_volume().ravel(order="F").astype(np.float32)
    image.save(d / "a.vti")
    return d / "a.vti"


def make_vtm(d: Path) -> Path:
    blocks = pv.MultiBlock({"skin": _sphere(), "core": _tets()})
    blocks.save(d / "a.vtm")
    return d / "a.vtm"


def make_pvd(d: Path) -> Path:
    entries = []
    for step in range(3):
        grid = _tets()
        grid.point_data["potential"] = np.asarray(grid.points[:, 0] + step, dtype=np.float32)
        grid.save(d / f"a_{step}.vtu")
        entries.append(f'<DataSet timestep="{step * 0.5}" part="0" file="a_{step}.vtu"/>')
    (d / "a.pvd").write_text(
        '<?xml version="1.0"?>\n<VTKFile type="Collection" version="0.1">\n<Collection>\n'
        + "\n".join(entries)
        + "\n</Collection>\n</VTKFile>\n"
    )
    return d / "a.pvd"


def make_nifti_labels(d: Path) -> Path:
    nib.save(nib.Nifti1Image(_label_volume(), np.diag([0.5, 0.5, 0.5, 1.0])), d / "seg.nii.gz")
    return d / "seg.nii.gz"


def make_nrrd(d: Path) -> Path:
    nrrd.write(str(d / "a.nrrd"), _intensity_volume(), {"spacings": [1.0, 1.0, 1.0]})
    return d / "a.nrrd"


def make_mha(d: Path) -> Path:
    sitk.WriteImage(sitk.GetImageFromArray(_intensity_volume()), str(d / "a.mha"))
    return d / "a.mha"


def make_opencarp(d: Path) -> Path:
    grid = _tets()
    points = np.asarray(grid.points) * 1000.0
    tets = grid.cells_dict[pv.CellType.TETRA]
    (d / "a.pts").write_text(f"{len(points)}\n" + "\n".join(" ".join(f"{v:.3f}" for v in p) for p in points) + "\n")
    (d / "a.elem").write_text(
        f"{len(tets)}\n" + "\n".join("Tt " + " ".join(str(int(v)) for v in t) + " 1" for t in tets) + "\n"
    )
    return d / "a.pts"


def make_xyz(d: Path) -> Path:
    points = np.random.default_rng(3).normal(size=(500, 3))
    np.savetxt(d / "a.xyz", points, fmt="%.5f")
    return d / "a.xyz"


MAKERS: dict[str, Callable[[Path], Path]] = {
    name.removeprefix("make_"): fn for name, fn in globals().items() if name.startswith("make_") and callable(fn)
}


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for name, make in MAKERS.items():
        d = tmp_path_factory.mktemp(name)
        result = convert_file(make(d), ConvertOptions())
        assert result.triangles > 0 or name == "xyz", name
        glb = d / f"{name}.glb"
        glb.write_bytes(result.glb)
        out[name] = glb
    return out


def test_every_format_converts_to_a_glb_that_decodes(converted: dict[str, Path]) -> None:
    for name, glb in converted.items():
        decoded = read_glb(glb.read_bytes())
        assert decoded.meshes, name
        for mesh in decoded.meshes.values():
            assert np.isfinite(mesh.positions).all(), name


def test_every_glb_passes_the_khronos_validator(converted: dict[str, Path]) -> None:
    files = [str(p) for p in converted.values()]
    result = subprocess.run(["node", str(VALIDATOR), *files], capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr
    reports = json.loads(result.stdout)
    failures = {Path(r["file"]).stem: r["messages"] for r in reports if r["errors"]}
    assert not failures, failures


def test_label_volume_gives_one_surface_per_label(converted: dict[str, Path]) -> None:
    decoded = read_glb(converted["nifti_labels"].read_bytes())
    assert len(decoded.meshes) == 2


def test_time_series_carries_times_in_extras(converted: dict[str, Path]) -> None:
    decoded = read_glb(converted["pvd"].read_bytes())
    text = json.dumps(decoded.json)
    assert "[0.0, 0.5, 1.0]" in text


def test_our_glbs_read_back_through_the_reader_registry(converted: dict[str, Path]) -> None:
    for name in ("vtu", "pvd", "nifti_labels", "ply"):
        decoded = read_glb(converted[name].read_bytes())
        scene = read(converted[name])
        assert [o.name for o in scene.objects] == list(decoded.meshes), name
        for obj in scene.objects:
            mesh = obj.data
            assert isinstance(mesh, Mesh)
            assert mesh.n_triangles == len(decoded.meshes[obj.name].indices), name
            assert set(mesh.point_fields) == set(decoded.meshes[obj.name].fields), name
