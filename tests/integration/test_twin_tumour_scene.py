"""The tumour twin served as a live scene: a real server, the twin in a worker process, a WebSocket client."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import numpy as np
import pytest
from fixtures.server import Client, LiveServer, running_twin, settings_for, start_thread_server, ws_url

from vizserver.protocol.frames import DecodedFrame
from vizserver.twins.tumour import DEFAULT_SEED_MM

# a coarse surface keeps frames small; the twin itself simulates on its default 2 mm grid.
# No scheduled radiotherapy, so the density only grows unless a user irradiates.
SCENE = """\
version: 1
title: Tumour test
objects:
  - name: brain
    generator: {name: brain_surface, parameters: {spacing: 4.0}}
    transform: {scale: 0.001}
twin:
  kind: tumour
  object: brain
  parameters: {fractions: 0}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("tumour")
    scene = root / "tumour.yaml"
    scene.write_text(SCENE)
    live = start_thread_server(settings_for(scene, root / "cache"))
    yield live
    live.stop()


async def density_frame(client: Client, obj: int, field: int, at_least: int = 0, time: float = 0.0) -> DecodedFrame:
    """The next density frame from twin frame ``at_least`` on and at twin time ``time`` or later."""
    while True:
        frame = await client.frame(object=obj, field=field)
        if frame.header.step >= at_least and frame.header.time >= time:
            return frame


def test_the_tumour_scene_streams_a_growing_density_that_a_dose_reduces(server: LiveServer) -> None:
    session = server.default_session()

    async def scenario() -> None:
        client = await Client.open(ws_url(server, session))
        status = await running_twin(client)
        assert status["time_unit"] == "day"
        assert [a["name"] for a in status["actions"]] == ["seed tumour", "apply dose"]
        assert status["params"]["fractions"] == 0  # the scene's initial value
        scene = await client.message("scene", revision=1)  # the brain gained the twin's fields
        brain = next(o for o in scene["objects"] if o["name"] == "brain")
        fields = {f["name"]: f for f in brain["fields"]}
        assert {"tumour", "density", "label"} <= set(fields)
        assert fields["density"]["range"] == [0.0, 1.0] and fields["label"]["categorical"]
        assert brain["fields"][brain["active_field"]]["name"] == "tumour"
        obj, density = brain["id"], fields["density"]["id"]
        shown = await client.frame(object=obj, field=fields["tumour"]["id"])  # what a viewer sees at first
        assert 0 < int(shown.values.sum()) < brain["vertices"] // 4  # a patch over the tumour, the rest 0
        assert set(np.unique(shown.values).tolist()) == {0.0, 1.0}
        await client.send({"type": "subscribe", "object": obj, "field": density})

        early = await density_frame(client, obj, density)
        assert early.values.shape == (brain["vertices"],)
        assert np.all((early.values >= 0.0) & (early.values <= 1.0))
        await client.send({"type": "twin_control", "seq": 1, "speed": 4.0})  # 40 days per second
        later = await density_frame(client, obj, density, time=early.header.time + 40.0)
        assert float(later.values.mean()) > float(early.values.mean())  # the tumour grows towards the surface
        assert float(later.values.max()) > float(early.values.max())

        await client.send({"type": "twin_params", "seq": 2, "values": {"dose_per_fraction": 10.0}})
        applied = await client.message("twin_applied", seq=2)
        before = await density_frame(client, obj, density, at_least=applied["frame"])
        await client.send({"type": "twin_action", "seq": 3, "action": "apply dose", "point": list(DEFAULT_SEED_MM)})
        dosed = await client.message("twin_applied", seq=3)
        after = await density_frame(client, obj, density, at_least=dosed["frame"])
        # 10 Gy leaves exp(-0.35 - 0.35) = 0.50 of the cells within 30 mm of the seed, the whole tumour
        assert float(after.values.max()) < 0.7 * float(before.values.max())
        await client.close()

    asyncio.run(scenario())
