"""The kernel manager and clients of pooled kernels, tuned for kernels that live one short step.

jupyter_client polls every 0.1 s for a killed kernel to be gone, and every step kills one: the
manager here polls every 10 ms. Its ``wait_for_ready`` ends with 0.2 s of listening for silence
on IOPub; nbclient calls it once per notebook and the pool once per kernel, so a short step paid
that twice. These clients wait instead for the ``idle`` status that ends their own
``kernel_info`` request: it proves IOPub is connected (the reason for the original wait) and that
nothing of the request is still in flight, with no fixed sleep.
"""
from __future__ import annotations

import time
from queue import Empty

from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import ensure_async, run_sync

_RETRY_AFTER = 0.5  # resend kernel_info when IOPub stayed silent this long (not subscribed yet)


async def _wait_for_ready(client, timeout: float | None = None) -> None:
    deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
    while True:
        msg_id = client.kernel_info()
        try:
            reply = await client._async_recv_reply(msg_id, timeout=1)
        except TimeoutError:
            reply = None
        if reply is not None and await _idle_seen(client, msg_id):
            client._handle_kernel_info_reply(reply)
            return
        if not await client._async_is_alive():
            raise RuntimeError("Kernel died before replying to kernel_info")
        if time.monotonic() > deadline:
            raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")


async def _idle_seen(client, msg_id: str) -> bool:
    """Whether IOPub carried the ``idle`` status closing request ``msg_id``."""
    end = time.monotonic() + _RETRY_AFTER
    while (left := end - time.monotonic()) > 0:
        try:
            msg = await ensure_async(client.iopub_channel.get_msg(timeout=left))
        except Empty:
            return False
        if (msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status"
                and msg["content"].get("execution_state") == "idle"):
            return True
    return False


class _WithoutHeartbeat:
    """Clients that never start the heartbeat channel. A client made by a kernel manager asks the
    manager whether the kernel lives, never the heartbeat, so the channel only cost a thread and a
    socket per step, and it has a race: stopped before its thread began (a short exchange, a busy
    machine), the thread then loops without waiting, opening sockets until zmq refuses with "Too
    many open files" (jupyter_client 8.10's ``HBChannel._async_run`` sets ``_running`` after
    ``stop`` cleared it)."""

    def start_channels(self, shell: bool = True, iopub: bool = True, stdin: bool = True, hb: bool = True,
                       control: bool = True) -> None:
        super().start_channels(shell=shell, iopub=iopub, stdin=stdin, hb=False, control=control)


class PooledAsyncKernelClient(_WithoutHeartbeat, AsyncKernelClient):
    """The client nbclient gets for a pooled kernel."""

    wait_for_ready = _wait_for_ready


class PooledBlockingKernelClient(_WithoutHeartbeat, BlockingKernelClient):
    """The client of the pool's own set-up exchanges."""

    wait_for_ready = run_sync(_wait_for_ready)


class PooledKernelManager(AsyncKernelManager):
    """An async manager (nbclient then gets an async client, whose waits never block its event loop,
    so it notices a kernel killed under it) whose kill waits in 10 ms slices, and whose clients
    know readiness without the fixed wait."""

    def __init__(self, **kwargs):
        kwargs.setdefault("client_class", f"{__name__}.PooledAsyncKernelClient")
        super().__init__(**kwargs)
        self.clients_made: list = []

    def client(self, **kwargs):
        """Remembered, to be closed by :meth:`close_clients`: nbclient does not close the client of a
        manager it was handed (papermill's ``km=``), which leaves its zmq context open, five sockets
        and about sixteen descriptors per step, until a long-lived process runs out of them."""
        made = super().client(**kwargs)
        self.clients_made.append(made)
        return made

    def close_clients(self) -> None:
        """Stop the channels of every client made here, and the zmq context each made for itself.
        Only once nothing uses them: a client's sockets belong to the thread running its step."""
        while self.clients_made:
            self.clients_made.pop().stop_channels()

    async def _async_wait(self, pollinterval: float = 0.01) -> None:
        await super()._async_wait(pollinterval=pollinterval)
