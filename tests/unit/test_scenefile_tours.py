from __future__ import annotations

from pathlib import Path

import pytest

from vizserver.scenefile import (
    DEFAULT_CAMERA_UP,
    MAX_TOUR_CAPTION_CHARS,
    MAX_TOUR_STEPS,
    MAX_TOUR_TWIN_VALUES,
    SceneFileError,
    load_scene_file,
)

ROOT = Path(__file__).resolve().parents[2]
MANY_VALUES = ", ".join(f"p{i}: 1" for i in range(MAX_TOUR_TWIN_VALUES + 1))

HEAD = """\
title: t
objects:
  - {name: heart, source: mesh.stl}
  - {name: torso, source: mesh.stl}
twin: {kind: cardiac, object: heart, parameters: {cycle_length: 900}}
"""


def _write(tmp_path: Path, tour: str, head: str = HEAD) -> Path:
    (tmp_path / "mesh.stl").write_bytes(b"solid x\nendsolid x\n")
    path = tmp_path / "scene.yaml"
    path.write_text(head + tour)
    return path


def _refused(tmp_path: Path, tour: str, head: str = HEAD) -> str:
    with pytest.raises(SceneFileError) as info:
        load_scene_file(_write(tmp_path, tour, head))
    message = str(info.value)
    assert message.startswith("scene.yaml: ")
    assert "\n" not in message
    return message


def test_a_full_tour_is_read(tmp_path: Path) -> None:
    spec = load_scene_file(_write(tmp_path, """\
tour:
  title: A walk round the heart
  views:
    front: {position: [0, -0.3, 0], target: [0, 0, 0.01]}
  steps:
    - title: Front
      text: |
        Two lines
        of caption.
      camera: {view: front}
      visible: [heart]
      time_step: 3
      playing: false
    - title: Apex
      camera: {position: [0.1, 0.0, -0.2], target: [0, 0, -0.02], up: [0, 1, 0]}
      clip: {axis: z, position: 0.25, flip: true}
      time: 12.5
      twin: {cycle_length: 600, scar_mode: slow, stim_amplitude: 30}
      actions: [{action: clear scar}, {action: pace here, point: [0, 0, -20]}]
"""))
    assert spec.tour is not None
    tour = spec.tour
    assert tour.title == "A walk round the heart"
    assert tour.views["front"].position == (0.0, -0.3, 0.0)
    assert tour.views["front"].up == DEFAULT_CAMERA_UP == (0.0, 0.0, 1.0)
    front, apex = tour.steps
    assert front.camera is not None and front.camera.view == "front"
    assert front.text == "Two lines\nof caption.\n"
    assert (front.visible, front.time_step, front.playing, front.clip) == (["heart"], 3, False, None)
    assert apex.camera is not None and apex.camera.up == (0.0, 1.0, 0.0)
    assert apex.clip is not None and (apex.clip.axis, apex.clip.position, apex.clip.flip) == ("z", 0.25, True)
    assert apex.time == 12.5 and apex.visible is None
    assert apex.twin == {"cycle_length": 600, "scar_mode": "slow", "stim_amplitude": 30}
    assert [(a.action, a.point) for a in apex.actions] == [("clear scar", None), ("pace here", (0.0, 0.0, -20.0))]


def test_the_default_scene_has_a_short_tour() -> None:
    spec = load_scene_file(ROOT / "scenes" / "default.yaml")
    assert spec.tour is not None
    steps = spec.tour.steps
    assert 3 <= len(steps) <= 4
    assert any(a.action == "pace here" for s in steps for a in s.actions)
    assert any(a.action == "place scar" for s in steps for a in s.actions)
    assert any(s.clip is not None for s in steps)
    assert all(s.text for s in steps)


