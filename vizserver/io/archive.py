"""Zip archives read defensively: limits on members, expansion and paths, enforced while inflating.

A zip states every member's sizes, but a forged archive can lie, so the declared sizes only give
an early refusal and the limits are enforced again on the bytes actually inflated, which stops
the moment a limit is crossed (nothing is inflated ahead of the check):

* at most ``limits().max_archive_members`` file members;
* all members together inflate to at most ``limits().max_archive_expansion_ratio`` times the
  archive's size;
* one member inflates to at most that ratio times its compressed size, plus
  :data:`MEMBER_ALLOWANCE_BYTES` (a blank image slice compresses far better than 200:1), and
  never past its declared size: more output than declared means forged sizes;
* no member path may be absolute, hold ``..`` or a drive letter, or be a symbolic link: such an
  archive is refused whole, not skipped around;
* members are stored or deflated and not encrypted; their CRC-32 is checked.

Over a limit is a :class:`LimitExceededError`; a malformed or unsafe archive an
:class:`UnreadableFileError`. Member names can hold patient names (``DOE_JANE/IM0001.dcm``), so
messages and logs name a member by its position, ``member #3``, never by its name.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from vizserver.config import limits
from vizserver.errors import LimitExceededError, UnreadableFileError

MEMBER_ALLOWANCE_BYTES = 4 << 20
"""A member may inflate to this much beyond ``ratio x compressed size`` (small, very compressible files)."""

_READ_CHUNK = 1 << 16
_OUTPUT_CHUNK = 1 << 20
_STORED, _DEFLATED = 0, 8
_LOCAL_HEADER = struct.Struct("<4s22xHH")


@dataclass(frozen=True, slots=True)
class Member:
    """One file in an archive. ``name`` may be identifying: show :attr:`label` instead."""

    index: int
    name: str
    declared_size: int
    compressed_size: int
    method: int
    crc: int
    header_offset: int

    @property
    def label(self) -> str:
        return f"member #{self.index}"


def members(archive: Path) -> tuple[Member, ...]:
    """The archive's file members (folders left out), after every check the declared sizes allow."""
    lim = limits()
    archive_size = archive.stat().st_size
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = [info for info in zf.infolist() if not info.is_dir()]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise UnreadableFileError(f"{archive.name}: not a readable zip archive ({type(exc).__name__})") from None
    if len(infos) > lim.max_archive_members:
        raise LimitExceededError(
            f"{archive.name}: {len(infos):,} members is over the limit of {lim.max_archive_members:,}"
        )
    found: list[Member] = []
    total = 0
    for index, info in enumerate(infos, start=1):
        member = Member(index, info.filename, info.file_size, info.compress_size, info.compress_type,
                        info.CRC, info.header_offset)
        _check_member(archive.name, member, info)
        member_cap = lim.max_archive_expansion_ratio * max(member.compressed_size, 1) + MEMBER_ALLOWANCE_BYTES
        if member.declared_size > member_cap:
            raise LimitExceededError(
                f"{archive.name}: {member.label} would inflate {member.compressed_size:,} bytes to "
                f"{member.declared_size:,}, over the {lim.max_archive_expansion_ratio}x expansion limit"
            )
        total += member.declared_size
        found.append(member)
    total_cap = lim.max_archive_expansion_ratio * archive_size
    if total > total_cap:
        raise LimitExceededError(
            f"{archive.name}: members would inflate to {total:,} bytes, over "
            f"{lim.max_archive_expansion_ratio}x the archive's {archive_size:,} bytes"
        )
    return tuple(found)


def read_members(archive: Path, only: Collection[int] | None = None) -> Iterator[tuple[Member, bytes]]:
    """Each file member (or those whose index is in ``only``) with its inflated bytes, one at a time.

    The limits are checked on the whole archive first, then enforced on each member as it inflates.
    """
    listed = members(archive)
    with archive.open("rb") as f:
        for member in listed:
            if only is None or member.index in only:
                yield member, b"".join(_inflate(f, archive.name, member))


