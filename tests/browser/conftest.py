"""Fixtures of the browser tests: one real server (``vizserver serve`` subprocess) on a generated scene,
headless Chromium, and a fresh session per test so tests do not see each other's uploads or playback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fixtures.browser import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, ensure_client_built
from fixtures.server import LiveServer, post_json, start_process_server, write_scene
from playwright.sync_api import Browser, Page, sync_playwright

pytestmark = pytest.mark.browser


@pytest.fixture(scope="session")
def browser_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`vizserver serve` on a PVD series (fields pressure and temperature, 5 steps) and a static STL box."""
    ensure_client_built()
    folder = tmp_path_factory.mktemp("browser-scene")
    scene = write_scene(folder, title="Browser test")
    server = start_process_server(scene, {"VIZSERVER_CACHE_DIR": str(folder / "cache")})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def new_session(browser_server: LiveServer) -> Callable[[], dict[str, Any]]:
    """Create a session on the served scene: ``{session_id, join_code, host_token, url}``."""

    def create() -> dict[str, Any]:
        answer = post_json(f"{browser_server.url}/api/sessions", {})
        assert answer.status == 201, answer.body
        return dict(answer.json())

    return create


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Callable[..., Page]]:
    """Open a URL in a fresh browser context; uncaught page errors fail the test."""
    contexts = []
    errors: list[str] = []

    def open_(url: str, *, init_script: str | None = None) -> Page:
        context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
        contexts.append(context)
        if init_script:
            context.add_init_script(init_script)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(url)
        return page

    yield open_
    for context in contexts:
        context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


TWIN_SCENE = """\
version: 1
title: Twin test
objects:
  - name: ventricle
    generator: {name: lv_surface, parameters: {resolution: 24}}
    transform: {translate: [0.1, 0, 0], scale: 0.001}
twin:
  kind: cardiac
  object: ventricle
  parameters: {cycle_length: 300}
  options: {resolution: 24}
"""


@pytest.fixture(scope="module")
def twin_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`vizserver serve` on a ventricle (mm, scaled to metres, moved 10 cm so its own coordinates differ from the
    world's) with a running cardiac twin (cycle 300 ms); one per test module, so modules do not share a twin."""
    ensure_client_built()
    root = tmp_path_factory.mktemp("twin")
    scene = root / "twin.yaml"
    scene.write_text(TWIN_SCENE)
    server = start_process_server(scene, {"VIZSERVER_CACHE_DIR": str(root / "cache")})
    yield server
    server.stop()
