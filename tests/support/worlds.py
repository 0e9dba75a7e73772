"""Worlds that the tests of a module share: building accounts and agents through the API costs more
than most checks made on them, so a module whose tests only read them (or change what no later test
looks at) builds its world once. Its tests are marked `keep_tables`; any other test empties the tables,
and the next use builds the world afresh on empty tables."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class SharedWorld(Generic[T]):
    def __init__(self) -> None:
        self._value: T | None = None
        self._generation = -1

    async def get(self, tables, build: Callable[[], Awaitable[T]]) -> T:
        """The world, built on empty tables by `build` when there is none or the tables were emptied since."""
        if self._value is None or self._generation != tables.generation:
            self._value = None
            await tables.empty()
            self._value = await build()
            self._generation = tables.generation
        return self._value

    def drop(self) -> None:
        """Forget the world (a test changed it in a way later tests must not see): the next use builds anew."""
        self._value = None
