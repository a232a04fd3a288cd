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

import functools
import os
import sys
from pathlib import Path
from typing import Any

#: messages queued on each side of the IOPub connection before the sender waits for the reader
IOPUB_HWM = 64
#: seconds the kernel's control and shell-channel threads get to finish at shutdown before the sockets close
CLOSE_TIMEOUT = 5.0
#: modules whose frames start threads on someone else's behalf: the thread's starter is the frame that called them
_THREAD_HELPERS = ("threading", "concurrent.futures", "nbrunner.run.kernel_app")


def threads_report(connection_file: str) -> Path:
    """Where the kernel says, at shutdown, which threads may keep its interpreter from exiting (beside its
    connection file, in nbrunner's private folder): a JSON list of {name, started_by, notebook}."""
    path = Path(connection_file)
    return path.with_name(f"{path.stem}-threads.json")


def record_thread_starters() -> None:
    """From now on each thread remembers the code that started it (the frame that called ``Thread.start``, or the
    ``ThreadPoolExecutor`` that did): a cell's, or a library's. A thread left running at shutdown is then blamed
    on the notebook only when its own code started it."""
    import threading

    original = threading.Thread.start

    def start(thread: threading.Thread) -> None:
        try:
            thread._nbrunner_starter = _starter(sys._getframe(1))  # type: ignore[attr-defined]
        except Exception:  # noqa: S110 - never a reason for a thread not to start
            pass
        original(thread)

    threading.Thread.start = start  # type: ignore[method-assign,assignment]


def _starter(frame: Any) -> tuple[str, bool]:
    """(where, notebook's): the first frame outside the threading helpers, as 'a cell, line N' or a module name,
    and whether it is the notebook's own code (a cell, or a module outside the installed packages and the
    standard library, such as a helper beside the notebook)."""
    while frame is not None and str(frame.f_globals.get("__name__", "")).startswith(_THREAD_HELPERS):
        frame = frame.f_back
    if frame is None:
        return "?", False
    shell = _shell()
    if shell is not None and frame.f_globals is shell.user_ns:
        return f"a cell, line {frame.f_lineno}", True
    module = str(frame.f_globals.get("__name__", "?"))
    return module, not _installed(frame.f_code.co_filename)


def _shell() -> Any:
    shells = sys.modules.get("IPython.core.interactiveshell")  # never imported here: a thread may start before
    shell = getattr(shells, "InteractiveShell", None)
    return shell.instance() if shell is not None and shell.initialized() else None


def _installed(filename: str) -> bool:
    """Whether ``filename`` is the standard library's, an installed package's, or nbrunner's own."""
    if not filename or filename.startswith("<"):
        return True
    path = os.path.realpath(filename)
    return any(path.startswith(root) for root in _library_roots())


@functools.cache
def _library_roots() -> tuple[str, ...]:
    import site
    import sysconfig

    roots = {sysconfig.get_path(name) for name in ("stdlib", "platstdlib", "purelib", "platlib")}
    roots.update([*site.getsitepackages(), site.getusersitepackages(), str(Path(__file__).parent.parent)])
    return tuple(os.path.join(os.path.realpath(root), "") for root in roots if root)


def write_threads_report(connection_file: str) -> None:
    """The threads still running that are not daemons (each keeps the interpreter from exiting), with who started
    them, written atomically for nbrunner to read when the kernel is slow to exit."""
    import json
    import threading

    found = []
    for thread in threading.enumerate():
        if thread is threading.current_thread() or thread.daemon or not thread.is_alive():
            continue
        where, own = getattr(thread, "_nbrunner_starter", ("?", False))
        found.append({"name": thread.name, "started_by": where, "notebook": own})
    target = threads_report(connection_file)
    partial = target.with_name(f".{target.name}.{os.getpid()}")
    try:
        partial.write_text(json.dumps(found), encoding="utf-8")
        os.replace(partial, target)
    except OSError:
        pass  # nbrunner then waits its bounded time and blames nothing


def main() -> None:
    # as ipykernel_launcher does: the cwd off sys.path while ipykernel loads (init_path puts it back)
    if sys.path and (sys.path[0] == "" or Path(sys.path[0]) == Path.cwd()):
        del sys.path[0]
    import zmq
    from ipykernel.kernelapp import IPKernelApp

    # no debugpy: an unattended run has no debugger client, and importing it is a sixth of the kernel's start-up CPU;
    # ipykernel then starts without its debugger, and the notebook can still import debugpy itself (see init_kernel)
    sys.modules.setdefault("debugpy", None)  # type: ignore[arg-type]

    from ipykernel.ipkernel import IPythonKernel

    class Kernel(IPythonKernel):
        async def do_execute(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return await super().do_execute(*args, **kwargs)  # type: ignore[no-untyped-call]
            finally:
                from nbrunner.run.kernel_streams import drain_streams

                drain_streams()  # what the cell wrote to fd 1 and 2 is the cell's, before its reply and idle

    class KernelApp(IPKernelApp):
        # stdout/stderr send a message every few megabytes, not only every 0.2 s (nbrunner.run.kernel_streams)
        outstream_class = "nbrunner.run.kernel_streams.BoundedOutStream"
        kernel_class = Kernel

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
                # what may now keep the interpreter from exiting, and whose it is (nbrunner.run.kernel.Kernel.stop)
                write_threads_report(self.abs_connection_file)

        def init_extensions(self) -> None:
            super().init_extensions()  # type: ignore[no-untyped-call]
            if self.shell is not None:  # %%spark and %%sql (nbrunner.magics), as %load_ext nbrunner
                self.shell.extension_manager.load_extension("nbrunner")

        def init_kernel(self) -> None:
            super().init_kernel()  # type: ignore[no-untyped-call]
            if sys.modules.get("debugpy", False) is None:
                del sys.modules["debugpy"]  # the kernel has decided; a notebook's own import works as usual

    record_thread_starters()
    KernelApp.launch_instance()


if __name__ == "__main__":
    main()
