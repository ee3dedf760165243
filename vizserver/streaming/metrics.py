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


@dataclass(frozen=True, slots=True)
class RedisFigures:
    """What ``/metrics`` shows of Redis with ``serve --redis`` (docs/architecture.md "Scale-out")."""

    up: bool
    outages: int
    """Times Redis went from reachable to unreachable since the server started."""
    store_writes: int
    store_write_failures: int
    unsaved_sessions: int
    """Sessions whose latest change is not in Redis yet (an outage, or the save interval)."""


def exposition(counters: Counters, sessions: int, outboxes: Iterable[Outbox], redis: RedisFigures | None = None) -> str:
    """Prometheus text format 0.0.4 of the counters plus the live outboxes (and Redis, when the server uses it)."""
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
    if redis is not None:
        lines += _redis_lines(redis)
    return "\n".join(lines) + "\n"


def _redis_lines(redis: RedisFigures) -> list[str]:
    return [
        "# HELP vizserver_redis_up Whether Redis answered this server's last ping (1) or not (0).",
        "# TYPE vizserver_redis_up gauge",
        f"vizserver_redis_up {int(redis.up)}",
        "# HELP vizserver_redis_outages_total Times Redis became unreachable.",
        "# TYPE vizserver_redis_outages_total counter",
        f"vizserver_redis_outages_total {redis.outages}",
        "# HELP vizserver_redis_store_writes_total Session saves written to Redis (each holds every changed session).",
        "# TYPE vizserver_redis_store_writes_total counter",
        f"vizserver_redis_store_writes_total {redis.store_writes}",
        "# HELP vizserver_redis_store_write_failures_total Session saves Redis did not take (retried when it is back).",
        "# TYPE vizserver_redis_store_write_failures_total counter",
        f"vizserver_redis_store_write_failures_total {redis.store_write_failures}",
        "# HELP vizserver_redis_unsaved_sessions Sessions whose latest change is not in Redis yet.",
        "# TYPE vizserver_redis_unsaved_sessions gauge",
        f"vizserver_redis_unsaved_sessions {redis.unsaved_sessions}",
    ]
