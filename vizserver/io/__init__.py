"""Readers: files on disk to :class:`vizserver.model.Scene`, one registry by suffix and content."""

from vizserver.io.registry import ReaderSpec, find_reader, format_name, read, readers, register

__all__ = ["ReaderSpec", "find_reader", "format_name", "read", "readers", "register"]
