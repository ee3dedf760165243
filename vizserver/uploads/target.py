"""Where a converted upload goes: the session's hub in this process, or its owner in another (``--redis``).

:meth:`ServerRuntime.convert_upload` talks to an :class:`UploadTarget` only, so the same conversion flow
serves an upload whether this process owns the session (:class:`HubTarget`) or is an edge for it
(:class:`~vizserver.scale.shared_assets.EdgeUploadTarget`).
"""

from __future__ import annotations

from typing import Protocol

from vizserver.protocol.messages import UploadStatus
from vizserver.scenes.objects import StreamObject
from vizserver.streaming.hub import SessionHub


class UploadTarget(Protocol):
    def upload_status(self, status: UploadStatus) -> None:
        """Tell everyone in the session how the upload is doing."""

    async def hand_over(self, objects: tuple[StreamObject, ...]) -> str | None:
        """Add the converted objects to the session; the reason as one line when they could not be added."""


class HubTarget:
    """The session's hub lives in this process: objects are added at once."""

    def __init__(self, hub: SessionHub) -> None:
        self.hub = hub

    def upload_status(self, status: UploadStatus) -> None:
        self.hub.upload_status(status)

    async def hand_over(self, objects: tuple[StreamObject, ...]) -> str | None:
        self.hub.add_objects(objects)
        return None
