"""The kernel's own stdout and stderr: pipes nbrunner reads, redacts and relays to its reporter, line by line.

What bypasses Jupyter's messages (``!cmd``, ``subprocess.run``, ``os.write(1, ...)``, a C library, a JVM child)
never reaches the caller's descriptors: not the scheduler's log unredacted, not the stdout that carries the run
record. And a daemon the notebook forked keeps only the pipe open, never the caller's stdout, so a scheduler
reading to end-of-file is not held after nbrunner exits.
"""

from __future__ import annotations

import codecs
import os
import threading
from collections.abc import Callable

from nbrunner.core.secret_values import Redactor

#: a line longer than this is relayed in pieces (a process writing without newlines must not grow the buffer); the
#: pieces are cut where no secret is, so a little more (the longest secret's length) may be held
MAX_LINE = 64 * 1024


class Relay:
    """Two pipes, ``stdout`` and ``stderr`` (write ends for the kernel's Popen), each read by a daemon thread."""

    def __init__(self, emit: Callable[[str, str], None], redactor: Redactor):
        self.emit = emit  # (stream name, line)
        self.redactor = redactor
        self._threads: list[threading.Thread] = []
        self.write_ends: dict[str, int] = {}
        for name in ("stdout", "stderr"):
            read_end, write_end = os.pipe()
            self.write_ends[name] = write_end
            thread = threading.Thread(target=self._pump, args=(name, read_end), name=f"nbrunner-{name}", daemon=True)
            self._threads.append(thread)

    def started(self) -> None:
        """The kernel has its copies of the write ends: close ours (end-of-file comes when the kernel's go) and
        start reading."""
        for fd in self.write_ends.values():
            os.close(fd)
        self.write_ends = {}
        for thread in self._threads:
            thread.start()

    def close(self, timeout: float | None = 1.0) -> None:
        """Relay what the kernel wrote before it exited (a descendant still holding a pipe is not waited for
        longer than ``timeout`` seconds; None: until every writer has closed its end)."""
        for fd in self.write_ends.values():
            os.close(fd)
        self.write_ends = {}
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout)

    def _pump(self, name: str, fd: int) -> None:
        # text, not bytes: a character cut by a read stays whole; a line too long to wait for is shown in pieces
        # cut where no secret can be (Redactor.cut), so its redaction holds across every read and every piece
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        limit = MAX_LINE + max(0, self.redactor.window - 1)
        pending = ""
        try:
            while chunk := os.read(fd, 1 << 16):
                pending += decoder.decode(chunk)
                *lines, pending = pending.split("\n")
                for line in lines:
                    self._emit(name, self.redactor.text(line))
                while len(pending) > limit:
                    piece, pending = self.redactor.cut(pending, MAX_LINE)
                    self._emit(name, piece)
        except OSError:
            pass
        finally:
            os.close(fd)
            pending += decoder.decode(b"", final=True)
            for line in pending.split("\n"):
                if line:
                    self._emit(name, self.redactor.text(line))

    def _emit(self, name: str, text: str) -> None:
        try:
            self.emit(name, text.rstrip("\r"))
        except Exception:  # noqa: S110 - a broken reporter must not stop the pipe being drained
            pass
