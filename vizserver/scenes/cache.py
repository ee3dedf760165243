"""The on-disk cache: content-addressed assets and tables, and one manifest per built scene.

Layout under the cache folder (``ServerSettings.cache_dir``)::

    glb/<sha256>.glb          GLB assets, named by the hash of their bytes (served at /assets/...)
    tables/<sha256>.npy       vertex tables (GLB vertex -> series point), named likewise
    manifests/<key>.json      a BuiltScene, under a key hashed from everything the build depends on

A scene's key hashes the scene file's bytes, each source's files (path, size, mtime) and the
vizserver version, so editing any of them rebuilds and nothing else does. Writes go to a temporary
file renamed into place, so a crash never leaves half an asset under a valid name.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from vizserver import __version__
from vizserver.scenefile import SceneSpec, object_path
from vizserver.scenes.objects import BuiltScene, ManifestError, scene_from_json, scene_to_json
from vizserver.server.settings import FINGERPRINT_MAX_FILES

CACHE_LAYOUT_VERSION = 2
"""Bumped when the manifest or file layout changes, so old caches are rebuilt, not misread."""

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def is_sha256(text: str) -> bool:
    """64 lowercase hex digits: the only names that reach the disk from a URL."""
    return bool(_SHA256.fullmatch(text))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class AssetStore:
    """Content-addressed files under ``root``; safe to share between processes (atomic renames)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for sub in ("glb", "tables", "manifests"):
            (root / sub).mkdir(parents=True, exist_ok=True)

    def put_glb(self, data: bytes) -> str:
        digest = sha256_hex(data)
        self._write(self.root / "glb" / f"{digest}.glb", data)
        return digest

    def glb_path(self, digest: str) -> Path | None:
        """The file of asset ``digest``, or ``None`` when unknown; ``digest`` must pass :func:`is_sha256`."""
        if not is_sha256(digest):
            return None
        path = self.root / "glb" / f"{digest}.glb"
        return path if path.is_file() else None

    def put_table(self, table: npt.NDArray[np.uint32]) -> str:
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(table, dtype=np.uint32), allow_pickle=False)
        data = buffer.getvalue()
        digest = sha256_hex(data)
        self._write(self.root / "tables" / f"{digest}.npy", data)
        return digest

    def load_table(self, digest: str) -> npt.NDArray[np.uint32]:
        if not is_sha256(digest):
            raise ManifestError(f"table name {digest[:80]!r} is not a sha256")
        path = self.root / "tables" / f"{digest}.npy"
        try:
            table = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ManifestError(f"{path.name}: cannot read vertex table ({exc})") from exc
        return np.asarray(table, dtype=np.uint32)

    def has(self, digest: str) -> bool:
        return (self.root / "glb" / f"{digest}.glb").is_file() or (self.root / "tables" / f"{digest}.npy").is_file()

    def load_manifest(self, key: str) -> BuiltScene | None:
        """The scene stored under ``key`` if it and every file it names are there; else ``None``."""
        path = self.root / "manifests" / f"{key}.json"
        try:
            scene = scene_from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, ManifestError):
            return None
        if all(self.has(h) for obj in scene.objects for h in obj.hashes):
            return scene
        return None

    def save_manifest(self, key: str, scene: BuiltScene) -> None:
        text = json.dumps(scene_to_json(scene), allow_nan=False, indent=1)
        self._write(self.root / "manifests" / f"{key}.json", text.encode("utf-8"), replace=True)

    @staticmethod
    def _write(path: Path, data: bytes, *, replace: bool = False) -> None:
        if path.exists() and not replace:
            return
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def scene_key(scene_path: Path, spec: SceneSpec) -> str:
    """The manifest key of a scene file: changes when the file, a source or vizserver changes."""
    parts: dict[str, Any] = {
        "layout": CACHE_LAYOUT_VERSION,
        "version": __version__,
        "scene": sha256_hex(scene_path.read_bytes()),
        "sources": [list(_fingerprint(path)) for path in (object_path(scene_path, o) for o in spec.objects) if path],
    }
    return sha256_hex(json.dumps(parts, sort_keys=True).encode("utf-8"))


def _fingerprint(source: Path) -> Iterator[tuple[str, int, int]]:
    """(path, size, mtime_ns) of the files a source may read: itself and its folder's tree, bounded.

    A ``.pvd`` or ``.xdmf`` names files beside it, and a pattern matches siblings, so the whole
    folder counts: changing any file there rebuilds (conservative, never stale).
    """
    folder = source if source.is_dir() else source.parent
    count = 0
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            try:
                st = path.stat()
            except OSError:
                continue
            yield (str(path), st.st_size, st.st_mtime_ns)
            count += 1
            if count >= FINGERPRINT_MAX_FILES:
                return
