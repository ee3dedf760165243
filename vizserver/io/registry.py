"""Which reader reads a file: chosen by suffix, confirmed by content.

Readers register a :class:`ReaderSpec`. :func:`read` checks the path (exists, not empty, under the
size limit), picks the reader whose suffix matches, confirms it with the reader's content
sniffer, and runs it, in an isolated child process when the reader is marked ``isolated``
(VTK readers can segfault on garbage). A file whose content another reader recognises is
refused with the format it really is; an unknown suffix is read by content when a sniffer
recognises it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vizserver.config import limits
from vizserver.errors import (
    InputError,
    LimitExceededError,
    UnreadableFileError,
    UnsupportedFormatError,
)
from vizserver.model import Scene

SNIFF_BYTES = 4096
"""How much of a file's start the sniffers see."""

Sniffer = Callable[[bytes], bool]
ReadFunction = Callable[[Path], Scene]


@dataclass(frozen=True, slots=True)
class ReaderSpec:
    """A format: ``suffixes`` are lower-case and include the dot (``".nii.gz"`` allowed).

    ``sniff`` sees the first :data:`SNIFF_BYTES` bytes and says whether they look like this
    format; ``None`` means the format has no reliable signature (OBJ, XYZ) and the suffix alone
    decides. ``directory=True`` readers take a folder (a DICOM series). ``isolated`` readers run
    in a child process with a memory limit and a timeout.
    """

    name: str
    suffixes: tuple[str, ...]
    read: ReadFunction
    sniff: Sniffer | None = None
    isolated: bool = False
    directory: bool = False
    description: str = ""


_READERS: list[ReaderSpec] = []


def register(spec: ReaderSpec) -> ReaderSpec:
    _READERS.append(spec)
    return spec


def readers() -> tuple[ReaderSpec, ...]:
    _load_builtin_readers()
    return tuple(_READERS)


def suffix_of(path: Path) -> str:
    """The longest registered suffix the name ends with (``.nii.gz`` before ``.gz``), lower-case."""
    name = path.name.lower()
    matches = [s for spec in readers() for s in spec.suffixes if name.endswith(s)]
    return max(matches, key=len) if matches else path.suffix.lower()


def find_reader(path: Path) -> ReaderSpec:
    """The reader for ``path``; raises an :class:`InputError` saying why there is none."""
    _load_builtin_readers()
    if path.is_dir():
        for spec in _READERS:
            if spec.directory:
                return spec
        raise UnsupportedFormatError(f"{path.name}: is a folder and no reader takes folders")
    head = _head(path)
    suffix = suffix_of(path)
    by_suffix = [spec for spec in _READERS if suffix in spec.suffixes and not spec.directory]
    sniffed = [spec for spec in _READERS if spec.sniff is not None and spec.sniff(head)]
    for spec in by_suffix:
        if spec.sniff is None or spec.sniff(head):
            return spec
    if by_suffix and sniffed:
        raise UnsupportedFormatError(
            f"{path.name}: content is {sniffed[0].name}, not {by_suffix[0].name} as the suffix "
            f"{suffix!r} says; rename it to {sniffed[0].suffixes[0]!r}"
        )
    if by_suffix:
        raise UnreadableFileError(
            f"{path.name}: not a valid {by_suffix[0].name} file (its first bytes do not match the format)"
        )
    if sniffed:
        return sniffed[0]
    known = ", ".join(sorted({s for spec in _READERS for s in spec.suffixes}))
    raise UnsupportedFormatError(f"{path.name}: unknown format {suffix or '(no suffix)'!r}; vizserver reads {known}")


def read(path: Path | str) -> Scene:
    """Read any supported file or folder into a :class:`Scene`; raises :class:`InputError` subclasses.

    A name with ``*`` (``results/out_*.vtu``) reads the numbered files it matches as one time series.
    """
    path = Path(path)
    if _is_pattern(path):
        from vizserver.io.series import read_numbered_series

        return read_numbered_series(_first_match(path))
    if not path.exists():
        raise UnreadableFileError(f"{path.name}: no such file or folder")
    if path.is_file():
        check_size(path)
    spec = find_reader(path)
    if spec.isolated:
        from vizserver.io.isolation import run_isolated

        return run_isolated(spec.read, path)
    return call_reader(spec.read, path)


def format_name(path: Path | str) -> str:
    """What ``path`` will be read as, for messages and ``inspect``: ``"VTK XML UnstructuredGrid"``."""
    path = Path(path)
    if _is_pattern(path):
        return f"numbered series of {find_reader(_first_match(path)).name}"
    return find_reader(path).name


def _is_pattern(path: Path) -> bool:
    return "*" in path.name and not path.exists()


def _first_match(pattern: Path) -> Path:
    matches = sorted(p for p in pattern.parent.glob(pattern.name) if p.is_file())
    if not matches:
        raise UnreadableFileError(f"{pattern.name}: no files match")
    return matches[0]


def call_reader(read_function: ReadFunction, path: Path) -> Scene:
    """Run a reader, turning the library errors it lets through into one-line :class:`InputError`s."""
    try:
        return read_function(path)
    except InputError:
        raise
    except MemoryError as exc:
        raise LimitExceededError(f"{path.name}: ran out of memory while reading") from exc
    except (ValueError, KeyError, IndexError, TypeError, OSError, EOFError, RuntimeError, AttributeError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UnreadableFileError(f"{path.name}: cannot be read ({detail})") from exc


def check_size(path: Path) -> int:
    """The file's size, after refusing empty files and files over the input limit."""
    size = path.stat().st_size
    if size == 0:
        raise UnreadableFileError(f"{path.name}: file is empty")
    limit = limits().max_input_bytes
    if size > limit:
        raise LimitExceededError(f"{path.name}: {size:,} bytes is over the {limit:,}-byte input limit")
    return size


def _head(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read(SNIFF_BYTES)


_LOADED = False


def _load_builtin_readers() -> None:
    """Import the reader modules once; each registers its formats on import."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    importlib.import_module("vizserver.io.readers")
