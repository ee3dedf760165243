"""The IGB format of openCARP/CARP time series: a text header, then binary frames, time-major.

The header is ASCII ``key:value`` items separated by blanks (``x:1000 y:1 z:1 t:501 type:float
systeme:little_endian org_t:0 inc_t:1 unites_t:ms unites:mV``), lines ending in CR LF, comments
after ``#``, padded with blanks to a multiple of 1024 bytes whose last byte is a form feed (0x0C).
The data follow: ``t`` frames of ``x*y*z`` values of ``type`` in ``systeme`` byte order. For
openCARP node data ``x`` is the node count and ``y = z = 1``.

:func:`parse_header` is pure (bytes in, :class:`IgbHeader` out); :class:`IgbFrames` maps one frame
at a time from disk, so a long series never sits in memory.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import overload

import numpy as np
import numpy.typing as npt

from vizserver.config import limits
from vizserver.errors import LimitExceededError, UnreadableFileError, UnsupportedFormatError

HEADER_BLOCK_BYTES = 1024
"""Headers are written as a multiple of this many bytes."""

MAX_HEADER_BYTES = 16 * HEADER_BLOCK_BYTES
"""Longest header we look through for the closing form feed."""

FORM_FEED = 0x0C

_SCALAR_TYPES: dict[str, tuple[str, int]] = {
    "byte": ("u1", 1), "char": ("i1", 1), "short": ("i2", 1), "ushort": ("u2", 1),
    "int": ("i4", 1), "uint": ("u4", 1), "hfloat": ("f2", 1), "float": ("f4", 1), "double": ("f8", 1),
    "vec3f": ("f4", 3), "vec3d": ("f8", 3), "vec4f": ("f4", 4), "vec4d": ("f8", 4),
}
"""IGB type name -> (numpy kind without byte order, components per value)."""

SUPPORTED_TYPES = (*_SCALAR_TYPES, "long")
"""``long`` is C's ``long``: 4 or 8 bytes depending on the writer; the file size decides."""

_SEPARATORS = re.compile(rb"[ \t,;]+")
_SNIFF = re.compile(rb"^\s*x:\s*\d+")


@dataclass(frozen=True, slots=True)
class IgbHeader:
    """What an IGB header says. ``dtype`` carries the byte order; ``components`` is 3 or 4 for vectors.

    ``times()`` are ``org_t + i * inc_t``; ``scale``/``offset`` (``facteur``/``zero``) map stored
    integers to physical values as ``stored * scale + offset``.
    """

    x: int
    y: int
    z: int
    t: int
    type_name: str
    dtype: np.dtype[np.generic]
    components: int
    data_offset: int
    org_t: float = 0.0
    inc_t: float = 1.0
    time_unit: str = ""
    unit: str = ""
    scale: float = 1.0
    offset: float = 0.0

    @property
    def values_per_step(self) -> int:
        """Points (or cells) per frame: ``x * y * z``."""
        return self.x * self.y * self.z

    @property
    def step_bytes(self) -> int:
        return self.values_per_step * self.components * self.dtype.itemsize

    @property
    def data_bytes(self) -> int:
        return self.t * self.step_bytes

    def times(self) -> npt.NDArray[np.float64]:
        return self.org_t + self.inc_t * np.arange(self.t, dtype=np.float64)

    def same_time_axis(self, other: IgbHeader) -> bool:
        return self.t == other.t and bool(np.isclose(self.org_t, other.org_t) and np.isclose(self.inc_t, other.inc_t))


def looks_like_igb(head: bytes) -> bool:
    """Whether a file start looks like an IGB header (``x:<int>`` first, a ``type:`` item early on)."""
    return bool(_SNIFF.match(head)) and b"type:" in head[:HEADER_BLOCK_BYTES].lower()


