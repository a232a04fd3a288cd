"""In the kernel nbrunner starts: stdout/stderr that send a message at least every :data:`FLUSH_BYTES` characters.

ipykernel's OutStream sends what was written every 0.2 s; a cell that prints fast fills one message with hundreds
of megabytes, and the reader (nbrunner, through jupyter_client) holds such a message three times while it decodes
it (the frame, the decoded text, the parsed JSON). Flushing as each few megabytes are written keeps every message
small, so nbrunner's memory is the notebook's outputs plus a constant. Imported only in the kernel
(:mod:`nbrunner.run.kernel_app` names it as ``IPKernelApp.outstream_class``).

What a cell writes to the file descriptors 1 and 2 (``os.write``, a C library, a subprocess) reaches ipykernel
through a pipe that a thread of its own reads, a kilobyte at a time; what that thread had not read when the cell
ended went out after the kernel said idle, and was lost (seen: 25 KB of 12 MB). :meth:`BoundedOutStream.drain` puts a
marker into the pipe and waits until the reader has passed it, so everything written before it is in the stream;
the kernel drains both streams at the end of every cell (:mod:`nbrunner.run.kernel_app`), before its reply.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

from ipykernel.iostream import OutStream

#: characters written before the stream sends them, whatever the time since the last message
FLUSH_BYTES = 4 << 20
#: what :meth:`BoundedOutStream.drain` writes into the file descriptor's pipe (never shown: the reader takes it out)
MARKER = b"\x00\x1b[nbrunner-drained]\x1b\x00"
#: bytes read from the pipe at a time (ipykernel reads 1,000)
PIPE_READ = 64 << 10
#: seconds drain() waits for the pipe's reader at most (a reader stuck on a full terminal must not hang the kernel)
DRAIN_TIMEOUT = 60.0


class BoundedOutStream(OutStream):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]
        self._unsent = 0  # written since this stream last forced a flush (a timed flush may have sent some)
        self._drained = threading.Event()

    def write(self, string: str) -> int | None:  # type: ignore[override] # as ipykernel's OutStream.write
        written = super().write(string)
        self._unsent += len(string)
        if self._unsent >= FLUSH_BYTES:
            self._unsent = 0
            self.flush()  # type: ignore[no-untyped-call]
        return written

    def _watch_pipe_fd(self) -> None:
        """ipykernel's reader of the file descriptor's pipe (its ``_watch_pipe_fd``), taking out drain markers."""
        fid = getattr(self, "_fid", None)
        if fid is None:
            return
        pending = b""
        try:
            while self._should_watch:
                chunk = os.read(fid, PIPE_READ)
                if not chunk:
                    break
                data, pending = pending + chunk, b""
                while (at := data.find(MARKER)) >= 0:
                    self._forward(data[:at])
                    data = data[at + len(MARKER) :]
                    self._drained.set()
                keep = _marker_prefix(data)  # the start of a marker the next read completes
                pending, data = data[len(data) - keep :], data[: len(data) - keep]
                self._forward(data)
            self._forward(pending)
        except Exception:
            self._exc = sys.exc_info()

    def _forward(self, data: bytes) -> None:
        if data:
            self.write(data.decode(errors="replace"))
            os.write(self._original_stdstream_copy, data)

    def drain(self) -> None:
        """Everything written to the file descriptor so far is in this stream (then flushed) when this returns."""
        thread = getattr(self, "watch_fd_thread", None)
        if not getattr(self, "_should_watch", False) or thread is None or not thread.is_alive():
            self.flush()  # type: ignore[no-untyped-call]
            return
        self._drained.clear()
        try:
            os.write(self._original_stdstream_fd, MARKER)
        except OSError:
            return
        self._drained.wait(DRAIN_TIMEOUT)
        self.flush()  # type: ignore[no-untyped-call]


def _marker_prefix(data: bytes) -> int:
    """The length of the longest end of ``data`` that begins :data:`MARKER` (0: none)."""
    for size in range(min(len(data), len(MARKER) - 1), 0, -1):
        if data.endswith(MARKER[:size]):
            return size
    return 0


def drain_streams() -> None:
    """Both standard streams drained (:meth:`BoundedOutStream.drain`), where they are still nbrunner's."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, BoundedOutStream):
            stream.drain()
