"""A child process that ends when the process that needs it ends, however that one ends.

Processes started through the ``forkserver`` are the fork server's children, not their real parent's, so
``os.getppid`` and ``PR_SET_PDEATHSIG`` cannot tell them that it is gone; and a
``ProcessPoolExecutor`` worker waits on its call queue for ever once its parent is killed (it holds
that queue's write end itself). The parent keeps the write end of a one-way pipe and hands the read end
to the child, which watches it (:func:`end_with`): reading reaches the end of the pipe when every write
end is closed, which the kernel does when the parent's process ends, by ``kill -9`` too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from multiprocessing.connection import Connection


def end_with(lifeline: Connection) -> None:
    """In the child: end this process at once (a busy or hung one too) when ``lifeline`` reaches its end."""
    threading.Thread(target=_watch, args=(lifeline,), name="lifeline", daemon=True).start()


def _watch(lifeline: Connection) -> None:
    with contextlib.suppress(EOFError, OSError):
        while True:
            lifeline.recv_bytes()
    os.kill(os.getpid(), signal.SIGKILL)