@pytest.mark.parametrize(
    ("tour", "fragment"),
    [
        (
            "tour: {steps: [{title: s, visible: [heart, lungs]}]}\n",
            "tour step 1 ('s') shows unknown objects ['lungs']; objects: heart, torso",
        ),
        (
            "tour: {steps: [{title: a}, {title: b, camera: {view: side}}]}\n",
            "tour step 2 ('b') uses unknown view 'side'; views: (none: add them under tour.views)",
        ),
        (
            "tour: {views: {front: {position: [0, 1, 0]}}, steps: [{title: b, camera: {view: back}}]}\n",
            "uses unknown view 'back'; views: front",
        ),
        ("tour: {steps: []}\n", "tour.steps: List should have at least 1 item"),
        ("tour: {steps: [{text: no title}]}\n", "tour.steps.0.title: Field required"),
        ("tour: {steps: [{title: ''}]}\n", "tour.steps.0.title: String should have at least 1 character"),
        ("tour: {steps: [{title: s, caption: c}]}\n", "tour.steps.0.caption: Extra inputs are not permitted"),
        (
            f"tour: {{steps: [{{title: s, text: {'x' * (MAX_TOUR_CAPTION_CHARS + 1)}}}]}}\n",
            f"tour.steps.0.text: String should have at most {MAX_TOUR_CAPTION_CHARS} characters",
        ),
        (
            "tour: {steps: [{title: s, camera: {target: [0, 0, 0]}}]}\n",
            "give 'position' (with optional 'target' and 'up') or 'view'",
        ),
        (
            "tour: {steps: [{title: s, camera: {view: v, position: [0, 1, 0]}}]}\n",
            "give either 'view' or 'position'/'target'/'up', not both",
        ),
        (
            "tour: {steps: [{title: s, camera: {position: [0, 0, 0]}}]}\n",
            "camera position and target are the same point",
        ),
        (
            "tour: {steps: [{title: s, camera: {position: [0, 0, 1], up: [0, 0, 2]}}]}\n",
            "camera up is zero or along the line of sight",
        ),
        (
            "tour: {steps: [{title: s, camera: {position: [0, .nan, 1]}}]}\n",
            "camera.position.1: Input should be a finite number",
        ),
        ("tour: {steps: [{title: s, camera: {position: [0, 1]}}]}\n", "camera.position"),
        (
            "tour: {views: {v: {position: [0, 0, 0]}}, steps: [{title: s}]}\n",
            "tour.views.v: Value error, camera position and target are the same point",
        ),
        ("tour: {steps: [{title: s, clip: {axis: w}}]}\n", "tour.steps.0.clip.axis: Input should be 'x', 'y' or 'z'"),
        ("tour: {steps: [{title: s, clip: {axis: x, position: 1.5}}]}\n", "clip.position: Input should be less than"),
        ("tour: {steps: [{title: s, time: 1, time_step: 2}]}\n", "give 'time' or 'time_step', not both"),
        ("tour: {steps: [{title: s, time_step: -1}]}\n", "time_step: Input should be greater than or equal to 0"),
        ("tour: {steps: [{title: s, time: .inf}]}\n", "tour.steps.0.time: Input should be a finite number"),
        (
            "tour: {steps: [{title: s, twin: {cycle_length: [1, 2]}}]}\n",
            "twin parameter 'cycle_length' must be a number, true/false or a string, not list",
        ),
        ("tour: {steps: [{title: s, twin: {cycle_length: null}}]}\n", "not null"),
        ("tour: {steps: [{title: s, twin: {cycle_length: .nan}}]}\n", "twin parameter 'cycle_length' must be finite"),
        (
            f"tour: {{steps: [{{title: s, twin: {{{MANY_VALUES}}}}}]}}\n",
            f"{MAX_TOUR_TWIN_VALUES + 1} twin parameters (at most {MAX_TOUR_TWIN_VALUES})",
        ),
        ("tour: {steps: [{title: s, actions: [{point: [0, 0, 0]}]}]}\n", "actions.0.action: Field required"),
        (
            "tour: {steps: [{title: s, actions: [{action: pace, point: [0, 0, .inf]}]}]}\n",
            "actions.0.point.2: Input should be a finite number",
        ),
    ],
)
def test_bad_tours_name_the_problem(tmp_path: Path, tour: str, fragment: str) -> None:
    assert fragment in _refused(tmp_path, tour)


def test_twin_steps_need_a_twin(tmp_path: Path) -> None:
    head = "title: t\nobjects:\n  - {name: heart, source: mesh.stl}\n"
    message = _refused(tmp_path, "tour: {steps: [{title: Pace, actions: [{action: pace here, point: [0, 0, 0]}]}]}\n",
                       head)
    assert "tour step 1 ('Pace') sets twin parameters or actions but the scene has no twin" in message
    message = _refused(tmp_path, "tour: {steps: [{title: a}, {title: Faster, twin: {cycle_length: 500}}]}\n", head)
    assert "tour step 2 ('Faster') sets twin parameters" in message


def test_too_many_steps(tmp_path: Path) -> None:
    steps = ", ".join("{title: s}" for _ in range(MAX_TOUR_STEPS + 1))
    message = _refused(tmp_path, f"tour: {{steps: [{steps}]}}\n")
    assert f"tour.steps: List should have at most {MAX_TOUR_STEPS} items" in message
