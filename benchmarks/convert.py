"""Conversion speed and size: vizserver against trimesh's GLB export, pyvista's export_gltf and gltfpack.

Prints one JSON line per figure: {"case", "metric", "value", "unit", "baseline", "ratio"}; ratio is
vizserver's value divided by the baseline's (for seconds and bytes lower is better; for triangles/s
higher is better). Cases: a 1M-triangle surface with one scalar field (binary PLY) and a ~300k
tetrahedron volume mesh (VTU). Run: ``python benchmarks/convert.py [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyvista as pv
import trimesh
from report import emit

from vizserver.anatomy.lv import lv_tetra
from vizserver.convert import ConvertOptions, convert_file
from vizserver.encode.glb import EncodeOptions, encode_glb
from vizserver.geometry.surfaces import surfaces_of
from vizserver.io import read
from vizserver.vtk_bridge import unstructured_to_grid

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
ROOT = Path(__file__).resolve().parents[1]
GLTFPACK = ROOT / "webxr_client" / "node_modules" / ".bin" / "gltfpack"


def surface_with_field(n_triangles: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A bumpy closed surface (a sphere grid with shape detail) and a smooth activation-like field."""
    rows = int(np.sqrt(n_triangles / 2))
    cols = n_triangles // (2 * rows)
    theta = np.linspace(0.0, np.pi, rows + 1)
    phi = np.linspace(0.0, 2 * np.pi, cols, endpoint=False)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    radius = 30.0 * (1 + 0.08 * np.sin(5 * t) * np.cos(3 * p) + 0.02 * np.sin(23 * t + 17 * p))
    vertices = np.stack([radius * np.sin(t) * np.cos(p), radius * np.sin(t) * np.sin(p), 1.4 * radius * np.cos(t)], -1)
    vertices = vertices.reshape(-1, 3).astype(np.float32)
    i, j = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    a = i * cols + j
    b = i * cols + (j + 1) % cols
    c = a + cols
    d = b + cols
    faces = np.concatenate([np.stack([a, c, b], -1).reshape(-1, 3), np.stack([b, c, d], -1).reshape(-1, 3)])
    field = (np.hypot(vertices[:, 0] - 25, vertices[:, 2]) * 3.0).astype(np.float32)
    return vertices, faces.astype(np.uint32), field


def write_ply(path: Path, vertices: np.ndarray, faces: np.ndarray, field: np.ndarray) -> None:
    header = (
        "ply\nformat binary_little_endian 1.0\n"
        f"element vertex {len(vertices)}\nproperty float x\nproperty float y\nproperty float z\n"
        "property float activation\n"
        f"element face {len(faces)}\nproperty list uchar uint vertex_indices\nend_header\n"
    ).encode()
    vdata = np.concatenate([vertices, field[:, None]], axis=1).astype("<f4")
    fdata = np.zeros(len(faces), dtype=[("n", "u1"), ("v", "<u4", (3,))])
    fdata["n"], fdata["v"] = 3, faces
    path.write_bytes(header + vdata.tobytes() + fdata.tobytes())


def tetra_mesh(cells_target: int) -> pv.UnstructuredGrid:
    """The Land et al. 2015 left ventricle as tetrahedra, refined to about ``cells_target`` cells."""
    resolution = max(12, round(100 * (cells_target / 237_600) ** (1 / 3)))
    grid = unstructured_to_grid(lv_tetra(resolution=resolution))
    transmural = np.asarray(grid.point_data["transmural"])
    grid.clear_data()
    grid.point_data["transmural"] = transmural  # one field, as in the surface case
    return grid


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def no_field_glbs(path: Path) -> tuple[bytes, bytes]:
    """Our GLB with positions and normals only, packed (meshopt) and plain: gltfpack gets the plain one."""
    scene = read(path)
    meshes = [
        (name, replace(m, point_fields={}, cell_fields={})) for obj in scene.objects for name, m in surfaces_of(obj)
    ]
    return encode_glb(meshes), encode_glb(meshes, options=EncodeOptions(compression="none"))


