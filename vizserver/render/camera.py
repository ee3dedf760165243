"""The video viewer's camera: the ``view_camera`` control message (docs/protocol.md, "Video view").

Coordinates are the scene's content coordinates, as the browser's own camera uses them: metres after each
object's transform, z up. ``fov`` is the vertical field of view in degrees.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, ValidationError, model_validator

from vizserver.protocol.messages import ErrorCode, ProtocolError

Vec3 = tuple[FiniteFloat, FiniteFloat, FiniteFloat]

DEFAULT_FOV_DEG = 40.0
"""The browser viewer's vertical field of view."""
MIN_FOV_DEG = 1.0
MAX_FOV_DEG = 150.0
MAX_COORDINATE = 1e6
"""Metres; anything farther is a mistake, and VTK's clipping range degrades long before."""


class ViewCamera(BaseModel):
    """``{"type": "view_camera", "position": [x, y, z], "target": [x, y, z], "up": [0, 0, 1], "fov": 40}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["view_camera"] = "view_camera"
    position: Vec3
    target: Vec3
    up: Vec3 = (0.0, 0.0, 1.0)
    fov: float = Field(default=DEFAULT_FOV_DEG, ge=MIN_FOV_DEG, le=MAX_FOV_DEG)

    @model_validator(mode="after")
    def _usable(self) -> ViewCamera:
        if max(abs(c) for c in (*self.position, *self.target)) > MAX_COORDINATE:
            raise ValueError(f"camera coordinates beyond {MAX_COORDINATE:g} m")
        d = [t - p for p, t in zip(self.position, self.target, strict=True)]
        if math.hypot(*d) == 0.0:
            raise ValueError("camera position and target are the same point")
        u = self.up
        cross = (d[1] * u[2] - d[2] * u[1], d[2] * u[0] - d[0] * u[2], d[0] * u[1] - d[1] * u[0])
        if math.hypot(*cross) <= 1e-9 * math.hypot(*d) * math.hypot(*u):
            raise ValueError("camera up is zero or along the line of sight")
        return self


def parse_view_camera(message: Mapping[str, Any]) -> ViewCamera:
    """A checked camera; anything else raises ProtocolError ``bad_message`` naming the first problem."""
    try:
        return ViewCamera.model_validate(message)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "view_camera"
        raise ProtocolError(ErrorCode.BAD_MESSAGE, f"view_camera: {where}: {first['msg']}") from None
