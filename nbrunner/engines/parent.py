"""The JVM that started nbrunner (spark-submit's driver, ``flink run``'s client) holds a pipe on nbrunner's stdin
that nothing writes to: end of file there means that JVM is gone, and the run stops (exit 7)."""

from __future__ import annotations

import os
import stat
import threading

from nbrunner.core.signals import StopGuard
from nbrunner.errors import GatewayError


def watch_parent_jvm(guard: StopGuard, message: str) -> threading.Event | None:
    """Stop the run (``guard``, kill, GatewayError ``message``) when the JVM on the other end of stdin exits; the
    event is set once it did. None when stdin is not a pipe (nothing to watch)."""
    try:
        if not stat.S_ISFIFO(os.fstat(0).st_mode):
            return None
    except OSError:
        return None
    gone = threading.Event()

    def wait_for_eof() -> None:
        try:
            while os.read(0, 65536):
                pass
        except OSError:
            pass
        guard.stop(GatewayError(message), kill=True)
        gone.set()

    threading.Thread(target=wait_for_eof, name="nbrunner-jvm-watch", daemon=True).start()
    return gone