def extract(archive: Path, destination: Path) -> tuple[Path, ...]:
    """Write every file member under ``destination`` (which must exist); returns the written paths."""
    root = destination.resolve()
    written: list[Path] = []
    listed = members(archive)
    with archive.open("rb") as f:
        for member in listed:
            target = root.joinpath(*[p for p in member.name.replace("\\", "/").split("/") if p not in ("", ".")])
            if not target.resolve().is_relative_to(root) or target == root:
                raise UnreadableFileError(f"{archive.name}: {member.label} has an unsafe path; archive refused")
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with target.open("xb") as out:
                    for chunk in _inflate(f, archive.name, member):
                        out.write(chunk)
            except FileExistsError:
                raise UnreadableFileError(f"{archive.name}: {member.label} repeats an earlier path") from None
            written.append(target)
    return tuple(written)


def _check_member(archive_name: str, member: Member, info: zipfile.ZipInfo) -> None:
    name = member.name.replace("\\", "/")
    parts = name.split("/")
    if name.startswith("/") or ".." in parts or ":" in parts[0] or "\x00" in name:
        raise UnreadableFileError(
            f"{archive_name}: {member.label} has an unsafe path (absolute or with '..'); archive refused"
        )
    if info.create_system == 3 and (info.external_attr >> 16) & 0o170000 == 0o120000:
        raise UnreadableFileError(f"{archive_name}: {member.label} is a symbolic link; archive refused")
    if info.flag_bits & 0x1:
        raise UnreadableFileError(f"{archive_name}: {member.label} is encrypted")
    if member.method not in (_STORED, _DEFLATED):
        raise UnreadableFileError(
            f"{archive_name}: {member.label} uses compression method {member.method}; "
            "only stored and deflated members are read (re-zip with deflate)"
        )


def _inflate(f: BinaryIO, archive_name: str, member: Member) -> Iterator[bytes]:
    """The member's bytes in chunks; refuses (mid-stream) output beyond the declared size.

    The declared sizes already passed the expansion limits in :func:`members`, so holding the
    output to the declared size enforces every limit on the real bytes.
    """
    f.seek(member.header_offset)
    header = f.read(_LOCAL_HEADER.size)
    if len(header) < _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
        raise UnreadableFileError(f"{archive_name}: {member.label} has no valid local header")
    _, name_length, extra_length = _LOCAL_HEADER.unpack(header)
    f.seek(member.header_offset + _LOCAL_HEADER.size + name_length + extra_length)
    decompressor = zlib.decompressobj(-15) if member.method == _DEFLATED else None
    left = member.compressed_size
    produced = 0
    crc = 0
    while True:
        if decompressor is not None and decompressor.unconsumed_tail:
            data = decompressor.unconsumed_tail
        else:
            data = f.read(min(_READ_CHUNK, left)) if left > 0 else b""
            left -= len(data)
        try:
            out = data if decompressor is None else decompressor.decompress(data, _OUTPUT_CHUNK)
        except zlib.error:
            raise UnreadableFileError(f"{archive_name}: {member.label} has corrupt compressed data") from None
        if not data and not out:
            break
        produced += len(out)
        if produced > member.declared_size:
            raise LimitExceededError(
                f"{archive_name}: {member.label} inflates past its declared {member.declared_size:,} bytes "
                "(forged sizes, as in a zip bomb); archive refused"
            )
        crc = zlib.crc32(out, crc)
        yield out
        if decompressor is not None and decompressor.eof:
            break
    if (decompressor is not None and not decompressor.eof) or produced != member.declared_size:
        raise UnreadableFileError(f"{archive_name}: {member.label} is truncated")
    if crc != member.crc:
        raise UnreadableFileError(f"{archive_name}: {member.label} fails its CRC check (corrupt archive)")
