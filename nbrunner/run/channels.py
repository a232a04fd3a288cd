"""The kernel client's shell and IOPub channels as a run needs them: a reply that never comes never hangs the run,
and output a background thread prints is kept.

**Lost replies.** nbclient waits for a cell's ``execute_reply`` on the shell socket with no limit. With ipywidgets'
``Output`` widget the wait can last forever although the kernel finished the cell (seen 1 run in 5 with nbclient's own
``Output.ipynb``, stock kernel or nbrunner's): nbclient's widget mimic sends ``comm_msg`` updates on the same shell
socket from its IOPub task while the reply task waits on it, and the reply that arrives in between is never
delivered. Whatever the cause, the kernel itself can tell: once it has said ``idle`` for the cell's request (ipykernel
sends the reply before that), and no reply came within :data:`GRACE` seconds, the channel asks the kernel for its
``kernel_info``. The kernel answers requests in order on that socket, so the answer arrives after the reply, if the
reply was sent at all: a reply read first is delivered as usual (and the answer ignored); an answer read first proves
the reply lost, and the channel hands the waiter a reply of its own, marked ``metadata.nbrunner.reply_lost``, that
:mod:`nbrunner.run.execute` turns into the cell's outcome. The grace only decides when to ask, never what happened.

**Output from background threads.** nbclient keeps only messages whose parent is the running cell's request; a thread
a notebook started prints under the parent of the cell that started it (or none), so its lines were dropped. Output
messages (streams and displays) of any other parent are given the running request's parent and marked
``metadata.nbrunner.background``, so they are kept in the cell that was running when they arrived.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

#: seconds after the kernel said idle for a request, with no reply, before the kernel is asked about it
GRACE = 1.0
#: the longest single wait on a socket: between waits the channel checks whether it must ask the kernel
SLICE = 1.0
#: IOPub messages that carry output (a background thread's are kept in the running cell)
OUTPUT_TYPES = frozenset({"stream", "display_data", "update_display_data"})


@dataclass
class ReplyWatch:
    """What both channels of one client know about the request being answered (shared by the two)."""

    request: str | None = None  # msg_id of the last execute_request sent
    answered: bool = False  # its reply has been read
    idle_at: float | None = None  # time.monotonic() at which the kernel said idle for it
    probe: str | None = None  # msg_id of the kernel_info_request asking about it
    background: int = 0  # output messages of other parents kept in the running cell
    lost: list[str] = field(default_factory=list)  # requests whose reply was lost
    polling: Any = None  # the shell channel's pending poll (a future), if any
    nudged: bool = False  # that poll was cut short by nudge()

    def nudge(self) -> None:
        """The kernel said idle for the request: a shell poll still pending looks again at once."""
        if not self.answered and self.polling is not None and not self.polling.done():
            self.nudged = True
            self.polling.cancel()


def client_class() -> Any:
    """jupyter_client's AsyncKernelClient with these channels (``KernelManager.client_factory``)."""
    from jupyter_client.asynchronous.client import AsyncKernelClient
    from jupyter_client.channels import AsyncZMQSocketChannel
    from traitlets import Type

    class ShellChannel(AsyncZMQSocketChannel):
        watch: ReplyWatch

        def send(self, msg: dict[str, Any]) -> None:
            if msg.get("header", {}).get("msg_type") == "execute_request":
                self.watch.request, self.watch.answered = msg["header"]["msg_id"], False
                self.watch.idle_at = self.watch.probe = None
            super().send(msg)

        async def get_msg(self, timeout: float | None = None) -> dict[str, Any]:  # type: ignore[override]
            from queue import Empty

            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                wait = SLICE if deadline is None else min(SLICE, max(0.0, deadline - time.monotonic()))
                if await self._poll(wait):
                    msg: dict[str, Any] = await self._recv()
                    return self._answer(msg)
                if deadline is not None and time.monotonic() >= deadline:
                    raise Empty
                self._ask_if_silent()

        async def _poll(self, seconds: float) -> bool:
            """Whether a message waits, within ``seconds``; cut short when the kernel says idle for the request (a
            poll that started before the reply arrived may miss it: a new one sees it at once)."""
            poll = self.socket.poll(int(seconds * 1000))
            self.watch.polling = poll
            try:
                return bool(await poll)
            except asyncio.CancelledError:
                if not self.watch.nudged:
                    raise  # the task itself was cancelled
                self.watch.nudged = False
                return bool(await self.socket.poll(0))
            finally:
                self.watch.polling = None

        def _ask_if_silent(self) -> None:
            watch = self.watch
            if watch.request is None or watch.answered or watch.idle_at is None or watch.probe is not None:
                return
            if time.monotonic() - watch.idle_at < GRACE:
                return
            probe = self.session.msg("kernel_info_request", {})
            watch.probe = probe["header"]["msg_id"]
            super().send(probe)

        def _answer(self, msg: dict[str, Any]) -> dict[str, Any]:
            watch = self.watch
            parent = msg.get("parent_header", {}).get("msg_id")
            if watch.request is None or watch.answered or parent is None:
                return msg
            if parent == watch.request:
                watch.answered = True
            elif parent == watch.probe:  # the kernel answered a later request first: the reply was lost
                watch.answered = True
                watch.lost.append(watch.request)
                return lost_reply(watch.request, msg)
            return msg

    class IOPubChannel(AsyncZMQSocketChannel):
        watch: ReplyWatch

        async def get_msg(self, timeout: float | None = None) -> dict[str, Any]:  # type: ignore[override]
            msg: dict[str, Any] = await super().get_msg(timeout)
            watch = self.watch
            parent = msg.get("parent_header", {}).get("msg_id")
            kind = msg.get("header", {}).get("msg_type")
            if watch.request is None:
                return msg
            if parent == watch.request:
                if kind == "status" and msg.get("content", {}).get("execution_state") == "idle":
                    watch.idle_at = time.monotonic()
                    watch.nudge()
            elif kind in OUTPUT_TYPES and parent != watch.probe:
                watch.background += 1
                msg["parent_header"] = {**msg.get("parent_header", {}), "msg_id": watch.request}
                msg.setdefault("metadata", {}).setdefault("nbrunner", {})["background"] = True
            return msg

    class Client(AsyncKernelClient):
        shell_channel_class = Type(ShellChannel)
        iopub_channel_class = Type(IOPubChannel)

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.watch = ReplyWatch()

        @property
        def shell_channel(self) -> Any:
            channel = super().shell_channel
            channel.watch = self.watch
            return channel

        @property
        def iopub_channel(self) -> Any:
            channel = super().iopub_channel
            channel.watch = self.watch
            return channel

    return Client


def lost_reply(request: str, answer: dict[str, Any]) -> dict[str, Any]:
    """The reply the kernel never delivered, as far as it can be known: finished (the kernel said idle), outcome from
    the cell's own outputs (:mod:`nbrunner.run.execute` decides), marked ``metadata.nbrunner.reply_lost``."""
    return {
        "header": {**answer.get("header", {}), "msg_type": "execute_reply"},
        "msg_type": "execute_reply",
        "parent_header": {"msg_id": request, "msg_type": "execute_request"},
        "metadata": {"nbrunner": {"reply_lost": True}},
        "content": {"status": "ok", "user_expressions": {}, "payload": []},
        "buffers": [],
    }
