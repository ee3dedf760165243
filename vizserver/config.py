"""Named limits and defaults. Every size, count and time limit lives here, with its unit in the name.

Limits can be overridden per process with environment variables ``VIZSERVER_<NAME>`` (read once by
:func:`limits`), which is how tests exercise them with small values.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from typing import Any

MAX_INPUT_BYTES = 1 << 30
"""Largest single input file (and upload) we read: 1 GiB."""

MAX_POINTS = 200_000_000
"""Largest point count a reader accepts, whatever its header claims."""

MAX_CELLS = 400_000_000
"""Largest cell/triangle count a reader accepts, whatever its header claims."""

MAX_ARCHIVE_EXPANSION_RATIO = 200
"""A zip whose members inflate to more than this multiple of the archive size is refused (zip bomb)."""

MAX_ARCHIVE_MEMBERS = 20_000
"""Most files we accept inside one archive (a DICOM series zip)."""

MAX_TIME_STEPS = 100_000
"""Most time steps in one series (PVD, numbered files, openCARP .igb)."""

READER_TIMEOUT_S = 600.0
"""A reader running in an isolated child process is killed after this long."""

READER_MEMORY_FACTOR = 40
"""An isolated reader may use this many times the file size in memory (plus READER_MEMORY_FLOOR_BYTES)."""

READER_MEMORY_FLOOR_BYTES = 3 << 30
"""Memory every isolated reader may use whatever the file size: 3 GiB."""

SETTINGS_PREFIX = "VIZSERVER_"
"""Environment variables with this prefix override the limits below (``VIZSERVER_MAX_INPUT_BYTES``)."""

PROGRESS_AFTER_S = 1.0
"""A CLI conversion shows a progress bar once it has run this long."""

# --- streaming protocol (docs/protocol.md) ---

MAX_CONTROL_MESSAGE_BYTES = 64 << 10
"""Largest JSON control message a client may send: 64 KiB (UTF-8 bytes)."""

MAX_SERVER_MESSAGE_BYTES = 16 << 20
"""Largest JSON control message a Python client accepts from the server (a scene with many steps): 16 MiB."""

MAX_FIELD_FRAME_BYTES = 64 << 20
"""Largest field frame payload, after zstd decompression: 64 MiB."""

MAX_CLIENT_NAME_CHARS = 64
"""Longest ``client`` string in ``hello``, and longest id a client may echo back (``resume.client_id``)."""

OUTBOX_CONTROL_LIMIT = 256
"""Control messages queued for one client; one more closes the connection with 4008."""

STALL_TIMEOUT_S = 10.0
"""A client that has not read anything for this long while messages wait for it is closed with 4008."""

BAD_MESSAGE_LIMIT = 10
"""This many bad messages from one client within BAD_MESSAGE_WINDOW_S close it with 4003."""

BAD_MESSAGE_WINDOW_S = 10.0
"""The window over which BAD_MESSAGE_LIMIT bad messages are counted."""

RESUME_WINDOW_S = 60.0
"""A client reconnecting within this long with ``hello.resume`` keeps its identity."""

PLAYBACK_MIN_SPEED = 0.05
"""Slowest playback speed a client may ask for (times real playback rate)."""

PLAYBACK_MAX_SPEED = 16.0
"""Fastest playback speed a client may ask for."""

PLAYBACK_LEAD_S = 0.25
"""While playing, frames are sent for the step that will be shown this long from now (at least one step
ahead), so they reach clients before their display time; clients present them by the session clock."""

PLAYBACK_LEAD_MAX_STEPS = 16
"""The most steps ahead a frame is sent (fast playback); the client's step buffer holds twice this."""


@dataclass(frozen=True, slots=True)
class Limits:
    max_input_bytes: int = MAX_INPUT_BYTES
    max_points: int = MAX_POINTS
    max_cells: int = MAX_CELLS
    max_archive_expansion_ratio: int = MAX_ARCHIVE_EXPANSION_RATIO
    max_archive_members: int = MAX_ARCHIVE_MEMBERS
    max_time_steps: int = MAX_TIME_STEPS
    reader_timeout_s: float = READER_TIMEOUT_S
    reader_memory_factor: int = READER_MEMORY_FACTOR
    reader_memory_floor_bytes: int = READER_MEMORY_FLOOR_BYTES


def limits() -> Limits:
    """The limits in force: the defaults above, overridden by ``VIZSERVER_<NAME>`` variables."""
    base = Limits()
    overrides: dict[str, Any] = {}
    for f in fields(Limits):
        raw = os.environ.get(f"{SETTINGS_PREFIX}{f.name.upper()}")
        if raw is not None:
            overrides[f.name] = float(raw) if f.type in ("float", float) else int(raw)
    return replace(base, **overrides) if overrides else base
