"""The ``brain_surface`` scene generator: the tumour twin's own surface, built into a scene object."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from vizserver.scenefile import SceneFileError, load_scene_file
from vizserver.scenes.build import load_or_build
from vizserver.scenes.cache import AssetStore
from vizserver.twins.brain import GREY, WHITE, brain_labels, brain_surface
from vizserver.twins.tumour import TumourTwin

ROOT = Path(__file__).resolve().parents[2]


def _scene(tmp_path: Path, generator: str) -> Path:
    path = tmp_path / "brain.yaml"
    path.write_text(f"version: 1\ntitle: brain\nobjects:\n  - name: brain\n    generator: {generator}\n")
    return path


def test_the_generator_gives_the_tumour_twins_surface_with_its_tissue_labels() -> None:
    surface = brain_surface(4.0)
    twin_mesh = TumourTwin(brain_labels(4.0)).mesh
    np.testing.assert_array_equal(surface.vertices, twin_mesh.vertices)
    np.testing.assert_array_equal(surface.triangles, twin_mesh.triangles)
    labels = surface.point_fields["label"].values
    assert set(np.unique(labels).tolist()) == {float(GREY), float(WHITE)}
    assert (labels == GREY).sum() > 10 * (labels == WHITE).sum()  # mostly cortex; white: the ventricle walls
    lo, hi = surface.bounds  # the 68 x 84 x 58 mm ellipsoid, centred on the origin, in mm
    np.testing.assert_allclose(hi, [68.0, 84.0, 58.0], atol=4.0)
    np.testing.assert_allclose(lo, [-68.0, -84.0, -58.0], atol=4.0)


def test_a_scene_builds_the_default_brain_surface_quickly(tmp_path: Path) -> None:
    scene = _scene(tmp_path, "{name: brain_surface, parameters: {spacing: 2.0}}")
    started = time.perf_counter()
    built = load_or_build(scene, AssetStore(tmp_path / "cache"))
    seconds = time.perf_counter() - started
    (brain,) = built.scene.objects
    assert brain.vertices == TumourTwin().mesh.n_points  # the twin's default grid is the generator's default
    assert brain.triangles > 50_000
    label = next(f for f in brain.fields if f.name == "label")
    assert label.categorical and label.range == (float(GREY), float(WHITE))
    assert seconds < 2.0, seconds


@pytest.mark.parametrize(
    ("generator", "needle"),
    [
        ("{name: brain_surface, parameters: {spacing: 0.1}}", "outside [0.25, 5]"),
        ("{name: brain_surface, parameters: {resolution: 4}}", "resolution"),
        ("{name: brain_surfaces}", "brain_surface"),
    ],
)
def test_bad_generator_parameters_are_one_line_errors(tmp_path: Path, generator: str, needle: str) -> None:
    with pytest.raises(SceneFileError) as info:
        load_or_build(_scene(tmp_path, generator), AssetStore(tmp_path / "cache"))
    message = str(info.value)
    assert message.startswith("brain.yaml: ") and needle in message and "\n" not in message


def test_the_shipped_tumour_scene_serves_the_tumour_twin_on_the_brain() -> None:
    spec = load_scene_file(ROOT / "scenes" / "tumour.yaml")
    (brain,) = spec.objects
    assert brain.generator is not None and brain.generator.name == "brain_surface"
    assert brain.transform.scale == pytest.approx(0.001)
    assert spec.twin is not None and spec.twin.kind == "tumour" and spec.twin.object == "brain"
