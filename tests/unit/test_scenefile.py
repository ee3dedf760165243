from __future__ import annotations

from pathlib import Path

import pytest

from vizserver.scenefile import SceneFileError, load_scene_file

ROOT = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "mesh.stl").write_bytes(b"solid x\nendsolid x\n")
    path = tmp_path / "scene.yaml"
    path.write_text(text)
    return path


def test_default_scene_is_valid() -> None:
    spec = load_scene_file(ROOT / "scenes" / "default.yaml")
    assert spec.objects[0].name == "ventricle"
    assert spec.twin is not None and spec.twin.object == "ventricle"
    assert spec.objects[0].transform.scale == pytest.approx(0.001)


def test_minimal_scene_gets_defaults(tmp_path: Path) -> None:
    spec = load_scene_file(_write(tmp_path, "title: t\nobjects:\n  - name: a\n    source: mesh.stl\n"))
    assert spec.objects[0].material.opacity == 1.0
    assert spec.objects[0].reduction == 0.0
    assert spec.tour is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("title: t\nobjects: []\n", "objects"),
        ("title: t\nobjects:\n  - name: a\n    source: missing.stl\n", "does not exist"),
        ("title: t\nobjects:\n  - name: a\n", "exactly one of 'source', 'generator' or 'asset'"),
        ("title: t\nobjects:\n  - name: a\n    source: mesh.stl\n    colour: red\n", "colour"),
        ("title: t\nobjects:\n  - name: a\n    source: mesh.stl\n    material: {color: red}\n", "#rrggbb"),
        ("title: t\nobjects:\n  - {name: a, source: mesh.stl}\n  - {name: a, source: mesh.stl}\n", "unique"),
        ("title: t\nobjects:\n  - {name: a, source: mesh.stl}\ntwin: {kind: cardiac, object: b}\n", "twin.object"),
        (
            "title: t\nobjects:\n  - {name: a, source: mesh.stl}\ntour: {steps: [{title: s, visible: [zz]}]}\n",
            "unknown objects",
        ),
        ("title: [unclosed\n", "not valid YAML"),
        ("- just\n- a list\n", "expected a mapping"),
        ("title: t\nobjects:\n  - {name: a, source: mesh.stl, reduction: 1.5}\n", "reduction"),
    ],
)
def test_bad_scene_files_name_the_problem(tmp_path: Path, body: str, expected: str) -> None:
    with pytest.raises(SceneFileError) as info:
        load_scene_file(_write(tmp_path, body))
    message = str(info.value)
    assert message.startswith("scene.yaml: ")
    assert expected in message
    assert "\n" not in message


def test_oversized_scene_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("title: t\n" + "#" * (1 << 20))
    with pytest.raises(SceneFileError, match="over"):
        load_scene_file(path)


def test_a_numbered_series_pattern_is_a_valid_source(tmp_path: Path) -> None:
    (tmp_path / "out_000.vtu").write_text("x")
    spec = load_scene_file(_write(tmp_path, "title: t\nobjects:\n  - name: a\n    source: out_*.vtu\n"))
    assert spec.objects[0].source == "out_*.vtu"
    with pytest.raises(SceneFileError, match="does not exist"):
        load_scene_file(_write(tmp_path, "title: t\nobjects:\n  - name: a\n    source: res_*.vtu\n"))
