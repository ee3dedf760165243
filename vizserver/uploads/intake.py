"""Receiving an upload: a multipart/form-data body streamed to a file, size-checked as it arrives.

:class:`UploadIntake` is fed the body in pieces (never the whole body at once) and writes the bytes
of the form field ``file`` to the file it was given; the moment they pass the limit it raises
:class:`UploadTooLarge`, so a 10 GB body costs the server one piece of memory and ``limit`` bytes of
disk at most. The client's file name is used only for display and its suffix (:func:`safe_suffix`);
the stored name is chosen by the server.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath
from typing import BinaryIO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from vizserver.errors import InputError, LimitExceededError
from vizserver.server.settings import MAX_UPLOAD_NAME_CHARS, UPLOAD_FORM_OVERHEAD_BYTES

FILE_FIELD = b"file"
"""The form field that carries the file."""

_SUFFIX = re.compile(r"^\.[a-z0-9]{1,10}$")


class UploadTooLarge(LimitExceededError):  # noqa: N818 (reads as what happened)
    """The upload passed ``max_upload_bytes`` (HTTP 413)."""


class BadUpload(InputError):  # noqa: N818
    """The request is not a usable upload (HTTP 400): no multipart body, no ``file`` field, empty file."""


@dataclass(frozen=True, slots=True)
class Received:
    filename: str
    size: int


def display_name(client_filename: str) -> str:
    """The client's file name without folders or control characters, cut short; ``upload`` when nothing is left."""
    base = PureWindowsPath(PurePosixPath(client_filename).name).name
    clean = "".join(ch for ch in base if ch.isprintable()).strip()
    return clean[:MAX_UPLOAD_NAME_CHARS] or "upload"


def safe_suffix(client_filename: str) -> str:
    """The file's suffix, lower-case, if it is 1-10 letters or digits (``.stl``); else ``""``.

    ``.gz``-style double suffixes keep only the last part; readers sniff content when the suffix
    says nothing, so a lost suffix makes a clear "unsupported" error, never a path.
    """
    suffix = PurePosixPath(display_name(client_filename)).suffix.lower()
    return suffix if _SUFFIX.fullmatch(suffix) else ""


def boundary_of(content_type: str | None) -> bytes:
    if not content_type:
        raise BadUpload("upload must be multipart/form-data with a 'file' field (no Content-Type)")
    kind, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise BadUpload(f"upload must be multipart/form-data with a 'file' field, not {kind.decode('latin-1')[:60]!r}")
    return boundary


class UploadIntake:
    """Feed a multipart body with :meth:`feed`; the ``file`` part goes to ``out``. Not thread-safe."""

    def __init__(self, boundary: bytes, out: BinaryIO, limit: int) -> None:
        self._out = out
        self._limit = limit
        self._headers: dict[bytes, bytes] = {}
        self._field = b""
        self._value = b""
        self._in_file = False
        self._seen_file = False
        self._filename = ""
        self._size = 0
        self._other = 0
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._part_begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
            },
        )

    def feed(self, chunk: bytes) -> None:
        try:
            self._parser.write(chunk)
        except MultipartParseError as exc:
            raise BadUpload(f"malformed multipart body ({exc})") from exc

    def finish(self) -> Received:
        try:
            self._parser.finalize()
        except MultipartParseError as exc:
            raise BadUpload(f"malformed multipart body ({exc})") from exc
        if not self._seen_file:
            raise BadUpload("upload has no 'file' field")
        if self._size == 0:
            raise BadUpload(f"{display_name(self._filename)}: file is empty")
        return Received(self._filename, self._size)

    # --- parser callbacks ---

    def _part_begin(self) -> None:
        self._headers = {}

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._field.lower()] = self._value
        self._field, self._value = b"", b""

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._in_file = params.get(b"name") == FILE_FIELD and not self._seen_file
        if self._in_file:
            self._seen_file = True
            self._filename = params.get(b"filename", b"upload").decode("utf-8", errors="replace")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        n = end - start
        if not self._in_file:
            self._other += n
            if self._other > UPLOAD_FORM_OVERHEAD_BYTES:
                raise BadUpload(f"form fields other than 'file' carry over {UPLOAD_FORM_OVERHEAD_BYTES} bytes")
            return
        self._size += n
        if self._size > self._limit:
            raise UploadTooLarge(
                f"{display_name(self._filename)}: upload is over the limit of {self._limit:,} bytes (MAX_INPUT_BYTES)"
            )
        self._out.write(data[start:end])

    def _part_end(self) -> None:
        self._in_file = False
