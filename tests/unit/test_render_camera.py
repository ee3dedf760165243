"""The ``view_camera`` message of the video view."""

from __future__ import annotations

import pytest

from vizserver.protocol.messages import ErrorCode, ProtocolError
from vizserver.render.camera import DEFAULT_FOV_DEG, parse_view_camera


def test_a_camera_message_parses_with_defaults() -> None:
    camera = parse_view_camera({"type": "view_camera", "position": [0, -1, 0.2], "target": [0, 0, 0]})
    assert camera.position == (0.0, -1.0, 0.2)
    assert camera.up == (0.0, 0.0, 1.0)
    assert camera.fov == DEFAULT_FOV_DEG


@pytest.mark.parametrize(
    ("message", "says"),
    [
        ({"type": "view_camera", "position": [0, 0, 0], "target": [0, 0, 0]}, "same point"),
        ({"type": "view_camera", "position": [0, 0, 1], "target": [0, 0, 0], "up": [0, 0, 1]}, "line of sight"),
        ({"type": "view_camera", "position": [0, 0, 1], "target": [0, 0, 0], "up": [0, 0, 0]}, "line of sight"),
        ({"type": "view_camera", "position": [float("nan"), 0, 1], "target": [0, 0, 0]}, "position"),
        ({"type": "view_camera", "position": [0, 1], "target": [0, 0, 0]}, "position"),
        ({"type": "view_camera", "position": [0, -1, 0], "target": [0, 0, 0], "fov": 179}, "fov"),
        ({"type": "view_camera", "position": [0, -1, 0], "target": [0, 0, 0], "zoom": 2}, "zoom"),
        ({"type": "view_camera", "position": [0, -1e9, 0], "target": [0, 0, 0]}, "beyond"),
        ({"type": "camera", "position": [0, -1, 0], "target": [0, 0, 0]}, "type"),
        ({"position": "here", "target": [0, 0, 0]}, "position"),
    ],
)
def test_a_bad_camera_is_a_bad_message_that_says_what(message: dict[str, object], says: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_view_camera(message)
    assert caught.value.code == ErrorCode.BAD_MESSAGE
    assert says in str(caught.value)
    assert str(caught.value).startswith("view_camera:")