def header_text(head: bytes, name: str) -> tuple[bytes, int]:
    """The header text and the offset where data start, from the first bytes of a file.

    The header ends at the first form feed (data start right after it); files without one
    (old writers) have the standard 1024-byte header.
    """
    if head[:2] == b"\x1f\x8b":
        raise UnsupportedFormatError(f"{name}: is gzip-compressed; unpack it (gunzip) before reading")
    end = head.find(bytes([FORM_FEED]), 0, MAX_HEADER_BYTES)
    if end >= 0:
        return head[:end], end + 1
    if len(head) < HEADER_BLOCK_BYTES:
        raise UnreadableFileError(f"{name}: truncated IGB header ({len(head)} bytes, expected {HEADER_BLOCK_BYTES})")
    return head[:HEADER_BLOCK_BYTES], HEADER_BLOCK_BYTES


def parse_header(head: bytes, name: str, file_size: int) -> IgbHeader:
    """Parse and validate an IGB header against the file size; raises :class:`InputError` subclasses.

    ``head`` is the start of the file (at least the header: up to :data:`MAX_HEADER_BYTES`).
    """
    text, data_offset = header_text(head, name)
    items = _items(text, name)
    missing = [key for key in ("x", "type") if key not in items]
    if missing:
        raise UnreadableFileError(f"{name}: IGB header lacks {' and '.join(missing)}")
    x, y, z, t = (_positive_int(items, key, name) for key in ("x", "y", "z", "t"))
    lim = limits()
    if x * y * z > lim.max_points:
        raise LimitExceededError(f"{name}: {x * y * z:,} values per step is over the {lim.max_points:,} limit")
    if t > lim.max_time_steps:
        raise LimitExceededError(f"{name}: {t:,} time steps is over the {lim.max_time_steps:,}-step limit")
    type_name = items["type"]
    byte_order = _byte_order(items.get("systeme", "little_endian"), name)
    if type_name == "long":
        kind, components = _long_kind(x * y * z * t, file_size - data_offset), 1
    elif type_name in _SCALAR_TYPES:
        kind, components = _SCALAR_TYPES[type_name]
    else:
        raise UnsupportedFormatError(
            f"{name}: IGB type {type_name!r} is not supported (vizserver reads {', '.join(SUPPORTED_TYPES)})"
        )
    header = IgbHeader(
        x=x, y=y, z=z, t=t, type_name=type_name, dtype=np.dtype(byte_order + kind), components=components,
        data_offset=data_offset, org_t=_float(items, "org_t", 0.0, name), inc_t=_inc_t(items, t, name),
        time_unit=items.get("unites_t", ""), unit=items.get("unites", ""),
        scale=_float(items, "facteur", 1.0, name), offset=_float(items, "zero", 0.0, name),
    )
    _check_size(header, file_size, name)
    return header


def read_header(path: Path) -> IgbHeader:
    """The validated header of the IGB file at ``path``."""
    with path.open("rb") as f:
        head = f.read(MAX_HEADER_BYTES)
    return parse_header(head, path.name, path.stat().st_size)


