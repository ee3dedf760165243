"""Run a reader in a child process, so a crash, a hang or a memory blow-up costs only the child.

VTK's readers trust their input and can segfault or allocate what a forged header claims. The
child has a data-size limit (``READER_MEMORY_*`` in config) and the parent a timeout; a child
killed by a signal becomes an :class:`UnreadableFileError` naming the file.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import signal
import sys
import threading
import types
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path

from vizserver.config import SETTINGS_PREFIX, limits
from vizserver.errors import LimitExceededError, UnreadableFileError, VizServerError
from vizserver.io.registry import ReadFunction, call_reader
from vizserver.model import Scene

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["vizserver.io.readers"])
_START_LOCK = threading.Lock()


@contextmanager
def children_allowed() -> Iterator[None]:
    """Let a daemonic process (the local twin worker) start the child processes ``io.read`` reads VTK in.

    multiprocessing refuses children to daemonic processes, so that no orphan outlives a parent
    killed with its daemons; the reader's child is itself daemonic, time-limited and ends with its
    read, so nothing is left behind.
    """
    process = multiprocessing.current_process()
    daemon = process.daemon
    if daemon:
        process.daemon = False
    try:
        yield
    finally:
        if daemon:
            process.daemon = True


@contextmanager
def main_script_hidden() -> Iterator[None]:
    """Start children without the parent's main script.

    multiprocessing re-runs the parent's ``__main__`` file in every forkserver child, in case the
    target lives there; a script that imports heavy modules then costs ~0.4 s per read. Our target
    lives in this module, so the child is prepared while ``__main__`` is a blank module.
    """
    with _START_LOCK:
        main = sys.modules["__main__"]
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            yield
        finally:
            sys.modules["__main__"] = main


def _child(
    read_function: ReadFunction, path: Path, memory_bytes: int, settings: dict[str, str], conn: Connection
) -> None:
    # The forkserver was started with the environment of its first use; limits() must see today's.
    for key in [k for k in os.environ if k.startswith(SETTINGS_PREFIX)]:
        del os.environ[key]
    os.environ.update(settings)
    resource.setrlimit(resource.RLIMIT_DATA, (memory_bytes, memory_bytes))
    try:
        conn.send(("ok", call_reader(read_function, path)))
    except VizServerError as exc:
        conn.send(("error", exc))
    except MemoryError:
        conn.send(("error", LimitExceededError(f"{path.name}: reading needs more than {memory_bytes:,} bytes")))
    finally:
        conn.close()


def run_isolated(read_function: ReadFunction, path: Path) -> Scene:
    """``read_function(path)`` in a child process; its errors are re-raised here."""
    lim = limits()
    memory = lim.reader_memory_floor_bytes + lim.reader_memory_factor * path.stat().st_size
    receiver, sender = _CONTEXT.Pipe(duplex=False)
    settings = {k: v for k, v in os.environ.items() if k.startswith(SETTINGS_PREFIX)}
    process = _CONTEXT.Process(target=_child, args=(read_function, path, memory, settings, sender), daemon=True)
    with main_script_hidden():
        process.start()
    sender.close()
    try:
        if not receiver.poll(lim.reader_timeout_s):
            raise UnreadableFileError(f"{path.name}: reader gave no result within {lim.reader_timeout_s:g} s")
        status, payload = receiver.recv()
    except EOFError:
        process.join(5)
        code = process.exitcode
        if code is not None and code < 0:
            raise UnreadableFileError(
                f"{path.name}: reader crashed (signal {signal.Signals(-code).name}); "
                "the file is corrupt or not what its suffix says"
            ) from None
        raise UnreadableFileError(
            f"{path.name}: reader process failed (exit code {code}) before giving a result"
        ) from None
    finally:
        receiver.close()
        if process.is_alive():
            process.join(1)
        if process.is_alive():
            process.kill()
            process.join()
    if status == "error":
        assert isinstance(payload, VizServerError)
        raise payload
    assert isinstance(payload, Scene)
    return payload
