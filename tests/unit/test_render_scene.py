"""The video view's offscreen renderer: the model is drawn and follows the camera, the fields, the volume, the pins."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from fixtures.render_scenes import build, model_pixels, write_sphere_scene, write_volume_scene

from vizserver.protocol.field_encoder import FieldEncoder
from vizserver.render.camera import ViewCamera
from vizserver.render.colormaps import colormap_table
from vizserver.render.field_frames import FieldFrames
from vizserver.render.scene_renderer import SceneRenderer, SceneState
from vizserver.render.volumes import read_intensity_volume, volume_sources
from vizserver.render.worker import RenderRequest, RenderWorker
from vizserver.sessions.annotations import Pin, Stroke

W, H = 320, 240
FRONT = ViewCamera(position=(0.0, -120.0, 0.0), target=(0.0, 0.0, 0.0), up=(0.0, 0.0, 1.0), fov=40.0)
SIDE = ViewCamera(position=(90.0, 0.0, 60.0), target=(0.0, 15.0, 0.0), up=(0.0, 0.0, 1.0), fov=40.0)


@pytest.fixture(scope="module")
def sphere(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("sphere")
    scene, store = build(write_sphere_scene(folder / "scene"), folder / "cache")
    renderer = SceneRenderer(store.glb_path)
    yield scene, renderer
    renderer.close()


def centre(image: np.ndarray) -> np.ndarray:
    return image[H // 2 - 2 : H // 2 + 3, W // 2 - 2 : W // 2 + 3].reshape(-1, 3).mean(axis=0)


def test_the_model_is_drawn_and_follows_the_camera(sphere) -> None:  # type: ignore[no-untyped-def]
    scene, renderer = sphere
    renderer.update(SceneState(scene.objects, {}, {}))
    front = renderer.render(FRONT, W, H)
    assert front.shape == (H, W, 3)
    assert model_pixels(front) > 0.1 * W * H
    side = renderer.render(SIDE, W, H)
    assert model_pixels(side) > 0
    assert np.abs(front.astype(int) - side.astype(int)).sum(axis=-1).astype(bool).mean() > 0.05


def test_a_hidden_object_is_not_drawn(sphere) -> None:  # type: ignore[no-untyped-def]
    scene, renderer = sphere
    hidden = tuple(replace(o, visible=False) for o in scene.objects)
    renderer.update(SceneState(hidden, {}, {}))
    assert model_pixels(renderer.render(FRONT, W, H)) == 0


def test_colours_follow_a_field_frame_with_the_browsers_colormap(sphere) -> None:  # type: ignore[no-untyped-def]
    scene, renderer = sphere
    obj = scene.objects[0]
    height = obj.fields[0]
    assert height.name == "height" and obj.active_field == height.id
    encoder = FieldEncoder(obj.id, height.id, lo=-20.0, hi=20.0)
    frames = FieldFrames()
    for value in (-20.0, 20.0):
        frames.take(encoder.encode(np.full(obj.vertices, value, np.float32), step=0, time=0.0).keyframe)
        renderer.update(SceneState(scene.objects, {obj.id: height.id}, dict(frames.latest)))
        image = renderer.render(FRONT, W, H)
        # Lit, so not the table colour itself, but its hue: the lowest viridis colour is blue-purple, the top yellow.
        r, g, b = centre(image)
        if value < 0:
            assert b > r and b > g
        else:
            assert r > b and g > b
    lowest, highest = colormap_table("viridis")[0], colormap_table("viridis")[-1]
    assert lowest[2] > lowest[1] and highest[0] > highest[2]


def test_a_delta_frame_recolours_on_top_of_its_keyframe(sphere) -> None:  # type: ignore[no-untyped-def]
    scene, renderer = sphere
    obj = scene.objects[0]
    encoder = FieldEncoder(obj.id, obj.fields[0].id, lo=-20.0, hi=20.0)
    frames = FieldFrames()
    frames.take(encoder.encode(np.full(obj.vertices, -20.0, np.float32), step=0, time=0.0).keyframe)
    pair = encoder.encode(np.full(obj.vertices, 20.0, np.float32), step=1, time=1.0)
    assert pair.delta is not None
    frames.take(pair.delta)
    renderer.update(SceneState(scene.objects, {obj.id: obj.fields[0].id}, dict(frames.latest)))
    r, g, b = centre(renderer.render(FRONT, W, H))
    assert r > b and g > b


def test_plain_colour_without_a_field(sphere) -> None:  # type: ignore[no-untyped-def]
    scene, renderer = sphere
    red = tuple(replace(o, color="#ff0000") for o in scene.objects)
    renderer.update(SceneState(red, {0: None}, {}))
    r, g, b = centre(renderer.render(FRONT, W, H))
    assert r > 3 * g and r > 3 * b


def test_annotation_pins_are_drawn(sphere) -> None:  # type: ignore[no-untyped-def]
    scene, renderer = sphere
    hidden = tuple(replace(o, visible=False) for o in scene.objects)
    renderer.update(SceneState(hidden, {}, {}))
    assert model_pixels(renderer.render(FRONT, W, H)) == 0
    pin = Pin(1, "m-1", "#ff00ff", 0.0, 0, (0.0, -20.0, 0.0), None, "here")
    renderer.update(SceneState(scene.objects, {}, {}, pins=(pin,)))
    image = renderer.render(FRONT, W, H)
    magenta = (image[..., 0] > 150) & (image[..., 2] > 150) & (image[..., 1] < 100)
    assert magenta.sum() > 4


def test_annotation_strokes_are_drawn(sphere) -> None:  # type: ignore[no-untyped-def]
    scene, renderer = sphere
    hidden = tuple(replace(o, visible=False) for o in scene.objects)
    stroke = Stroke(2, "m-1", "#00ff00", 0.0, ((-30.0, -30.0, 0.0), (30.0, -30.0, 10.0), (30.0, -30.0, -20.0)), 0.002)
    renderer.update(SceneState(hidden, {}, {}, strokes=(stroke,)))
    image = renderer.render(FRONT, W, H)
    green = (image[..., 1] > 200) & (image[..., 0] < 80) & (image[..., 2] < 80)
    assert green.sum() > 50


def test_a_ct_volume_is_volume_rendered(tmp_path: Path) -> None:
    scene_path = write_volume_scene(tmp_path / "scene")
    scene, store = build(scene_path, tmp_path / "cache")
    sources = volume_sources(scene_path)
    assert [s.name for s in sources] == ["blob"]
    volume = read_intensity_volume(sources[0].path)
    assert volume is not None
    camera = ViewCamera(position=(0.0, -200.0, 0.0), target=(0.0, 0.0, 0.0))
    plain = SceneRenderer(store.glb_path)
    with_volume = SceneRenderer(store.glb_path, {"blob": volume})
    try:
        plain.update(SceneState(scene.objects, {}, {}))
        with_volume.update(SceneState(scene.objects, {}, {}))
        surface, rendered = plain.render(camera, W, H), with_volume.render(camera, W, H)
    finally:
        plain.close()
        with_volume.close()
    assert model_pixels(rendered) > 0.02 * W * H
    # The volume replaces the iso-surface: a soft blob whose brightness falls off, not a lit surface's flat colour.
    assert not np.array_equal(surface, rendered)
    brightness = rendered.astype(np.float32).sum(axis=-1)
    assert brightness[H // 2, W // 2] > brightness[H // 2, W // 2 + 25] > brightness[0, 0]


def test_the_worker_thread_renders_the_newest_request_and_ends_on_close(tmp_path: Path) -> None:
    scene, store = build(write_sphere_scene(tmp_path / "scene"), tmp_path / "cache")
    done = threading.Event()
    worker = RenderWorker(lambda: SceneRenderer(store.glb_path), on_frame=lambda frame: done.set(), name="render-test")
    try:
        worker.submit(RenderRequest(SceneState(scene.objects, {}, {}), None, W, H, 1))
        assert done.wait(60)
        assert worker.latest is not None and worker.latest.serial == 1
        assert model_pixels(worker.latest.image) > 0  # the fitted first view shows the model
    finally:
        worker.close()
    assert not worker.alive
    assert "render-test" not in {t.name for t in threading.enumerate()}
