"""The per-session frame loop without a network: each step encoded once, the same bytes for every client."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
from fixtures.server import STEPS, write_scene

from vizserver.protocol.frames import decode_frame
from vizserver.protocol.messages import Hello, PlaybackRequest, Subscribe
from vizserver.protocol.outbox import Outbox
from vizserver.scenes.build import load_or_build
from vizserver.scenes.cache import AssetStore
from vizserver.sessions.registry import SessionRegistry
from vizserver.sessions.session import Connect, Received
from vizserver.streaming.series import SeriesLoader
from vizserver.streaming.streamer import Streamer


def test_each_step_is_encoded_once_and_shared_by_every_subscriber(tmp_path: Path) -> None:
    store = AssetStore(tmp_path / "cache")
    build = load_or_build(write_scene(tmp_path), store)
    created = SessionRegistry().create(build.scene, now=0.0)
    session = created.session
    outboxes = {}
    for name in ("a", "b", "c"):
        session.apply(Connect(name, created.host.token, Hello(protocol=1, client=name)), 0.0)
        outboxes[name] = Outbox()
    wave = build.scene.objects[0]
    temperature = next(f.id for f in wave.fields if f.name == "temperature")
    session.apply(Received("c", Subscribe(object=wave.id, field=temperature)), 0.0)
    clock = [0.0]
    # a loader that must read the series from disk: the cache path, as on a second start
    streamer = Streamer(session, outboxes, SeriesLoader(store), clock=lambda: clock[0])

    async def rounds() -> None:
        await streamer.deliver()
        assert streamer.frames_encoded == 2  # two streams (pressure for a and b, temperature for c), once each
        sent = {name: box.pop() for name, box in outboxes.items()}
        assert sent["a"] is sent["b"]  # the very same bytes object, not a copy encoded again
        first = {name: decode_frame(data) for name, data in sent.items() if isinstance(data, bytes)}
        assert {f.header.step for f in first.values()} == {0}
        session.apply(Received("a", PlaybackRequest(step=STEPS - 1)), 0.0)
        await streamer.deliver()
        assert streamer.frames_encoded == 4
        later = outboxes["a"].pop()
        assert isinstance(later, bytes)
        frame = decode_frame(later, first["a"])
        assert frame.header.step == STEPS - 1 and frame.header.delta  # a delta against what "a" holds
        assert not np.array_equal(frame.values, first["a"].values)
        await streamer.deliver()  # nothing changed: nothing encoded, nothing re-sent
        assert streamer.frames_encoded == 4 and outboxes["a"].pop() is None

    asyncio.run(rounds())
