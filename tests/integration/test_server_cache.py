"""Scene building and its disk cache: the second start converts nothing; a changed source rebuilds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fixtures.server import write_scene

import vizserver.scenes.build as build
from vizserver.io.glb_decode import read_glb
from vizserver.scenefile import SceneFileError
from vizserver.scenes.cache import AssetStore


def refuse_to_convert(*_args: object, **_kwargs: object) -> None:
    raise AssertionError("the scene was converted again instead of read from the cache")


def test_second_load_reads_the_manifest_and_converts_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scene = write_scene(tmp_path)
    store = AssetStore(tmp_path / "cache")
    first = build.load_or_build(scene, store)
    assert not first.from_cache and first.series  # the series read while building is kept for streaming
    wave = first.scene.objects[0]
    assert wave.series is not None and wave.times == (0.0, 0.5, 1.0, 1.5, 2.0)
    assert [f.name for f in wave.fields if f.streamed] == ["pressure", "temperature"]
    glb = read_glb((store.root / "glb" / f"{wave.asset}.glb").read_bytes())
    assert glb is not None

    monkeypatch.setattr(build, "build_objects", refuse_to_convert)
    second = build.load_or_build(scene, store)
    assert second.from_cache and second.scene == first.scene


def test_a_changed_source_or_scene_file_rebuilds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scene = write_scene(tmp_path)
    store = AssetStore(tmp_path / "cache")
    first = build.load_or_build(scene, store)
    step = tmp_path / "data" / "step_002.vtu"
    stat = step.stat()
    os.utime(step, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert not build.load_or_build(scene, store).from_cache
    assert build.load_or_build(scene, store).from_cache
    scene.write_text(scene.read_text().replace("#336699", "#112233"))
    rebuilt = build.load_or_build(scene, store)
    assert not rebuilt.from_cache and rebuilt.scene.objects[1].color == "#112233"
    assert rebuilt.scene.objects[1].asset == first.scene.objects[1].asset  # same geometry, same content hash


def test_missing_asset_in_the_cache_rebuilds(tmp_path: Path) -> None:
    scene = write_scene(tmp_path)
    store = AssetStore(tmp_path / "cache")
    first = build.load_or_build(scene, store)
    (store.root / "glb" / f"{first.scene.objects[0].asset}.glb").unlink()
    again = build.load_or_build(scene, store)
    assert not again.from_cache and (store.root / "glb" / f"{first.scene.objects[0].asset}.glb").is_file()


def test_unknown_default_field_names_the_fields_there_are(tmp_path: Path) -> None:
    scene = write_scene(tmp_path)
    scene.write_text(scene.read_text().replace("field: pressure", "field: vm"))
    with pytest.raises(SceneFileError, match=r"wave: field 'vm' is not on this object \(fields: .*pressure"):
        build.load_or_build(scene, AssetStore(tmp_path / "cache"))


def test_large_surfaces_get_coarser_levels_coarsest_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build, "LOD_MIN_TRIANGLES", 1_000)
    scene = tmp_path / "lv.yaml"
    scene.write_text("version: 1\ntitle: LV\nobjects:\n  - name: lv\n    generator: {name: lv_surface}\n")
    store = AssetStore(tmp_path / "cache")
    obj = build.load_or_build(scene, store).scene.objects[0]
    assert obj.triangles > 1_000 and obj.lods
    counts = [
        len(read_glb((store.root / "glb" / f"{h}.glb").read_bytes()).meshes["lv"].indices) // 3 for h in obj.lods
    ]
    assert counts == sorted(counts) and counts[-1] < obj.triangles