class IgbFrames(Sequence[npt.NDArray[np.float32]]):
    """The frames of one IGB file, each read from disk (memory-mapped) only when indexed.

    ``frames[i]`` is float32 ``(values_per_step,)`` for scalars, ``(values_per_step, components)``
    for vectors, already scaled by ``facteur``/``zero``. Holds only the path and header, so it
    pickles cheaply.
    """

    __slots__ = ("header", "path")

    def __init__(self, path: Path, header: IgbHeader | None = None) -> None:
        self.path = path
        self.header = header if header is not None else read_header(path)

    def __len__(self) -> int:
        return self.header.t

    @overload
    def __getitem__(self, index: int) -> npt.NDArray[np.float32]: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[npt.NDArray[np.float32]]: ...

    def __getitem__(self, index: int | slice) -> npt.NDArray[np.float32] | Sequence[npt.NDArray[np.float32]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        h = self.header
        if index < 0:
            index += h.t
        if not 0 <= index < h.t:
            raise IndexError(f"{self.path.name}: step {index} out of range (0..{h.t - 1})")
        count = h.values_per_step * h.components
        try:
            raw = np.memmap(self.path, dtype=h.dtype, mode="r", offset=h.data_offset + index * h.step_bytes,
                            shape=(count,))
        except (ValueError, OSError) as exc:
            raise UnreadableFileError(f"{self.path.name}: step {index} cannot be read ({exc})") from exc
        values = raw.astype(np.float32)
        del raw
        if h.scale != 1.0 or h.offset != 0.0:
            values = (values * np.float32(h.scale) + np.float32(h.offset)).astype(np.float32)
        return values if h.components == 1 else values.reshape(h.values_per_step, h.components)

    def __iter__(self) -> Iterator[npt.NDArray[np.float32]]:
        return (self[i] for i in range(len(self)))


def _items(text: bytes, name: str) -> dict[str, str]:
    if any(b > 0x7E or (b < 0x20 and b not in (0x09, 0x0A, 0x0D, 0x00)) for b in text):
        raise UnreadableFileError(f"{name}: not an IGB file (binary bytes in the header)")
    items: dict[str, str] = {}
    for line in text.replace(b"\x00", b" ").splitlines():
        content = re.split(rb"[#*]", line, maxsplit=1)[0]
        for token in _SEPARATORS.split(content.strip()):
            if not token:
                continue
            key, sep, value = token.partition(b":")
            if not sep:
                raise UnreadableFileError(f"{name}: IGB header item {token[:40].decode()!r} is not key:value")
            items[key.decode().lower()] = value.decode()
    for key in ("type", "systeme"):
        if key in items:
            items[key] = items[key].lower()
    return items


def _positive_int(items: dict[str, str], key: str, name: str) -> int:
    raw = items.get(key, "1")
    try:
        value = int(raw)
    except ValueError:
        raise UnreadableFileError(f"{name}: IGB header {key}:{raw[:20]} is not an integer") from None
    if value < 1:
        raise UnreadableFileError(f"{name}: IGB header {key}:{value} must be at least 1")
    return value


def _float(items: dict[str, str], key: str, default: float, name: str) -> float:
    raw = items.get(key)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise UnreadableFileError(f"{name}: IGB header {key}:{raw[:20]} is not a number") from None
    if not np.isfinite(value):
        raise UnreadableFileError(f"{name}: IGB header {key}:{raw[:20]} is not finite")
    return value


def _inc_t(items: dict[str, str], t: int, name: str) -> float:
    """Time between frames: ``inc_t``, else ``dim_t / (t - 1)`` (the writer's convention), else 1."""
    if "inc_t" in items:
        inc = _float(items, "inc_t", 1.0, name)
    elif "dim_t" in items and t > 1:
        inc = _float(items, "dim_t", 0.0, name) / (t - 1)
    else:
        inc = 1.0
    if t > 1 and inc <= 0.0:
        raise UnreadableFileError(f"{name}: IGB time step inc_t:{inc:g} must be positive")
    return inc


def _byte_order(systeme: str, name: str) -> str:
    if systeme == "little_endian":
        return "<"
    if systeme == "big_endian":
        return ">"
    raise UnreadableFileError(f"{name}: IGB byte order systeme:{systeme} is neither little_endian nor big_endian")


def _long_kind(values: int, data_bytes: int) -> str:
    """C ``long`` is 8 bytes on 64-bit Unix writers and 4 elsewhere: pick the one the size fits."""
    return "i8" if data_bytes >= 8 * values else "i4"


def _check_size(header: IgbHeader, file_size: int, name: str) -> None:
    present = file_size - header.data_offset
    if present < header.data_bytes:
        complete = max(present, 0) // header.step_bytes
        raise UnreadableFileError(
            f"{name}: truncated: header claims {header.t:,} time steps of {header.step_bytes:,} bytes "
            f"but the file holds {complete:,} complete steps"
        )
    if present > header.data_bytes:
        raise UnreadableFileError(
            f"{name}: {present - header.data_bytes:,} bytes beyond the {header.t:,} time steps the header claims"
        )
