"""A cardiac twin on the object's own tetrahedral file (the four-chamber heart's route), through a real server:
the runtime hands the object's file to the twin as its mesh, and clients see the wave travel along it. A scene
whose asset is not fetched is listed with its one-line reason instead of breaking the listing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from fixtures.server import Client, LiveServer, http, settings_for, start_thread_server, ws_url
from fixtures.tetra import write_tet_vtu

from vizserver.io.glb_decode import read_glb

SCENE = """\
version: 1
title: Slab twin
objects:
  - name: slab
    source: slab.vtu
twin:
  kind: cardiac
  object: slab
  parameters: {cycle_length: 1000}
  options: {pace_points: [0, 2, 1]}
"""

UNFETCHED = """\
version: 1
title: Heart
objects:
  - {name: heart, asset: rodero2021-heart01-2mm}
"""

REST_MV = -80.0
EXCITED_MV = -30.0


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    monkeypatch.setenv("VIZSERVER_ASSET_DIR", str(tmp_path / "no-assets"))
    write_tet_vtu(tmp_path / "slab.vtu")
    (tmp_path / "slab.yaml").write_text(SCENE)
    (tmp_path / "heart.yaml").write_text(UNFETCHED)
    live = start_thread_server(settings_for(tmp_path / "slab.yaml", tmp_path / "cache"))
    yield live
    live.stop()


def test_the_twin_runs_on_the_objects_file_and_the_wave_travels_from_the_pace_site(server: LiveServer) -> None:
    session = server.default_session()

    async def scenario() -> None:
        client = await Client.open(ws_url(server, session))
        while (status := await client.message("twin", timeout=60))["state"] != "running" or not status["parameters"]:
            pass
        scene = await client.message("scene", revision=1)
        slab = next(o for o in scene["objects"] if o["name"] == "slab")
        x = next(iter(read_glb(http(server.url + slab["asset"]).body).meshes.values())).positions[:, 0]
        near, far = x <= 2.0, x >= 18.0
        # the wave may have crossed the slab already: slow the twin down and start it again from rest
        await client.send({"type": "twin_control", "seq": 1, "speed": 0.25})
        await client.send({"type": "twin_control", "seq": 2, "reset": True})
        reset = await client.message("twin_applied", seq=2)
        first_near = first_far = None
        while first_far is None:  # frames until the far end is excited, noting when the near end was
            frame = await client.frame(object=slab["id"], timeout=10)
            if frame.header.step < reset["frame"]:
                continue
            assert frame.header.time < 200.0, "the wave never reached the far end"
            assert frame.values.shape == (slab["vertices"],)
            if first_near is None and frame.values[near].max() > EXCITED_MV:
                first_near = frame.header.time
                assert frame.values[far].max() < REST_MV + 1.0  # the wave starts at x = 0, not everywhere
            if frame.values[far].max() > EXCITED_MV:
                first_far = frame.header.time
        assert first_near is not None and first_far - first_near > 20.0  # ms: 18 mm at ~0.4 mm/ms
        await client.close()

    asyncio.run(scenario())


def test_a_scene_whose_asset_is_not_fetched_is_listed_with_the_reason(server: LiveServer) -> None:
    answer = http(f"{server.url}/api/scenes")
    assert answer.status == 200
    by_name = {s["name"]: s for s in answer.json()["scenes"]}
    assert by_name["slab"] == {"name": "slab", "title": "Slab twin", "served": True}
    assert by_name["heart"]["title"] is None
    assert by_name["heart"]["error"] == ("heart.yaml: object heart: asset rodero2021-heart01-2mm is not fetched; "
                                         "run `vizserver assets fetch rodero2021-heart01-2mm`")
