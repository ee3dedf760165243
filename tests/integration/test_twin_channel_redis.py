"""Twin jobs and their channel at the Redis level: a real redis-server, real `vizserver worker` subprocesses,
and this test in the server's place (posting jobs, reading the worker's stream) with a plain Redis client."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from fixtures.redis_server import RedisServer
from fixtures.twin_workers import Worker, gone, job_pid
from fixtures.twins import positions

from vizserver.scale.twin_channel import MAX_UNREAD, RedisChannel
from vizserver.scale.twin_keys import (
    GROUP,
    JOBS,
    JobStreams,
    TwinJob,
    TwinJobError,
    entries,
    generation_key,
    job_fields,
    message_fields,
    message_of,
    parse_job,
)
from vizserver.twins import wire
from vizserver.twins.recipes import TwinRecipe
from vizserver.twins.worker import ChannelClosedError

WAIT_S = 30.0
DECAY = TwinRecipe("fixtures.twins:DecayTwin", {}, {"amplitude": 0.5})


@pytest.fixture
def client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_server.url)
    yield connection
    connection.close()


@pytest.fixture
def workers(redis_server: RedisServer) -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for worker in started:
        worker.stop()
    assert all(w.process.poll() is not None for w in started)
    assert all(gone(job_pid(line)) for w in started for line in w.lines if "(process " in line)  # nor a twin


def post(client: redis.Redis, session: str, recipe: TwinRecipe = DECAY, n: int = 4) -> TwinJob:
    """What RedisTwinHost does: a new generation, the bind message on its stream, the job on the job stream."""
    generation = int(client.incr(generation_key(session)))
    job = TwinJob(session, generation, recipe, 1 / 30)
    client.xadd(job.streams.to_worker, message_fields(*wire.encode(wire.Bind(positions(n)))))  # type: ignore[arg-type]
    client.xadd(JOBS, job_fields(job))  # type: ignore[arg-type]
    return job


def read_until(client: redis.Redis, streams: JobStreams, wanted: str) -> list[Any]:
    """The worker's entries (``claimed`` as a pair, wire messages decoded) up to the first of type ``wanted``."""
    seen: list[Any] = []
    last = b"0"
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        for entry_id, fields in entries(client.xread({streams.to_server: last}, count=16, block=200)):
            last = entry_id
            if b"claimed" in fields:
                seen.append(("claimed", fields[b"claimed"].decode()))
                kind = "claimed"
            elif b"released" in fields:
                seen.append(("released", fields[b"released"].decode()))
                kind = "released"
            else:
                message = wire.decode_from_worker(*message_of(fields))
                seen.append(message)
                kind = type(message).__name__.lower()
            client.xdel(streams.to_server, entry_id)
            if kind == wanted:
                return seen
    raise AssertionError(f"no {wanted} within {WAIT_S} s; saw {seen}")


def pending(client: redis.Redis) -> int:
    return int(client.xpending(JOBS, GROUP)["pending"])


def test_job_entries_round_trip_and_bad_ones_say_what_is_wrong() -> None:
    job = TwinJob("s1", 3, DECAY, 0.05)
    fields = {k.encode(): v.encode() for k, v in job_fields(job).items()}
    assert parse_job(fields) == job
    no_session = {k: v for k, v in fields.items() if k != b"session"}
    for broken, why in [({**fields, b"recipe": b"{"}, "not JSON"), (no_session, "no 'session' field"),
                        ({**fields, b"generation": b"0"}, "bad generation"),
                        ({**fields, b"recipe": b'{"kind": 3}'}, "{kind, options, params}")]:
        with pytest.raises(TwinJobError, match=why):
            parse_job(broken)
    with pytest.raises(TwinJobError, match="cannot be sent to a worker"):
        job_fields(TwinJob("s1", 1, TwinRecipe("x:y", {"path": object()}), 0.05))


def test_a_worker_runs_a_job_and_stops_when_a_newer_generation_is_posted(client: redis.Redis,
                                                                          redis_server: RedisServer,
                                                                          workers: list[Worker]) -> None:
    workers.append(worker := Worker.start(redis_server.url, "w1"))
    job = post(client, "s1")
    seen = read_until(client, job.streams, "ready")
    assert seen[0] == ("claimed", "w1")
    assert seen[-1].vertices == 4 and [o.name for o in seen[-1].outputs] == ["u", "x"]
    frame = read_until(client, job.streams, "frame")[-1]
    assert frame.fields["u"].max() <= 1.0  # amplitude 0.5 from the job's parameters: u <= 0.5 * 2
    assert client.exists("vz:worker:w1") and pending(client) == 1
    newer = post(client, "s1")  # the session moved on: the worker drops the old generation and takes the new one
    assert read_until(client, newer.streams, "ready")[0] == ("claimed", "w1")
    worker.said(f"generation {job.generation}) ended (the session moved its twin to a newer job)")
    assert pending(client) == 1  # the old job was acked; the new one is held


