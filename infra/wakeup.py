"""asyncio's Event and Queue for objects every socket holds, without their deques.

An empty `collections.deque` takes ~0.7 KB (a block of 64 slots); `asyncio.Event` holds one for
its waiters, `asyncio.Queue` four. A server holding a thousand idle sockets held several of each per
socket, waited on by one task at a time. `Flag` and `Inbox` answer the same calls and make their
list of waiters only when somebody waits."""

from __future__ import annotations

import asyncio
from typing import Any


def _wake(waiters: list[asyncio.Future[None]] | None) -> None:
    if waiters:
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        waiters.clear()


class _Waitable:
    __slots__ = ("_waiters",)

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] | None = None

    async def _park(self) -> None:
        """Until woken (or cancelled, leaving nothing behind)."""
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)


class Inbox(_Waitable):
    """What uvicorn's protocol asks of its receive queue: `put_nowait`, `get`, `empty`. Frames
    rarely wait here (uvicorn pauses reading until the application has taken them), so a list."""

    __slots__ = ("_items",)

    def __init__(self) -> None:
        super().__init__()
        self._items: list[Any] = []

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        _wake(self._waiters)

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)

    async def get(self) -> Any:
        while not self._items:
            await self._park()
        return self._items.pop(0)


class Flag(_Waitable):
    """`asyncio.Event`'s `set`, `clear`, `is_set` and `wait`, with no deque until somebody waits."""

    __slots__ = ("_set",)

    def __init__(self, value: bool = False) -> None:
        super().__init__()
        self._set = value

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        _wake(self._waiters)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        if not self._set:
            await self._park()
        return True
