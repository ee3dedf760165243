"""The owner's outboxes of clients on other processes (vizserver/scale/remote_outbox.py): one batch per edge per
loop turn, one entry per broadcast text, the newest frame pair per stream, bounded while Redis is slow."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from vizserver.protocol.field_encoder import FieldEncoder, FramePair
from vizserver.protocol.outbox import OutboxOverflow
from vizserver.scale.bus_wire import EdgeBatch, decode_batch, decode_message
from vizserver.scale.remote_outbox import EdgeSender, RemoteLink, RemoteOutbox
from vizserver.streaming.hub import SessionHub


class FakeRedis:
    """Publishes into a list; completes each publish when told (a slow Redis completes none)."""

    def __init__(self) -> None:
        self.sent: list[EdgeBatch] = []
        self.pending: list[Callable[[bool], None]] = []
        self.turn: list[Callable[[], None]] = []

    def publish(self, data: bytes, done: Callable[[bool], None]) -> None:
        self.sent.append(decode_batch(decode_message(data)))
        self.pending.append(done)

    def schedule(self, callback: Callable[[], None]) -> None:
        self.turn.append(callback)

    def end_turn(self) -> None:
        callbacks, self.turn = self.turn, []
        for callback in callbacks:
            callback()

    def complete(self, ok: bool = True) -> None:
        pending, self.pending = self.pending, []
        for done in pending:
            done(ok)


def sender(redis: FakeRedis, limit: int = 256) -> EdgeSender:
    return EdgeSender("sid", "edge1", redis.publish, control_limit=limit, schedule=redis.schedule)


def links(edge: EdgeSender, n: int) -> list[RemoteLink]:
    made = [RemoteLink(sender=edge) for _ in range(n)]
    for i, link in enumerate(made):
        link.remote_outbox.recipient = f"c{i}"
    return made


def frames(n: int) -> list[FramePair]:
    encoder = FieldEncoder(1, 0, lo=0.0, hi=1.0)
    return [encoder.encode(np.full(50, i / n, dtype=np.float32), step=i, time=float(i)) for i in range(n)]


def test_a_broadcast_crosses_once_per_edge_with_every_recipient() -> None:
    redis = FakeRedis()
    clients = links(sender(redis), 3)
    text = '{"type":"members"}'
    for link in clients:
        link.outbox.put_control(text)
    pair = frames(1)[0]
    for link in clients[:2]:
        link.outbox.put_frames(pair)
    assert not redis.sent  # gathered until the end of the loop turn
    redis.end_turn()
    assert len(redis.sent) == 1
    batch = redis.sent[0]
    assert batch.texts == [(text, ("c0", "c1", "c2"))]
    assert [(p.sequence, to) for p, to in batch.frames] == [(pair.sequence, ("c0", "c1"))]


def test_texts_keep_their_order_and_a_close_comes_after_them() -> None:
    redis = FakeRedis()
    first, second = links(sender(redis), 2)
    first.outbox.put_control("a")
    second.outbox.put_control("b")
    first.outbox.put_control("c")
    first.request_close(4011, "removed")
    first.outbox.put_control("after the close")  # nothing more goes to a closed client
    redis.end_turn()
    batch = redis.sent[0]
    assert batch.texts == [("a", ("c0",)), ("b", ("c1",)), ("c", ("c0",))]
    assert batch.closes == [("c0", 4011, "removed")]


def test_while_a_batch_is_in_flight_the_next_gathers_and_only_the_newest_frame_waits() -> None:
    redis = FakeRedis()
    edge = sender(redis)
    (client,) = links(edge, 1)
    pairs = frames(5)
    client.outbox.put_frames(pairs[0])
    redis.end_turn()
    assert len(redis.sent) == 1
    for pair in pairs[1:]:  # Redis has not answered: these gather, latest wins per stream
        client.outbox.put_frames(pair)
        redis.end_turn()
    assert len(redis.sent) == 1 and edge.waiting == (0, 1) and edge.dropped_frames == 3
    redis.complete()
    redis.end_turn()
    assert len(redis.sent) == 2
    assert [p.sequence for p, _ in redis.sent[1].frames] == [pairs[-1].sequence]


def test_a_slow_redis_overflows_the_control_queue_and_the_hub_closes_the_client_with_4008() -> None:
    redis = FakeRedis()
    edge = sender(redis, limit=4)
    client, other = links(edge, 2)
    client.outbox.put_control("first")
    redis.end_turn()  # in flight, never completed
    for i in range(4):
        client.outbox.put_control(f"t{i}")
    with pytest.raises(OutboxOverflow, match="limit 4"):
        client.outbox.put_control("one too many")
    SessionHub._put(other, "overflowing")  # what the hub does with every text
    assert other.close_request == (4008, "client too slow")
    redis.complete()
    redis.end_turn()
    assert redis.sent[1].closes == [("c1", 4008, "client too slow")]
    assert len(redis.sent[1].texts) == 4


def test_a_failed_publish_lets_the_next_batch_go() -> None:
    redis = FakeRedis()
    edge = sender(redis)
    (client,) = links(edge, 1)
    client.outbox.put_control("lost")
    redis.end_turn()
    client.outbox.put_control("next")
    redis.complete(ok=False)
    redis.end_turn()
    assert edge.failed == 1 and [b.texts for b in redis.sent] == [[("lost", ("c0",))], [("next", ("c0",))]]


def test_what_is_put_before_the_client_has_an_id_goes_once_it_has_one_in_the_same_turn() -> None:
    redis = FakeRedis()
    edge = sender(redis)
    link = RemoteLink(sender=edge)
    link.outbox.put_control('{"type":"welcome"}')  # the hub sends the welcome while connecting
    assert isinstance(link.outbox, RemoteOutbox) and link.outbox.pop() is None
    link.remote_outbox.recipient = "new"
    redis.end_turn()
    assert redis.sent[0].texts == [('{"type":"welcome"}', ("new",))]


def test_keyframe_requests_go_to_the_edge() -> None:
    redis = FakeRedis()
    (client,) = links(sender(redis), 1)
    client.outbox.request_keyframe((1, 0))
    redis.end_turn()
    assert redis.sent[0].keyframes == [("c0", (1, 0))]