def trimesh_glb(path: Path) -> bytes:
    mesh = read_any_trimesh(path)
    return bytes(mesh.export(file_type="glb"))


def read_any_trimesh(path: Path) -> trimesh.Trimesh:
    if path.suffix == ".ply":
        return trimesh.load(path, process=False, force="mesh")
    surface = pv.read(path).extract_surface(algorithm=None).triangulate()
    return trimesh.Trimesh(np.asarray(surface.points), np.asarray(surface.regular_faces), process=False)


def pyvista_gltf(path: Path, out: Path) -> int:
    mesh = pv.read(path)
    plotter = pv.Plotter(off_screen=True)
    plotter.add_mesh(mesh, scalars=mesh.point_data.keys()[0] if mesh.point_data.keys() else None)
    plotter.export_gltf(str(out))
    plotter.close()
    return sum(f.stat().st_size for f in out.parent.glob(out.stem + "*"))


def run_case(case: str, path: Path, repeat: int, work: Path) -> float:
    """Emit the case's figures; returns our conversion seconds."""
    read(path)  # warm the reader's worker process and imports, as a running server would be
    seconds, result = timed(lambda: convert_file(path, ConvertOptions()), repeat)
    triangles = result.triangles
    ours_bpt = len(result.glb) / triangles
    t_trimesh, glb = timed(lambda: trimesh_glb(path), repeat)
    out = work / f"{case}_pyvista.gltf"
    t_pyvista, pv_bytes = timed(lambda: pyvista_gltf(path, out), 1)
    emit(case, "seconds", seconds, "s", "trimesh_glb", t_trimesh)
    emit(case, "seconds", seconds, "s", "pyvista_export_gltf", t_pyvista)
    emit(case, "triangles_per_second", triangles / seconds, "tri/s", "trimesh_glb", triangles / t_trimesh)
    emit(case, "triangles_per_second", triangles / seconds, "tri/s", "pyvista_export_gltf", triangles / t_pyvista)
    emit(case, "bytes_per_triangle", ours_bpt, "B/tri", "trimesh_glb", len(glb) / triangles)
    emit(case, "bytes_per_triangle", ours_bpt, "B/tri", "pyvista_export_gltf", pv_bytes / triangles)
    emit(case, "triangles", triangles, "tri")
    for stage, value in result.timings.items():
        emit(case, f"stage_seconds_{stage}", value, "s")
    if GLTFPACK.exists():
        packed, plain = no_field_glbs(path)
        src = work / f"{case}_plain.glb"
        src.write_bytes(plain)
        dst = work / f"{case}_gltfpack.glb"
        t = time.perf_counter()
        subprocess.run([str(GLTFPACK), "-i", str(src), "-o", str(dst), "-cc"], check=True, capture_output=True)
        t_pack = time.perf_counter() - t
        emit(case, "bytes_per_triangle_no_field", len(packed) / triangles, "B/tri",
             "gltfpack_cc", dst.stat().st_size / triangles)
        emit(case, "triangles_per_second", triangles / seconds, "tri/s", "gltfpack_cc", triangles / t_pack)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller meshes, one repeat")
    args = parser.parse_args()
    repeat = 1 if args.quick else 3
    surface_triangles = 200_000 if args.quick else 1_000_000
    tetra_cells = 60_000 if args.quick else 300_000
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ply = work / "surface.ply"
        write_ply(ply, *surface_with_field(surface_triangles))
        run_case(f"surface_{surface_triangles // 1000}k_tri_1_field", ply, repeat, work)
        vtu = work / "volume.vtu"
        grid = tetra_mesh(tetra_cells)
        grid.save(vtu)
        case = f"tetra_{grid.n_cells // 1000}k"
        emit(case, "tetrahedra", grid.n_cells, "cells")
        seconds = run_case(case, vtu, repeat, work)
        emit(case, "tetrahedra_per_second", grid.n_cells / seconds, "cells/s")
    shutil.rmtree(work, ignore_errors=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
