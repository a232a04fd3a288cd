"""Start and stop the notebook's kernel, with an environment and working directory built on purpose.

By default the kernel runs on the same Python interpreter as nbrunner (so the notebook sees the same packages,
pyspark included) and needs no installed kernelspec. ``--kernel NAME`` uses an installed kernelspec instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from nbrunner.core.kernels import KernelChoice
from nbrunner.core.secret_values import Redactor
from nbrunner.errors import KernelDied
from nbrunner.inside import SECRETS_FD, SECRETS_FILE
from nbrunner.run.relay import Relay

#: seconds a kernel asked to shut down gets to exit by itself before nbrunner reads why it has not
EXIT_WAIT = 1.0
#: seconds more a kernel that has no thread of the notebook's left (or that has not said, a machine under load)
#: gets to exit by itself before it is terminated: the decision is the kernel's report, never one second of clock
EXIT_WAIT_MAX = 15.0
#: A run's kernel files live in TMPDIR/nbrunner-kernel-<nbrunner's pid>-<random>/
RUNTIME_PREFIX = "nbrunner-kernel-"


#: a Unix socket's path holds at most 107 bytes on Linux (103 on macOS); jupyter_client names the kernel's sockets
#: "<ip>-<n>" for a small n
IPC_PATH_MAX = 100


def channels_at(folder: str) -> tuple[str, str]:
    """(transport, ip) of a kernel whose files live in ``folder``: Unix sockets there (no port, nothing shared), or,
    where that path is too long for a socket (a deep TMPDIR), TCP on 127.0.0.1, the messages signed as ever."""
    ipc = os.path.join(folder, "k")
    if len(os.fsencode(ipc)) + len("-65535") <= IPC_PATH_MAX:
        return "ipc", ipc
    return "tcp", "127.0.0.1"


def sweep_stale() -> None:
    """Remove the kernel folders of nbrunner processes that no longer exist (killed with SIGKILL)."""
    import shutil

    for folder in Path(tempfile.gettempdir()).glob(f"{RUNTIME_PREFIX}*-*"):
        pid = folder.name[len(RUNTIME_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


_MANAGER: Any = None


def _spec_manager(spec: Any) -> Any:
    """jupyter_client's public seam for a spec that need not be installed (the same-interpreter one) and whose
    ``env`` nbrunner already merged: a kernelspec manager that knows this one spec."""
    from jupyter_client.kernelspec import KernelSpecManager

    class OneSpec(KernelSpecManager):
        def get_kernel_spec(self, kernel_name: str) -> Any:
            return spec

    return OneSpec()


def _manager_class() -> Any:
    """jupyter_client's AsyncKernelManager whose clients' sockets queue :data:`~nbrunner.run.kernel_app.IOPUB_HWM`
    messages, the kernel's side as many: with the kernel's IOPub socket set to wait rather than drop
    (:mod:`nbrunner.run.kernel_app`), a reader that falls behind slows the cell down instead of losing its output."""
    global _MANAGER
    if _MANAGER is None:
        import zmq
        from jupyter_client.manager import AsyncKernelManager

        from nbrunner.run.kernel_app import IOPUB_HWM

        class Manager(AsyncKernelManager):
            def client(self, **kwargs: Any) -> Any:
                client = super().client(**kwargs)
                client.context.setsockopt(zmq.RCVHWM, IOPUB_HWM)  # for the sockets its channels make
                return client

        _MANAGER = Manager
    return _MANAGER


def build_env(base: Mapping[str, str], extra: Mapping[str, str], spec_env: Mapping[str, str]) -> dict[str, str]:
    """The kernel's whole environment: ``base`` (normally a copy of ours), then nbrunner's own variables.

    nbrunner's variables (the Spark gateway, the parent pid) go last and win over a kernelspec's ``env`` stanza,
    which jupyter_client would otherwise apply on top: they are put back after it by :func:`start`.
    """
    env = dict(base)
    env.update(extra)
    # ipykernel exits by itself when this process goes away, even if nbrunner is killed with SIGKILL
    env["JPY_PARENT_PID"] = str(os.getpid())
    for key, value in spec_env.items():
        if key in extra:
            continue  # the kernelspec must not silently override what nbrunner set on purpose
        env[key] = value
    return env


class Kernel:
    """One kernel process, owned by this run: started by :meth:`start`, always ended by :meth:`stop`."""

    def __init__(
        self,
        choice: KernelChoice,
        *,
        env: Mapping[str, str],
        cwd: Path,
        secrets: Mapping[str, str] | None = None,
        hide: frozenset[str] = frozenset(),
        relay: Callable[[str, str], None] | None = None,
        redactor: Redactor | None = None,
        base: Mapping[str, str] | None = None,
    ):
        self.name = choice.name
        self.spec = choice.kernelspec()
        # variables that held secrets are not inherited: the kernel's children would see them
        inherited = {key: value for key, value in (os.environ if base is None else base).items() if key not in hide}
        self.env = build_env(inherited, env, self.spec.env or {})
        self.secrets = dict(secrets or {})
        self.redactor = redactor or Redactor(self.secrets.values())
        # the kernel's stdout and stderr: pipes read and redacted by nbrunner, never the caller's descriptors
        self.relay = Relay(relay, self.redactor) if relay is not None else None
        self.cwd = cwd
        self._ipc_dir: tempfile.TemporaryDirectory[str] | None = None
        self._shutdown_requested = False
        self.manager: Any = None

    def start(self) -> Any:
        from jupyter_core.utils import run_sync

        # the connection file and IPC sockets in a private folder named after this process: no TCP ports, nothing
        # shared, and what a SIGKILLed nbrunner leaves is found and removed by the next run (sweep_stale)
        sweep_stale()
        self._ipc_dir = tempfile.TemporaryDirectory(prefix=f"{RUNTIME_PREFIX}{os.getpid()}-")
        launch: dict[str, Any] = {}
        secrets_fd = self._hand_over_secrets(launch) if self.secrets else None
        if self.relay is not None:
            launch.update(stdout=self.relay.write_ends["stdout"], stderr=self.relay.write_ends["stderr"])
        spec = self.spec
        # the kernelspec's env was merged by build_env, with nbrunner's variables protected
        spec.env = {}
        transport, ip = channels_at(self._ipc_dir.name)
        km = _manager_class()(
            kernel_name=self.name, transport=transport, ip=ip, kernel_spec_manager=_spec_manager(spec),
        )  # fmt: skip
        km.connection_file = os.path.join(self._ipc_dir.name, "kernel.json")
        km.shutdown_wait_time = 2 * EXIT_WAIT
        self.manager = km
        try:
            # as nbclient does for the kernels it starts: no IPython history database, so runs do not write
            # to ~/.ipython nor contend for its lock
            ipykernel = any(part in " ".join(spec.argv) for part in ("ipykernel", "nbrunner.run.kernel_app"))
            extra = ["--HistoryManager.hist_file=:memory:"] if ipykernel else []
            if ipykernel and self.secrets:  # read (and the descriptor closed) before the first cell can fork
                extra.append("--IPKernelApp.exec_lines=__import__('nbrunner.inside').inside.take_secrets()")
            run_sync(km.start_kernel)(env=self.env, cwd=str(self.cwd), extra_arguments=extra, **launch)
        except Exception as e:
            raise KernelDied(f"the kernel {self.name!r} could not start: {e}") from e
        finally:
            if secrets_fd is not None:
                os.close(secrets_fd)
            if self.relay is not None:
                self.relay.started()
        return km

    def _hand_over_secrets(self, launch: dict[str, Any]) -> int | None:
        """Give the kernel its secrets without a file on disk: an anonymous in-memory file (memfd) inherited as a
        descriptor, whose number alone is in the environment. Without memfd, a 0600 file in the private folder that
        the kernel unlinks as it reads it. Returns nbrunner's own descriptor, closed once the kernel has started."""
        data = json.dumps(self.secrets).encode("utf-8")
        if hasattr(os, "memfd_create"):
            fd = os.memfd_create("nbrunner-secrets", os.MFD_CLOEXEC)
            with open(fd, "wb", closefd=False) as handle:
                handle.write(data)
            launch["pass_fds"] = (fd,)
            self.env[SECRETS_FD] = str(fd)
            return fd
        assert self._ipc_dir is not None  # noqa: S101 - made just before
        path = os.path.join(self._ipc_dir.name, "secrets.json")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        self.env[SECRETS_FILE] = path
        return None

    @property
    def pid(self) -> int | None:
        provisioner = getattr(self.manager, "provisioner", None)
        process = getattr(provisioner, "process", None)
        pid = getattr(process, "pid", None)
        return pid if isinstance(pid, int) else None

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the kernel's process group, from anywhere (a signal handler, a timer thread)."""
        pid = self.pid
        if pid is None:
            return
        try:
            os.killpg(os.getpgid(pid), signum)
        except (ProcessLookupError, PermissionError):
            pass

    def request_stop(self) -> None:
        """Ask the kernel to shut down, without waiting: it exits while nbrunner writes the results.

        :meth:`stop` must still follow; it then finds the kernel gone, or kills it.
        """
        from jupyter_core.utils import run_sync

        if self.manager is None:
            return
        try:
            run_sync(self.manager.request_shutdown)()
            self._shutdown_requested = True
        except Exception:  # noqa: S110 - stop() kills it then
            pass

    def stop(self, *, now: bool) -> str | None:
        """Shut the kernel down (``now``: kill it at once). No kernel process outlives this. Never raises, but
        passes on a stop (a signal's StopSignal, KeyboardInterrupt) that came while it waited for the kernel to
        exit, once the kernel is killed and its files removed: every wait here is bounded and a stop ends it.

        A warning to show when, asked to shut down, the kernel had to be terminated and the notebook is the cause
        (a thread its own code started, named; see :meth:`_wait_for_exit`), or it did not say why in the
        bounded wait."""
        import asyncio

        from jupyter_core.utils import ensure_event_loop, run_sync

        km = self.manager
        warning = None
        interrupted: BaseException | None = None
        if km is not None:
            # a signal may have left nbclient's tasks pending on the loop: end them before reusing it
            loop = ensure_event_loop()
            pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            try:
                if run_sync(km.is_alive)():
                    if now:
                        run_sync(km.shutdown_kernel)(now=True)
                    else:  # shutdown requested earlier (request_stop) or now; wait, then kill
                        if not self._shutdown_requested:
                            run_sync(km.request_shutdown)()
                        try:
                            warning = self._wait_for_exit()
                        except BaseException as e:  # a stop while waiting: the kernel goes now
                            interrupted = e
                            self.signal(9)
                        # reaps the kernel; one still running gets SIGTERM after 0.5 s more, SIGKILL after another
                        run_sync(km.finish_shutdown)(waittime=EXIT_WAIT, pollinterval=0.01)
            except Exception:
                self.signal(9)
            try:
                run_sync(km.cleanup_resources)()
            except Exception:  # noqa: S110 - nothing left to clean
                pass
            self.manager = None
        if self.relay is not None:
            self.relay.close()
        if self._ipc_dir is not None:
            self._ipc_dir.cleanup()
            self._ipc_dir = None
        if interrupted is not None:
            raise interrupted
        return warning

    def _wait_for_exit(self) -> str | None:
        """Wait for the kernel, asked to shut down, to exit by itself; a warning when it must be terminated.

        nbrunner's kernel says, once its shutdown has run, which non-daemon threads are left and whose code started
        each (:func:`~nbrunner.run.kernel_app.write_threads_report`). Only a thread the notebook's own code started
        is blamed, by name. A library's threads (pyspark's Connect client leaves pool threads) are not the
        notebook's doing: the kernel is terminated without a warning. A kernel that has not said yet, or has no
        thread left, is only slow (a loaded machine, an atexit handler): it gets up to :data:`EXIT_WAIT_MAX`
        seconds. Every wait is bounded, in steps of 10 ms (a stop signal's handler runs between them)."""
        import time

        with _stop_signals() as stopped:
            deadline = time.monotonic() + EXIT_WAIT_MAX
            if self._exits_by(time.monotonic() + EXIT_WAIT, stopped) or self._exits_by(
                deadline, stopped, until_report=True
            ):
                return None
            threads = self._threads_left()
            if not threads and not stopped.is_set() and self._exits_by(deadline, stopped):
                return None  # no thread left, or no report: it was only slow
        if stopped.is_set():  # a stop signal came while waiting: the kernel goes now, the stop is the reason
            self.signal(9)
            return None
        if threads:
            own = [thread for thread in threads if thread.get("notebook")]
            if not own:
                return None  # a library's threads (pyspark's Connect client): not the notebook's doing
            named = self.redactor.text(
                ", ".join(f"{str(t.get('name'))!r} (started in {t.get('started_by')})" for t in own[:3])
            )
            more = f" and {len(own) - 3} more" if len(own) > 3 else ""
            return (
                f"the kernel did not exit after its shutdown request: the notebook's thread {named}{more} was still "
                "running (not a daemon); it was terminated (start such threads with daemon=True, or join them)"
            )
        return (
            f"the kernel did not exit within {EXIT_WAIT_MAX:g} s of its shutdown request (a process the notebook "
            "started, or an atexit handler, may keep it alive); it was terminated"
        )

    def _threads_left(self) -> list[dict[str, Any]] | None:
        """What the kernel reported of its threads at shutdown; None when it has not (another kernel, or not yet)."""
        from nbrunner.core.regular import read_regular
        from nbrunner.run.kernel_app import threads_report

        if self.manager is None:
            return None
        try:
            found = json.loads(read_regular(threads_report(self.manager.connection_file), 1 << 20))
        except (OSError, ValueError):
            return None
        return [t for t in found if isinstance(t, dict)] if isinstance(found, list) else None

    def _exits_by(self, deadline: float, stopped: threading.Event, *, until_report: bool = False) -> bool:
        """Whether the kernel exits before the ``time.monotonic()`` ``deadline``; False at once when ``stopped`` is
        set (a stop signal came), or (``until_report``) once the kernel has reported the threads it has left."""
        import time

        from jupyter_core.utils import run_sync

        while run_sync(self.manager.is_alive)():
            if time.monotonic() >= deadline or stopped.is_set():
                return False
            if until_report and self._threads_left() is not None:
                return False
            time.sleep(0.01)
        return True


@contextlib.contextmanager
def _stop_signals() -> Iterator[threading.Event]:
    """An event set when SIGTERM, SIGINT or SIGHUP arrives meanwhile (the handlers in place still run: the run's
    StopGuard records the stop as it would). Outside the main thread, an event nothing sets."""
    import signal

    stopped = threading.Event()
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            handler = signal.getsignal(signum)
            if not callable(handler):  # ignored (nohup), or the default action: left as it is
                continue

            def noted(number: int, frame: Any, handler: Callable[[int, Any], Any] = handler) -> Any:
                stopped.set()
                return handler(number, frame)

            previous[signum] = signal.signal(signum, noted)
    try:
        yield stopped
    finally:
        for number, before in previous.items():
            signal.signal(number, before)
