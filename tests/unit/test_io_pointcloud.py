"""Point clouds (PCD, XYZ, face-less PLY) through ``vizserver.io.read``, and Poisson reconstruction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

import vizserver.io.pointcloud  # noqa: F401  (registers PCD, XYZ and, through surface, PLY)
from vizserver.errors import InvalidGeometryError, LimitExceededError
from vizserver.io import read
from vizserver.io.pointcloud import reconstruct_surface
from vizserver.model import Field, Mesh, Scene


def ellipsoid(n: int, seed: int = 0) -> npt.NDArray[np.float64]:
    """``n`` points on an ellipsoid with semi-axes 30, 20, 10 (mm), roughly like an organ."""
    direction = np.random.default_rng(seed).normal(size=(n, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    return direction * np.array([30.0, 20.0, 10.0])


def cloud_of(scene: Scene) -> Mesh:
    assert len(scene.objects) == 1
    mesh = scene.objects[0].data
    assert isinstance(mesh, Mesh) and mesh.is_point_cloud
    assert mesh.vertices.dtype == np.float32
    return mesh


PCD_FIELDS = "FIELDS x y z intensity normal_x normal_y normal_z rgb\nSIZE 4 4 4 4 4 4 4 4\nTYPE F F F F F F F U\n"


def pcd(points: npt.NDArray[np.float64], data: str) -> bytes:
    """A PCD with an ``intensity`` field, normals and packed ``rgb`` (pure red)."""
    n = len(points)
    header = f"# .PCD v0.7\nVERSION 0.7\n{PCD_FIELDS}COUNT 1 1 1 1 1 1 1 1\nWIDTH {n}\nHEIGHT 1\n"
    header += f"VIEWPOINT 0 0 0 1 0 0 0\nPOINTS {n}\nDATA {data}\n"
    intensity = np.arange(n, dtype=np.float32)
    normals = points / np.linalg.norm(points, axis=1, keepdims=True)
    red = 255 << 16
    if data == "ascii":
        rows = [
            f"{x} {y} {z} {i} {a} {b} {c} {red}"
            for (x, y, z), i, (a, b, c) in zip(points, intensity, normals, strict=True)
        ]
        return (header + "\n".join(rows) + "\n").encode()
    table = np.zeros(n, dtype=[("xyz", "<f4", 3), ("i", "<f4"), ("n", "<f4", 3), ("rgb", "<u4")])
    table["xyz"], table["i"], table["n"], table["rgb"] = points, intensity, normals, red
    return header.encode() + table.tobytes()


@pytest.mark.parametrize("data", ["ascii", "binary"])
def test_pcd_points_normals_colours_and_fields(tmp_path: Path, data: str) -> None:
    points = ellipsoid(50)
    path = tmp_path / f"scan_{data}.pcd"
    path.write_bytes(pcd(points, data))
    cloud = cloud_of(read(path))
    np.testing.assert_allclose(cloud.vertices, points, rtol=1e-5, atol=1e-4)
    assert cloud.normals is not None
    np.testing.assert_allclose(np.linalg.norm(cloud.normals, axis=1), 1.0, rtol=1e-4)
    np.testing.assert_allclose(cloud.point_fields["intensity"].values, np.arange(50))
    np.testing.assert_allclose(cloud.point_fields["color"].values, np.tile([1.0, 0.0, 0.0], (50, 1)))


def test_pcd_nan_points_of_an_organised_cloud_are_dropped(tmp_path: Path) -> None:
    points = ellipsoid(20)
    points[[3, 7]] = np.nan
    path = tmp_path / "organised.pcd"
    path.write_bytes(pcd(points, "binary"))
    cloud = cloud_of(read(path))
    assert cloud.n_points == 18
    np.testing.assert_allclose(cloud.point_fields["intensity"].values[3:6], [4, 5, 6])


def test_pcd_binary_compressed(tmp_path: Path) -> None:
    import open3d as o3d

    points = ellipsoid(200).astype(np.float32)
    path = tmp_path / "compressed.pcd"
    cloud = o3d.t.geometry.PointCloud(o3d.core.Tensor(points))
    assert o3d.t.io.write_point_cloud(str(path), cloud, write_ascii=False, compressed=True)
    assert b"DATA binary_compressed" in path.read_bytes()[:400]
    np.testing.assert_allclose(cloud_of(read(path)).vertices, points)


def test_xyz_variants(tmp_path: Path) -> None:
    points = ellipsoid(10)
    plain = tmp_path / "plain.xyz"
    np.savetxt(plain, np.column_stack([points, np.arange(10)]), header="x y z label")
    cloud = cloud_of(read(plain))
    np.testing.assert_allclose(cloud.vertices, points, rtol=1e-6)
    np.testing.assert_allclose(cloud.point_fields["column4"].values, np.arange(10))
    normals = points / np.linalg.norm(points, axis=1, keepdims=True)
    with_normals = tmp_path / "oriented.xyzn"
    np.savetxt(with_normals, np.column_stack([points, normals]))
    cloud = cloud_of(read(with_normals))
    assert cloud.normals is not None and not cloud.point_fields
    np.testing.assert_allclose(cloud.normals, normals, rtol=1e-6, atol=1e-7)
    coloured = tmp_path / "coloured.xyzrgb"
    np.savetxt(coloured, np.column_stack([points, np.tile([0, 128, 255], (10, 1))]))
    cloud = cloud_of(read(coloured))
    np.testing.assert_allclose(cloud.point_fields["color"].values[0], [0, 128 / 255, 1])


def test_xyz_nan_is_invalid_geometry(tmp_path: Path) -> None:
    path = tmp_path / "holes.xyz"
    path.write_text("0 0 0\n1 nan 1\n")
    with pytest.raises(InvalidGeometryError, match=r"holes\.xyz: 1 of 2 vertices"):
        read(path)


def test_ply_without_faces_is_read_as_a_cloud(tmp_path: Path) -> None:
    points = ellipsoid(30).astype("<f4")
    header = "ply\nformat binary_little_endian 1.0\nelement vertex 30\n"
    header += "property float x\nproperty float y\nproperty float z\nproperty float confidence\nend_header\n"
    table = np.zeros(30, dtype=[("xyz", "<f4", 3), ("c", "<f4")])
    table["xyz"], table["c"] = points, 0.5
    path = tmp_path / "scan.ply"
    path.write_bytes(header.encode() + table.tobytes())
    cloud = cloud_of(read(path))
    np.testing.assert_array_equal(cloud.vertices, points)
    np.testing.assert_allclose(cloud.point_fields["confidence"].values, 0.5)


def test_reconstruct_surface_wraps_the_cloud_with_outward_normals() -> None:
    points = ellipsoid(1500)
    color = Field("color", np.tile(np.array([0.2, 0.4, 0.6], dtype=np.float32), (1500, 1)))
    surface = reconstruct_surface(Mesh(points, np.zeros((0, 3)), point_fields={"color": color}), depth=6)
    assert surface.n_triangles > 500 and surface.vertices.dtype == np.float32
    lo, hi = np.array(surface.bounds)
    np.testing.assert_allclose(hi, [30, 20, 10], rtol=0.1)
    np.testing.assert_allclose(lo, [-30, -20, -10], rtol=0.1)
    assert surface.normals is not None
    outward = np.einsum("ij,ij->i", surface.normals, surface.vertices) > 0
    assert outward.mean() > 0.95
    np.testing.assert_allclose(surface.point_fields["color"].values.mean(axis=0), [0.2, 0.4, 0.6], atol=0.02)
    # triangles wind counter-clockwise seen from outside: face normals agree with vertex normals
    v = surface.vertices[surface.triangles.astype(np.int64)]
    face_normals = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    assert (np.einsum("ij,ij->i", face_normals, v.mean(axis=1)) > 0).mean() > 0.95


def test_reconstruct_surface_uses_given_normals() -> None:
    points = ellipsoid(800, seed=3)
    normals = points / np.array([30.0, 20.0, 10.0]) ** 2
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    surface = reconstruct_surface(Mesh(points, np.zeros((0, 3)), normals=normals), depth=5, trim_quantile=0.0)
    assert surface.n_triangles > 100
    assert not surface.point_fields


def test_reconstruct_surface_refuses_tiny_clouds_and_deep_octrees() -> None:
    with pytest.raises(InvalidGeometryError, match="too few"):
        reconstruct_surface(Mesh(ellipsoid(5), np.zeros((0, 3))))
    with pytest.raises(LimitExceededError, match="depth 13"):
        reconstruct_surface(Mesh(ellipsoid(100), np.zeros((0, 3))), depth=13)


def test_pointcloud_module_does_not_import_open3d_at_import_time() -> None:
    import subprocess
    import sys

    code = "import sys, vizserver.io.pointcloud; print('open3d' in sys.modules)"
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60, cwd=root
    )
    assert result.stdout.strip() == "False"
