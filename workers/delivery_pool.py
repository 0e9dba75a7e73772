"""Webhook attempts run as tasks on the worker's event loop, not on Dramatiq's job threads.

A job thread that waited on a receiver would be held for as long as the receiver takes (up to the
webhook timeout), so a few slow receivers used to stall every queue of the worker: notifications,
reports and every other receiver's webhooks waited behind them. Here the `webhooks.deliver` job
reads what to send, hands the request to this pool and returns at once; the pool runs up to
`max_in_flight` requests at a time, at most `per_host` of them to any one receiver, so a slow
receiver holds only its own slots.

Nothing is lost by handing off: the job's outbox row stays open, its lease renewed while the pool
holds it, and is closed when the attempt is recorded (or leased until its retry is due). If the
worker dies, the lease runs out and the sweeper sends the job again. A receiver with more than
`per_host_backlog` attempts waiting is not given more: those jobs are left to the sweeper for a
little while, so one receiver's backlog cannot fill the worker's memory."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import dramatiq

from infra.logs import get_logger

log = get_logger("parley.webhooks")

_current: DeliveryPool | None = None


def current() -> DeliveryPool | None:
    return _current


class DeliveryPool(dramatiq.Middleware):
    """Also a Dramatiq middleware, so that a stopping worker lets the attempts in flight finish."""

    def __init__(self, *, max_in_flight: int, per_host: int, per_host_backlog: int, drain_seconds: float) -> None:
        global _current
        self.max_in_flight = max_in_flight
        self.per_host = per_host
        self.per_host_backlog = per_host_backlog
        self.drain_seconds = drain_seconds
        self._loop: asyncio.AbstractEventLoop | None = None
        self._global: asyncio.Semaphore | None = None
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._backlog: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        _current = self

    def _bind(self) -> None:
        """Primitives belong to one loop; a worker started again in the same process gets a new one."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop = loop
            self._global = asyncio.Semaphore(self.max_in_flight)
            self._hosts = {}
            self._backlog = {}
            self._tasks = set()

    def accepts(self, host: str) -> bool:
        self._bind()
        return self._backlog.get(host, 0) < self.per_host_backlog

    def submit(self, host: str, work: Callable[[], Awaitable[None]]) -> None:
        """Start `work` as soon as a slot for its receiver and a global slot are free."""
        self._bind()
        self._backlog[host] = self._backlog.get(host, 0) + 1
        task = asyncio.get_running_loop().create_task(self._run(host, work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, host: str, work: Callable[[], Awaitable[None]]) -> None:
        assert self._global is not None
        slots = self._hosts.get(host)
        if slots is None:
            slots = self._hosts[host] = asyncio.Semaphore(self.per_host)
        try:
            async with slots, self._global:
                await work()
        except Exception:
            log.warning("webhooks.attempt_crashed", host=host, exc_info=True)
        finally:
            left = self._backlog.get(host, 1) - 1
            if left > 0:
                self._backlog[host] = left
            else:
                self._backlog.pop(host, None)
                if not slots.locked():
                    self._hosts.pop(host, None)

    async def drain(self, timeout: float) -> int:
        """Wait for the attempts in flight, up to `timeout`; returns how many were still running."""
        tasks = [t for t in self._tasks if not t.done()]
        if not tasks:
            return 0
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        return len(pending)

    # --- Dramatiq hooks ------------------------------------------------------------------------------

    def before_worker_shutdown(self, broker, worker):
        from dramatiq.asyncio import get_event_loop_thread

        loop_thread = get_event_loop_thread()
        if loop_thread is None or self._loop is None:
            return
        try:
            left = loop_thread.run_coroutine(self.drain(self.drain_seconds))
        except Exception:  # noqa: BLE001 - what is cut off is sent again by the sweeper
            left = -1
        if left:
            log.info("webhooks.drain_incomplete", left=left)
