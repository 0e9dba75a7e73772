"""Periodic work beside the worker: the outbox sweeper (more jobs join with later issues)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from parley.logs import get_logger

log = get_logger("parley.scheduler")


class Scheduler:
    def __init__(self) -> None:
        self._jobs: list[tuple[str, float, Callable[[], Awaitable[object]]]] = []
        self._tasks: list[asyncio.Task] = []

    def every(self, seconds: float, name: str, fn: Callable[[], Awaitable[object]]) -> None:
        self._jobs.append((name, seconds, fn))

    async def _loop(self, name: str, seconds: float, fn: Callable[[], Awaitable[object]]) -> None:
        while True:
            try:
                result = await fn()
                if result:
                    log.info("scheduler.ran", job=name, result=result)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a failing run must not stop the schedule
                log.exception("scheduler.failed", job=name)
            await asyncio.sleep(seconds)

    def start(self) -> None:
        for name, seconds, fn in self._jobs:
            self._tasks.append(asyncio.create_task(self._loop(name, seconds, fn), name=f"scheduler:{name}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()


def standard_scheduler(sessions, broker, broadcast=None) -> Scheduler:
    """`broadcast` is anything with `async publish(channel, message)`: the app's Broadcast, or a
    Redis client in a worker process."""
    from parley.relay import sweep_events, sweep_outbox

    scheduler = Scheduler()
    scheduler.every(5.0, "outbox.sweep", lambda: sweep_outbox(sessions, broker))
    if broadcast is not None:
        scheduler.every(2.0, "events.sweep", lambda: sweep_events(sessions, broadcast))
    scheduler.every(15.0, "conversations.wake_snoozed", lambda: wake_snoozed_conversations(sessions))
    return scheduler


async def wake_snoozed_conversations(sessions) -> int:
    """Reopen conversations whose snooze ended. Their events are relayed by the event sweeper."""
    from domain import events
    from domain.helpdesk.conversations import wake_snoozed

    async with sessions() as session:
        count = await wake_snoozed(session)
        await events.commit(session)
    return count
