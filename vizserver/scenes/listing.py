"""The scene files a server offers: those in the served scene's folder, found by name, never by client path."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from vizserver.errors import VizServerError
from vizserver.scenefile import load_scene_file
from vizserver.server.settings import MAX_SCENE_FILES_LISTED

SCENE_SUFFIXES = (".yaml", ".yml")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True, slots=True)
class SceneEntry:
    name: str
    title: str | None
    served: bool
    error: str | None = None


def scene_files(served: Path) -> list[Path]:
    """Scene files beside ``served`` (sorted, bounded), always including ``served`` itself."""
    found = sorted(p for p in served.parent.iterdir() if p.suffix in SCENE_SUFFIXES and p.is_file())
    found = found[:MAX_SCENE_FILES_LISTED]
    if served not in found:
        found.insert(0, served)
    return found


def list_scenes(served: Path) -> list[SceneEntry]:
    """Each scene file with its title, or the one-line reason it cannot be served."""
    entries = []
    for path in scene_files(served):
        try:
            title: str | None = load_scene_file(path).title
            error = None
        except VizServerError as exc:
            title, error = None, str(exc)
        entries.append(SceneEntry(path.stem, title, path == served, error))
    return entries


def find_scene(served: Path, name: str) -> Path | None:
    """The scene file called ``name`` (its stem) among :func:`scene_files`; ``None`` if there is none."""
    if not _NAME.fullmatch(name):
        return None
    for path in scene_files(served):
        if path.stem == name:
            return path
    return None
