"""The cyclic garbage collector, kept out of the way of a long-lived server process.

At start-up (`parley serve`), what import and start-up made is moved out of the collector's sight
(`gc.freeze`), so a full collection does not walk it. But a process that has served for a while
holds much more that lives as long: parsed documents and their plans, compiled statements, the
drivers' statement caches, a thousand sockets' state. Each full collection walks all of it, and
one lands, by the allocation counts, in the middle of whatever runs: after the dashboard, search
and report benchmarks, a fan-out to 1,000 sockets had its p99 at 4-11x the raw floor (1.9x with
the collector off).

`HeapSettler` does that walk itself, at a moment when nothing is going on: when the process has
been quiet for `quiet` seconds (no HTTP request began, no event arrived) after some activity, at
most once per `every` seconds, it unfreezes, collects and freezes again. Nothing leaks: every
settle collects everything, the cycles among objects frozen by the last one included; between two
settles such cycles only wait."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time

from infra.logs import get_logger

log = get_logger("parley.heap")


def settle() -> None:
    """Collect everything, then move what survived out of the collector's sight."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


_activity = {"at": time.monotonic(), "busy": False}  # this process's, whichever app it serves


def touch() -> None:
    """Something happened (a request began, an event arrived): one clock read."""
    _activity["at"] = time.monotonic()
    _activity["busy"] = True


class HeapSettler:
    def __init__(self, *, quiet: float = 2.0, every: float = 30.0, check: float = 1.0) -> None:
        self.quiet = quiet
        self.every = every
        self.check = check
        self.last_settle = time.monotonic()
        self.settles = 0
        self._task: asyncio.Task[None] | None = None

    def due(self, now: float) -> bool:
        return bool(_activity["busy"]) and now - _activity["at"] >= self.quiet and now - self.last_settle >= self.every

    def settle_now(self) -> None:
        started = time.perf_counter()
        settle()
        _activity["busy"] = False
        self.last_settle = time.monotonic()
        self.settles += 1
        log.debug("heap.settled", seconds=round(time.perf_counter() - started, 3), frozen=gc.get_freeze_count())

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="heap-settler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.check)
            if self.due(time.monotonic()):
                self.settle_now()
