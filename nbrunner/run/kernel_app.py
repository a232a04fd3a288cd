"""The kernel nbrunner starts on its own interpreter: ipykernel, with an IOPub socket that never drops a message.

ipykernel's IOPub socket is a ZeroMQ XPUB with the default high-water mark (1,000 messages): a cell that prints
faster than the reader takes loses messages past it, silently (a flood of 100,000 flushed lines kept 74%). Here
the socket is made to wait instead of drop (``XPUB_NODROP``), with :data:`IOPUB_HWM` messages queued on each side
(set before it is bound; nbrunner's client uses the same): a full queue makes the kernel's IOPub thread, and so the
cell's own prints, wait for the reader. Nothing is dropped and the backlog's memory stays bounded. Its stdout and
stderr send a message every few megabytes (:mod:`nbrunner.run.kernel_streams`), so no message is huge. It starts
without ipykernel's debugger (no debugpy import: nothing attaches to an unattended run).

    python -m nbrunner.run.kernel_app -f CONNECTION_FILE    # as ipykernel_launcher, which this replaces
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

#: messages queued on each side of the IOPub connection before the sender waits for the reader
IOPUB_HWM = 64
#: seconds the kernel's control and shell-channel threads get to finish at shutdown before the sockets close
CLOSE_TIMEOUT = 5.0


def main() -> None:
    # as ipykernel_launcher does: the cwd off sys.path while ipykernel loads (init_path puts it back)
    if sys.path and (sys.path[0] == "" or Path(sys.path[0]) == Path.cwd()):
        del sys.path[0]
    import zmq
    from ipykernel.kernelapp import IPKernelApp

    # no debugpy: an unattended run has no debugger client, and importing it is a sixth of the kernel's start-up CPU;
    # ipykernel then starts without its debugger, and the notebook can still import debugpy itself (see init_kernel)
    sys.modules.setdefault("debugpy", None)  # type: ignore[arg-type]

    class KernelApp(IPKernelApp):
        # stdout/stderr send a message every few megabytes, not only every 0.2 s (nbrunner.run.kernel_streams)
        outstream_class = "nbrunner.run.kernel_streams.BoundedOutStream"

        def init_iopub(self, context: Any) -> None:
            context.setsockopt(zmq.SNDHWM, IOPUB_HWM)  # for the sockets init_iopub makes: the XPUB and its pipe
            try:
                super().init_iopub(context)  # type: ignore[no-untyped-call]
            finally:
                context.sockopts.pop(zmq.SNDHWM, None)
            # full: the IOPub thread's send waits (and so, in turn, does the cell's print) instead of dropping
            self.iopub_thread.socket.setsockopt(zmq.XPUB_NODROP, 1)

        def start(self) -> None:
            try:
                super().start()  # type: ignore[no-untyped-call]
            finally:
                # A shutdown request stops this loop from the control thread, which then flushes stdout and sends
                # its idle status on IOPub. Left to the interpreter's exit, atexit stops the IOPub thread first and
                # ipykernel's close() then joins a control thread whose flush waits 10 s for the stopped IOPub
                # thread: a quarter of shutdowns hung until jupyter_client terminated the kernel (SIGTERM after
                # 1 s), a second lost at the end of the run. The control and shell-channel threads end here, while
                # IOPub still carries what they flush.
                for name in ("control_thread", "shell_channel_thread"):
                    thread = getattr(self, name, None)
                    if thread is not None and thread.is_alive():
                        thread.stop()
                        thread.join(timeout=CLOSE_TIMEOUT)

        def init_kernel(self) -> None:
            super().init_kernel()  # type: ignore[no-untyped-call]
            if sys.modules.get("debugpy", False) is None:
                del sys.modules["debugpy"]  # the kernel has decided; a notebook's own import works as usual

    KernelApp.launch_instance()


if __name__ == "__main__":
    main()
