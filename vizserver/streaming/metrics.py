"""Server counters and their Prometheus text exposition (``GET /metrics``).

Live clients keep their own counters in their outboxes; when a client leaves, its counts are added
to the totals here, so totals never go down.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from vizserver.protocol.outbox import Outbox

UPLOAD_STATUSES = ("done", "failed", "refused")


@dataclass(slots=True)
class Counters:
    frames_sent: int = 0
    frames_dropped: int = 0
    bytes_sent: int = 0
    uploads: dict[str, int] = field(default_factory=lambda: dict.fromkeys(UPLOAD_STATUSES, 0))

    def absorb(self, outbox: Outbox) -> None:
        """Add a departing client's counts."""
        self.frames_sent += outbox.sent_frames
        self.frames_dropped += outbox.dropped_frames
        self.bytes_sent += outbox.bytes_sent

    def upload(self, status: str) -> None:
        self.uploads[status] = self.uploads.get(status, 0) + 1


def exposition(counters: Counters, sessions: int, outboxes: Iterable[Outbox]) -> str:
    """Prometheus text format 0.0.4 of the counters plus the live outboxes."""
    live = list(outboxes)
    sent = counters.frames_sent + sum(o.sent_frames for o in live)
    dropped = counters.frames_dropped + sum(o.dropped_frames for o in live)
    sent_bytes = counters.bytes_sent + sum(o.bytes_sent for o in live)
    control_depth = max((o.depth[0] for o in live), default=0)
    frame_depth = max((o.depth[1] for o in live), default=0)
    lines = [
        "# HELP vizserver_clients Connected WebSocket clients.",
        "# TYPE vizserver_clients gauge",
        f"vizserver_clients {len(live)}",
        "# HELP vizserver_sessions Sessions held by this server.",
        "# TYPE vizserver_sessions gauge",
        f"vizserver_sessions {sessions}",
        "# HELP vizserver_frames_sent_total Field frames written to clients.",
        "# TYPE vizserver_frames_sent_total counter",
        f"vizserver_frames_sent_total {sent}",
        "# HELP vizserver_frames_dropped_total Field frames replaced by a newer one before they were sent.",
        "# TYPE vizserver_frames_dropped_total counter",
        f"vizserver_frames_dropped_total {dropped}",
        "# HELP vizserver_bytes_sent_total Bytes of control messages and frames written to clients.",
        "# TYPE vizserver_bytes_sent_total counter",
        f"vizserver_bytes_sent_total {sent_bytes}",
        "# HELP vizserver_outbox_depth Largest number of messages waiting in one client's outbox, by kind.",
        "# TYPE vizserver_outbox_depth gauge",
        f'vizserver_outbox_depth{{kind="control"}} {control_depth}',
        f'vizserver_outbox_depth{{kind="frames"}} {frame_depth}',
        "# HELP vizserver_uploads_total Uploads by outcome.",
        "# TYPE vizserver_uploads_total counter",
        *(f'vizserver_uploads_total{{status="{s}"}} {n}' for s, n in sorted(counters.uploads.items())),
    ]
    return "\n".join(lines) + "\n"
