"""Redis names and entry formats of twin jobs (docs/twins.md, "Twin workers over Redis"); sans-I/O.

A job is one entry of the stream :data:`JOBS` (consumer group :data:`GROUP`): the session, the job's
generation and the twin's recipe as JSON. A running job talks over two streams of its own,
``vz:twin:{sid}:{gen}:to-worker`` and ``...:to-server``; each entry is one worker wire message
(:mod:`vizserver.twins.wire`): field ``h`` the JSON header, fields ``0``, ``1``, ... its binary blobs.
Two more entries go to the server: ``claimed`` (a worker took the job: its id) and ``released``
(the worker is shutting down and hands the job back: why). ``vz:twin:{sid}:gen`` holds the newest
generation of a session's job: a worker on an older one stops. ``vz:worker:{id}`` (TTL) says a
worker is alive.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vizserver.errors import InputError
from vizserver.twins import wire
from vizserver.twins.recipes import TwinRecipe

JOBS = "vz:twin:jobs"
GROUP = "workers"
JOBS_MAXLEN = 1000
"""The job stream is trimmed (approximately) to this many entries; finished jobs are deleted anyway."""
WORKER_TTL_MS = 3000
"""A worker's key expires this long after its last refresh: then it counts as lost."""
STREAM_TTL_S = 60
"""A job's message streams expire this long after their last message (a server or worker that vanished)."""

FieldMap = Mapping[bytes, bytes]


class TwinJobError(InputError):
    """A job entry that cannot be run as it is (missing fields, bad JSON, a bad recipe shape)."""


def worker_key(worker_id: str) -> str:
    return f"vz:worker:{worker_id}"


def generation_key(session_id: str) -> str:
    return f"vz:twin:{session_id}:gen"


@dataclass(frozen=True, slots=True)
class JobStreams:
    """The two message streams of one generation of a session's job."""

    to_worker: str
    to_server: str

    @classmethod
    def of(cls, session_id: str, generation: int) -> JobStreams:
        base = f"vz:twin:{session_id}:{generation}"
        return cls(f"{base}:to-worker", f"{base}:to-server")


@dataclass(frozen=True, slots=True)
class TwinJob:
    session_id: str
    generation: int
    recipe: TwinRecipe
    frame_interval_s: float

    @property
    def streams(self) -> JobStreams:
        return JobStreams.of(self.session_id, self.generation)

    def describe(self) -> str:
        return f"session {self.session_id} twin {self.recipe.kind!r} (generation {self.generation})"


def job_fields(job: TwinJob) -> dict[str, str]:
    """The stream entry of ``job``; :class:`TwinJobError` if its recipe is not plain JSON."""
    recipe = {"kind": job.recipe.kind, "options": dict(job.recipe.options), "params": dict(job.recipe.params)}
    try:
        text = json.dumps(recipe, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise TwinJobError(f"twin {job.recipe.kind!r}: its recipe cannot be sent to a worker: {exc}") from None
    return {"session": job.session_id, "generation": str(job.generation), "recipe": text,
            "frame_interval_s": repr(job.frame_interval_s)}


def parse_job(fields: FieldMap) -> TwinJob:
    """The job in a stream entry; :class:`TwinJobError` saying what is wrong with it."""
    session = _text(fields, "session")
    try:
        generation = int(_text(fields, "generation"))
        interval = float(_text(fields, "frame_interval_s"))
    except ValueError as exc:
        raise TwinJobError(f"twin job of session {session}: {exc}") from None
    if generation < 1 or not (math.isfinite(interval) and interval > 0):
        raise TwinJobError(f"twin job of session {session}: bad generation {generation} or frame interval {interval}")
    try:
        recipe: Any = json.loads(_text(fields, "recipe"))
    except ValueError as exc:
        raise TwinJobError(f"twin job of session {session}: the recipe is not JSON ({exc})") from None
    if not (isinstance(recipe, dict) and isinstance(recipe.get("kind"), str)
            and isinstance(recipe.get("options", {}), dict) and isinstance(recipe.get("params", {}), dict)):
        raise TwinJobError(f"twin job of session {session}: the recipe must be {{kind, options, params}}")
    return TwinJob(session, generation, TwinRecipe(recipe["kind"], recipe.get("options", {}), recipe.get("params", {})),
                   interval)


def job_session(fields: FieldMap) -> tuple[str, int] | None:
    """The session and generation of a job entry, if it names them (to answer a bad job)."""
    try:
        return _text(fields, "session"), int(_text(fields, "generation"))
    except (TwinJobError, ValueError):
        return None


def _text(fields: FieldMap, name: str) -> str:
    value = fields.get(name.encode())
    if value is None:
        raise TwinJobError(f"twin job: no {name!r} field")
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise TwinJobError(f"twin job: field {name!r} is not UTF-8") from None


# --- messages on a job's streams -------------------------------------------------------------------


def message_fields(header: bytes, blobs: Sequence[wire.Buffer]) -> dict[str, bytes]:
    """One wire message as a stream entry."""
    entry = {"h": bytes(header)}
    for i, blob in enumerate(blobs):
        entry[str(i)] = memoryview(blob).cast("B").tobytes()
    return entry


def entries(answer: Any) -> list[tuple[bytes, FieldMap]]:
    """The entries of an ``XREAD`` / ``XREADGROUP`` answer (RESP2: ``[[stream, [(id, fields), ...]], ...]``)."""
    return [(entry_id, fields) for _stream, found in answer or [] for entry_id, fields in found]


def message_of(fields: FieldMap) -> tuple[bytes, list[bytes]]:
    """The wire message in a stream entry; :class:`~vizserver.twins.wire.WireError` if it is not one."""
    header = fields.get(b"h")
    if header is None:
        raise wire.WireError("a stream entry without a header")
    blobs: list[bytes] = []
    for i in range(wire.blob_count(header)):
        blob = fields.get(str(i).encode())
        if blob is None:
            raise wire.WireError(f"a stream entry lacks blob {i + 1}")
        blobs.append(blob)
    return header, blobs