def test_a_bad_job_is_acked_with_a_failed_message_and_the_worker_takes_the_next(client: redis.Redis,
                                                                                redis_server: RedisServer,
                                                                                workers: list[Worker]) -> None:
    workers.append(worker := Worker.start(redis_server.url, "w1"))
    generation = int(client.incr(generation_key("bad")))
    client.xadd(JOBS, {"session": "bad", "generation": str(generation), "recipe": "{not json",
                       "frame_interval_s": "0.033"})
    failed = read_until(client, JobStreams.of("bad", generation), "failed")[-1]
    assert "cannot run the twin job" in failed.message and "the recipe is not JSON" in failed.message
    worker.said("bad twin job")
    unknown = post(client, "unknown", TwinRecipe("no_such_module:Twin"))
    failed = read_until(client, unknown.streams, "failed")[-1]
    assert "cannot import 'no_such_module'" in failed.message
    good = post(client, "good")
    assert read_until(client, good.streams, "ready")[0] == ("claimed", "w1")
    assert pending(client) == 1  # only the good job is held


def test_max_twins_runs_that_many_jobs_at_once(client: redis.Redis, redis_server: RedisServer,
                                              workers: list[Worker]) -> None:
    workers.append(Worker.start(redis_server.url, "w2", "--max-twins", "2"))
    jobs = [post(client, f"s{i}") for i in range(3)]
    for job in jobs[:2]:
        assert read_until(client, job.streams, "frame")[0] == ("claimed", "w2")
    assert client.xlen(jobs[2].streams.to_server) == 0 and pending(client) == 2  # the third waits for a free slot
    client.incr(generation_key("s0"))  # the first session stops its twin: the third job gets the slot
    assert read_until(client, jobs[2].streams, "ready")[0] == ("claimed", "w2")


def test_the_channel_stops_sending_while_the_server_is_behind_and_goes_on_when_it_reads(
        client: redis.Redis, redis_server: RedisServer) -> None:
    streams = JobStreams.of("bp", 1)
    waiting = threading.Event()
    checks = [0]

    def should_stop() -> str | None:
        if client.xlen(streams.to_server) >= MAX_UNREAD:
            checks[0] += 1
            if checks[0] > 20:  # it has looked again and again without sending: it waits for the reader
                waiting.set()
        return None

    channel = RedisChannel(redis.Redis.from_url(redis_server.url), streams, should_stop)
    sent = [0]

    def send_all() -> None:
        for i in range(3 * MAX_UNREAD):
            channel.send(*wire.encode(wire.Refused(i + 1, f"message {i}")))
            sent[0] += 1

    sender = threading.Thread(target=send_all)
    sender.start()
    assert waiting.wait(WAIT_S)
    assert client.xlen(streams.to_server) == MAX_UNREAD and sent[0] == MAX_UNREAD - 1  # the last send is waiting
    tags: list[int] = []
    while len(tags) < 3 * MAX_UNREAD:
        for entry_id, fields in entries(client.xread({streams.to_server: b"0"}, count=4, block=1000)):
            message = wire.decode_from_worker(*message_of(fields))
            assert isinstance(message, wire.Refused)
            tags.append(message.tag)
            client.xdel(streams.to_server, entry_id)
    sender.join(WAIT_S)
    assert tags == list(range(1, 3 * MAX_UNREAD + 1))  # everything, in order, never more than MAX_UNREAD in Redis

    stopped = RedisChannel(client, streams, lambda: "the worker is shutting down")
    with pytest.raises(ChannelClosedError, match="shutting down"):
        stopped.receive(None)



def test_a_name_is_one_live_worker_and_a_restarted_one_takes_back_its_predecessors_jobs(
        client: redis.Redis, redis_server: RedisServer, workers: list[Worker]) -> None:
    workers.append(first := Worker.start(redis_server.url, "w1"))
    job = post(client, "s1")
    assert read_until(client, job.streams, "ready")[0] == ("claimed", "w1")
    twin = job_pid(first.said("running session s1"))

    workers.append(twin_named := Worker.start(redis_server.url, "w1"))
    assert twin_named.process.wait(WAIT_S) == 2
    assert twin_named.said("error: a live worker is already named 'w1'")

    first.process.kill()  # its claim stays pending under its name, its key expires
    assert gone(twin)
    client.delete(job.streams.to_server)  # what the dead worker sent
    workers.append(restarted := Worker.start(redis_server.url, "w1"))
    assert read_until(client, job.streams, "ready")[0] == ("claimed", "w1")  # the same job, run again
    restarted.said("running session s1")
    assert pending(client) == 1
