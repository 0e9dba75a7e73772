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


def standard_scheduler(sessions, broker) -> Scheduler:
    from parley.relay import sweep_outbox

    scheduler = Scheduler()
    scheduler.every(5.0, "outbox.sweep", lambda: sweep_outbox(sessions, broker))
    return scheduler
