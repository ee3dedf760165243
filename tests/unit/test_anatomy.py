"""The procedural benchmark left ventricle, its committed assets, and catalogued asset fetching."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import trimesh

import vizserver.io.opencarp  # noqa: F401  (registers the reader)
from vizserver.anatomy import catalog
from vizserver.anatomy.lv import BASE_Z_MM, lv_surface, lv_tetra, write_assets
from vizserver.errors import AssetError
from vizserver.io import read
from vizserver.model import UnstructuredMesh

ASSETS = Path(__file__).resolve().parents[2] / "assets"


def truncated_ellipsoid_volume(r_short: float, r_long: float) -> float:
    """Volume of the ellipsoid below the base plane z = 5 mm."""
    z = BASE_Z_MM
    return float(np.pi * r_short**2 * ((z + r_long) - (z**3 + r_long**3) / (3 * r_long**2)))


def tet_volumes(mesh: UnstructuredMesh) -> np.ndarray:
    p = mesh.points.astype(np.float64)[mesh.blocks[0].connectivity]
    return np.einsum("ij,ij->i", np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), p[:, 3] - p[:, 0]) / 6.0


def test_tetra_positive_volumes_and_benchmark_geometry() -> None:
    mesh = lv_tetra(24)
    volumes = tet_volumes(mesh)
    assert volumes.min() > 0
    wall = truncated_ellipsoid_volume(10, 20) - truncated_ellipsoid_volume(7, 17)
    assert volumes.sum() == pytest.approx(wall, rel=0.03)
    (lo, hi) = mesh.bounds
    assert hi[2] == pytest.approx(BASE_Z_MM, abs=1e-4) and lo[2] == pytest.approx(-20.0, abs=1e-4)
    t = mesh.point_fields["transmural"].values
    p = mesh.points.astype(np.float64)
    endo, epi = t == 0.0, t == 1.0
    np.testing.assert_allclose(((p[endo, :2] ** 2).sum(1) / 49 + p[endo, 2] ** 2 / 289), 1.0, atol=1e-5)
    np.testing.assert_allclose(((p[epi, :2] ** 2).sum(1) / 100 + p[epi, 2] ** 2 / 400), 1.0, atol=1e-5)


def test_fibres_follow_the_helix_rule() -> None:
    mesh = lv_tetra(24)
    for fields, n in ((mesh.point_fields, mesh.n_points), (mesh.cell_fields, mesh.n_cells)):
        f, s = fields["fibres"].values, fields["sheets"].values
        assert f.shape == (n, 3) and s.shape == (n, 3)
        np.testing.assert_allclose(np.linalg.norm(f, axis=1), 1.0, atol=1e-5)
        np.testing.assert_allclose((f * s).sum(axis=1), 0.0, atol=1e-5)
        for name in ("transmural", "longitudinal"):
            values = fields[name].values
            assert values.shape == (n,) and values.min() >= 0.0 and values.max() <= 1.0 + 1e-6
    # away from the apex, |f . circumferential| = |cos(alpha)| with alpha = 90 - 180 t degrees
    p = mesh.points.astype(np.float64)
    t = mesh.point_fields["transmural"].values.astype(np.float64)
    away = np.hypot(p[:, 0], p[:, 1]) > 1.0
    circumferential = np.column_stack([-p[:, 1], p[:, 0], np.zeros(len(p))])
    circumferential /= np.maximum(np.linalg.norm(circumferential, axis=1, keepdims=True), 1e-12)
    dot = np.abs((mesh.point_fields["fibres"].values * circumferential).sum(axis=1))
    np.testing.assert_allclose(dot[away], np.abs(np.cos(np.deg2rad(90 - 180 * t[away]))), atol=1e-5)
    sixty = lv_tetra(24, helix_endo_deg=60, helix_epi_deg=-60).point_fields["fibres"].values
    dot60 = np.abs((sixty * circumferential).sum(axis=1))
    np.testing.assert_allclose(dot60[away], np.abs(np.cos(np.deg2rad(60 - 120 * t[away]))), atol=1e-5)


def test_surface_is_closed_outward_and_the_tetra_boundary() -> None:
    surface = lv_surface(24)
    mesh = trimesh.Trimesh(surface.vertices, surface.triangles, process=False)
    assert mesh.is_watertight and mesh.is_winding_consistent
    wall = truncated_ellipsoid_volume(10, 20) - truncated_ellipsoid_volume(7, 17)
    assert mesh.volume == pytest.approx(wall, rel=0.03)  # positive: normals point out of the wall
    tetra = lv_tetra(24)
    tets = tetra.blocks[0].connectivity.astype(np.int64)
    faces = np.sort(np.concatenate([tets[:, [0, 1, 2]], tets[:, [0, 1, 3]], tets[:, [0, 2, 3]], tets[:, [1, 2, 3]]]),
                    axis=1)
    unique, counts = np.unique(faces, axis=0, return_counts=True)
    assert surface.source_point_ids is not None
    boundary = np.unique(np.sort(surface.source_point_ids[surface.triangles].astype(np.int64), axis=1), axis=0)
    np.testing.assert_array_equal(boundary, unique[counts == 1])
    assert counts.max() == 2  # conforming: every inner face shared by exactly two tetrahedra


def test_generation_is_deterministic_and_matches_committed_assets(tmp_path: Path) -> None:
    written = write_assets(tmp_path)
    assert {p.name for p in written} == {"lv.pts", "lv.elem", "lv.lon", "lv_surface.ply"}
    for path in written:
        assert path.read_bytes() == (ASSETS / path.name).read_bytes(), f"assets/{path.name} is stale"
    assert sum((ASSETS / p.name).stat().st_size for p in written if p.suffix != ".ply") < 2_000_000
    assert (ASSETS / "lv_surface.ply").stat().st_size < 1_000_000


def test_committed_assets_read_back() -> None:
    mesh = read(ASSETS / "lv.pts").objects[0].data
    assert isinstance(mesh, UnstructuredMesh)
    reference = lv_tetra()
    assert mesh.n_cells == reference.n_cells and mesh.blocks[0].kind == "tetra"
    np.testing.assert_allclose(mesh.points / 1000.0, reference.points, atol=1e-5)  # micrometres
    np.testing.assert_allclose(mesh.cell_fields["fibres"].values, reference.cell_fields["fibres"].values, atol=1e-4)
    assert tet_volumes(mesh).min() > 0
    surface = trimesh.load(ASSETS / "lv_surface.ply", process=False)
    assert surface.is_watertight and surface.volume > 0


# -- catalog --------------------------------------------------------------------------------------------


def test_catalog_entries_are_complete() -> None:
    entries = catalog.list_assets()
    assert entries, "the catalog lists no asset"
    for entry in entries:
        assert entry.licence and entry.citation and entry.title and entry.description
        assert entry.source.kind == "pypi-wheel" and len(entry.source.sha256) == 64
        assert entry.primary in {f.name for f in entry.files}
    assert any(e.licence == "CC-BY-4.0" and "Rodero" in e.citation for e in entries)


def test_fetch_unknown_asset_lists_known_names() -> None:
    with pytest.raises(AssetError) as info:
        catalog.fetch("no-such-heart")
    message = str(info.value)
    assert message.startswith("no-such-heart: no such asset") and "rodero2021-heart01-2mm" in message


def make_wheel(folder: Path) -> tuple[Path, dict[str, bytes]]:
    """A small wheel-shaped zip: the data files we want, plus code and a decoy we must not extract."""
    members = {
        "pkg/data/heart.vtu": b"<VTKFile>" + bytes(range(256)) * 40,
        "pkg/data/heart.json": b'{"parts": 1}',
        "pkg/data/other.vtu": b"not wanted",
        "pkg/code.py": b"print('hi')",
        "pkg-1.0.dist-info/METADATA": b"Name: pkg",
    }
    path = folder / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path, members


def write_catalog(folder: Path, wheel: Path, members: dict[str, bytes]) -> Path:
    files = [
        {"name": Path(m).name, "sha256": hashlib.sha256(members[m]).hexdigest(), "size": len(members[m])}
        for m in ("pkg/data/heart.vtu", "pkg/data/heart.json")
    ]
    entry = {
        "name": "test-heart", "title": "T", "description": "D", "licence": "CC0-1.0", "citation": "C",
        "format": "VTU", "primary": "heart.vtu", "files": files,
        "source": {"kind": "pypi-wheel", "package": "pkg", "version": "1.0", "filename": wheel.name,
                   "sha256": hashlib.sha256(wheel.read_bytes()).hexdigest(), "size": wheel.stat().st_size,
                   "members": ["pkg/data/heart.*"]},
    }
    path = folder / "catalog.yaml"
    path.write_text(json.dumps({"assets": [entry]}))  # JSON is YAML
    return path


def test_fetch_extracts_only_catalogued_members(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wheel, members = make_wheel(tmp_path)
    cat = write_catalog(tmp_path, wheel, members)
    dest = tmp_path / "out"
    primary = catalog.fetch("test-heart", dest, catalog=cat, wheel=wheel)
    assert primary == dest / "heart.vtu"
    assert sorted(p.name for p in dest.iterdir()) == ["heart.json", "heart.vtu"]
    assert primary.read_bytes() == members["pkg/data/heart.vtu"]
    # complete and verified: a second fetch needs neither the wheel nor the network
    monkeypatch.setenv("VIZSERVER_INDEX_URL", "http://127.0.0.1:9/nowhere")
    assert catalog.fetch("test-heart", dest, catalog=cat) == primary


Routes = dict[str, tuple[str, bytes]]


@pytest.fixture
def index_server() -> Iterator[tuple[str, Routes]]:
    """A package index on a loopback port serving ``routes`` (path -> (content type, body))."""
    routes: Routes = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path not in routes:
                self.send_error(404)
                return
            content_type, body = routes[self.path]
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", routes
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.mark.parametrize("page", ["json", "html"])
def test_fetch_downloads_with_progress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, index_server: tuple[str, Routes], page: str
) -> None:
    url, routes = index_server
    wheel, members = make_wheel(tmp_path)
    cat = write_catalog(tmp_path, wheel, members)
    sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
    routes[f"/files/{wheel.name}"] = ("application/octet-stream", wheel.read_bytes())
    if page == "json":  # PEP 691, absolute URL
        listing = {"files": [{"filename": wheel.name, "url": f"{url}/files/{wheel.name}", "hashes": {"sha256": sha}}]}
        routes["/simple/pkg/"] = (catalog.SIMPLE_JSON, json.dumps(listing).encode())
    else:  # PEP 503, relative URL with a hash fragment
        anchor = f'<a href="../../files/{wheel.name}#sha256={sha}">{wheel.name}</a>'
        routes["/simple/pkg/"] = ("text/html", f"<html><body>{anchor}</body></html>".encode())
    monkeypatch.setenv("VIZSERVER_INDEX_URL", f"{url}/simple")
    monkeypatch.setenv("VIZSERVER_ASSET_DIR", str(tmp_path / "cache"))
    progress: list[tuple[int, int]] = []
    primary = catalog.fetch("test-heart", catalog=cat, on_progress=lambda done, total: progress.append((done, total)))
    assert primary == tmp_path / "cache" / "test-heart" / "heart.vtu"
    assert primary.read_bytes() == members["pkg/data/heart.vtu"]
    assert progress[0] == (0, wheel.stat().st_size) and progress[-1] == (wheel.stat().st_size,) * 2
    assert (tmp_path / "cache" / "_downloads" / wheel.name).is_file()


def test_corrupted_download_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, index_server: tuple[str, Routes]
) -> None:
    url, routes = index_server
    wheel, members = make_wheel(tmp_path)
    cat = write_catalog(tmp_path, wheel, members)
    data = bytearray(wheel.read_bytes())
    data[100] ^= 0xFF
    bad = tmp_path / "bad" / wheel.name
    bad.parent.mkdir()
    bad.write_bytes(bytes(data))
    routes[f"/files/{wheel.name}"] = ("application/octet-stream", bytes(data))
    listing = {"files": [{"filename": wheel.name, "url": f"{url}/files/{wheel.name}", "hashes": {}}]}
    routes["/simple/pkg/"] = (catalog.SIMPLE_JSON, json.dumps(listing).encode())
    monkeypatch.setenv("VIZSERVER_INDEX_URL", f"{url}/simple")
    monkeypatch.setenv("VIZSERVER_ASSET_DIR", str(tmp_path / "cache"))
    with pytest.raises(AssetError, match=r"^test-heart: downloaded pkg-1\.0-py3-none-any\.whl fails its sha256"):
        catalog.fetch("test-heart", catalog=cat)
    assert not any((tmp_path / "cache" / "_downloads").iterdir())  # nothing half-written is kept
    assert not (tmp_path / "cache" / "test-heart").exists()
    with pytest.raises(AssetError, match="fails its sha256"):
        catalog.fetch("test-heart", tmp_path / "out", catalog=cat, wheel=bad)


def test_index_that_lacks_the_wheel_or_disagrees_on_its_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, index_server: tuple[str, Routes]
) -> None:
    url, routes = index_server
    wheel, members = make_wheel(tmp_path)
    cat = write_catalog(tmp_path, wheel, members)
    monkeypatch.setenv("VIZSERVER_INDEX_URL", f"{url}/simple")
    monkeypatch.setenv("VIZSERVER_ASSET_DIR", str(tmp_path / "cache"))
    with pytest.raises(AssetError, match=r"^test-heart: cannot look up pkg on http://127\.0\.0\.1"):
        catalog.fetch("test-heart", catalog=cat)
    listing = {"files": [{"filename": wheel.name, "url": "x.whl", "hashes": {"sha256": "0" * 64}}]}
    routes["/simple/pkg/"] = (catalog.SIMPLE_JSON, json.dumps(listing).encode())
    with pytest.raises(AssetError, match=r"has sha256 0+, not the catalog's"):
        catalog.fetch("test-heart", catalog=cat)


def test_member_that_differs_from_the_catalog_is_refused(tmp_path: Path) -> None:
    wheel, members = make_wheel(tmp_path)
    members_lie = {**members, "pkg/data/heart.json": b'{"parts": 2}'}  # same size, other content
    cat = write_catalog(tmp_path, wheel, members_lie)
    with pytest.raises(AssetError, match=r"^test-heart: heart\.json from .* fails its sha256 check"):
        catalog.fetch("test-heart", tmp_path / "out", catalog=cat, wheel=wheel)
    assert not (tmp_path / "out" / "heart.json").exists()
