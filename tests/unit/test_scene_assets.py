"""Scene objects that name a catalogued asset (``asset: NAME``): resolved to the fetched file, never downloaded."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from fixtures.tetra import write_tet_vtu

from vizserver.anatomy import catalog
from vizserver.scenefile import SceneFileError, load_scene_file, object_path
from vizserver.scenes.build import load_or_build
from vizserver.scenes.cache import AssetStore, scene_key

ROOT = Path(__file__).resolve().parents[2]
HEART = "rodero2021-heart01-2mm"
NOT_FETCHED = f"object heart: asset {HEART} is not fetched; run `vizserver assets fetch {HEART}`"


@pytest.fixture
def asset_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty asset cache, and a package index that refuses connections (nothing may be downloaded)."""
    folder = tmp_path / "assets"
    monkeypatch.setenv("VIZSERVER_ASSET_DIR", str(folder))
    monkeypatch.setenv("VIZSERVER_INDEX_URL", "http://127.0.0.1:9/simple")
    return folder


def scene(tmp_path: Path, objects: str) -> Path:
    path = tmp_path / "scene.yaml"
    path.write_text(f"version: 1\ntitle: t\nobjects:\n{objects}")
    return path


def test_an_asset_that_is_not_fetched_fails_the_scene_with_one_line_and_downloads_nothing(
    tmp_path: Path, asset_dir: Path
) -> None:
    with pytest.raises(SceneFileError) as info:
        load_scene_file(scene(tmp_path, f"  - {{name: heart, asset: {HEART}}}\n"))
    assert str(info.value) == f"scene.yaml: {NOT_FETCHED}"
    assert not asset_dir.exists()


def test_an_unknown_asset_names_the_known_ones(tmp_path: Path, asset_dir: Path) -> None:
    with pytest.raises(SceneFileError, match=rf"^scene\.yaml: object heart: no asset 'hart' in the catalog; "
                                             rf"known assets: .*{HEART}"):
        load_scene_file(scene(tmp_path, "  - {name: heart, asset: hart}\n"))


@pytest.mark.parametrize("origins", ["source: x.vtu, asset: a", "generator: {name: lv_surface}, asset: a", ""])
def test_an_object_has_exactly_one_origin(tmp_path: Path, origins: str) -> None:
    with pytest.raises(SceneFileError, match="exactly one of 'source', 'generator' or 'asset'"):
        load_scene_file(scene(tmp_path, f"  - {{name: heart{', ' if origins else ''}{origins}}}\n"))


def fake_fetch(folder: Path, name: str) -> Path:
    """The files of the real catalog entry ``name`` as they would be after a fetch (sparse, right sizes)."""
    entry = next(e for e in catalog.list_assets() if e.name == name)
    (folder / name).mkdir(parents=True)
    for f in entry.files:
        with (folder / name / f.name).open("wb") as out:
            out.truncate(f.size)
    return folder / name / entry.primary


def test_the_heart_scene_needs_its_asset_and_takes_it_once_fetched(asset_dir: Path) -> None:
    heart_yaml = ROOT / "scenes" / "heart.yaml"
    with pytest.raises(SceneFileError) as info:
        load_scene_file(heart_yaml)
    assert str(info.value) == f"heart.yaml: {NOT_FETCHED}"
    primary = fake_fetch(asset_dir, HEART)
    spec = load_scene_file(heart_yaml)
    heart = spec.objects[0]
    assert heart.asset == HEART and heart.transform.scale == pytest.approx(0.001)
    assert spec.twin is not None and spec.twin.kind == "cardiac" and spec.twin.object == "heart"
    assert spec.twin.colormap == "turbo" and "mesh" not in spec.twin.options  # the runtime passes the asset's file
    assert object_path(heart_yaml, heart) == primary


def test_a_partly_fetched_asset_is_not_fetched(asset_dir: Path, tmp_path: Path) -> None:
    primary = fake_fetch(asset_dir, HEART)
    with primary.open("r+b") as f:
        f.truncate(1000)  # an interrupted copy
    with pytest.raises(SceneFileError, match="is not fetched"):
        load_scene_file(scene(tmp_path, f"  - {{name: heart, asset: {HEART}}}\n"))


def test_a_scene_with_a_fetched_asset_builds_from_its_file(
    tmp_path: Path, asset_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vtu = write_tet_vtu(tmp_path / "slab.vtu")
    files = [{"name": "slab.vtu", "sha256": hashlib.sha256(vtu.read_bytes()).hexdigest(), "size": vtu.stat().st_size}]
    entry = {
        "name": "test-slab", "title": "T", "description": "D", "licence": "CC0-1.0", "citation": "C",
        "format": "VTU", "primary": "slab.vtu", "files": files,
        "source": {"kind": "pypi-wheel", "package": "pkg", "version": "1.0", "filename": "pkg-1.0-py3-none-any.whl",
                   "sha256": "0" * 64, "size": 1, "members": ["pkg/slab.vtu"]},
    }
    test_catalog = tmp_path / "catalog.yaml"
    test_catalog.write_text(json.dumps({"assets": [entry]}))
    monkeypatch.setattr(catalog, "CATALOG_PATH", test_catalog)
    (asset_dir / "test-slab").mkdir(parents=True)
    (asset_dir / "test-slab" / "slab.vtu").write_bytes(vtu.read_bytes())
    built = load_or_build(scene(tmp_path, "  - {name: slab, asset: test-slab}\n"), AssetStore(tmp_path / "cache"))
    (obj,) = built.scene.objects
    assert obj.name == "slab" and obj.vertices > 0 and obj.triangles > 0
    assert "fiber" in {f.name for f in obj.fields}  # read from the asset's file


def test_the_cache_key_of_a_scene_follows_its_asset_files(asset_dir: Path) -> None:
    heart_yaml = ROOT / "scenes" / "heart.yaml"
    primary = fake_fetch(asset_dir, HEART)
    before = scene_key(heart_yaml, load_scene_file(heart_yaml))
    os.utime(primary, ns=(1, 1))  # a re-fetched (or edited) file
    assert scene_key(heart_yaml, load_scene_file(heart_yaml)) != before
