"""In the kernel nbrunner starts: stdout/stderr that send a message at least every :data:`FLUSH_BYTES` characters.

ipykernel's OutStream sends what was written every 0.2 s; a cell that prints fast fills one message with hundreds
of megabytes, and the reader (nbrunner, through jupyter_client) holds such a message three times while it decodes
it (the frame, the decoded text, the parsed JSON). Flushing as each few megabytes are written keeps every message
small, so nbrunner's memory is the notebook's outputs plus a constant. Imported only in the kernel
(:mod:`nbrunner.run.kernel_app` names it as ``IPKernelApp.outstream_class``).
"""

from __future__ import annotations

from typing import Any

from ipykernel.iostream import OutStream

#: characters written before the stream sends them, whatever the time since the last message
FLUSH_BYTES = 4 << 20


class BoundedOutStream(OutStream):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]
        self._unsent = 0  # written since this stream last forced a flush (a timed flush may have sent some)

    def write(self, string: str) -> int | None:  # type: ignore[override] # as ipykernel's OutStream.write
        written = super().write(string)
        self._unsent += len(string)
        if self._unsent >= FLUSH_BYTES:
            self._unsent = 0
            self.flush()  # type: ignore[no-untyped-call]
        return written
