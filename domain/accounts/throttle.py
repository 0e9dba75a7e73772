"""Login throttling: failures are counted per email and per IP in a window; over the limit, further
attempts are refused until the window passes — before any password is hashed."""

from __future__ import annotations

from typing import Protocol

from domain.errors import RateLimited

EMAIL_LIMIT = 5
IP_LIMIT = 20
WINDOW_SECONDS = 15 * 60


class Counter(Protocol):
    async def get(self, key: str) -> tuple[int, int]:
        """The count and the seconds left in its window (0 when none)."""

    async def incr(self, key: str, window: int) -> int: ...

    async def reset(self, key: str) -> None: ...


class LoginThrottle:
    def __init__(self, counter: Counter) -> None:
        self.counter = counter

    @staticmethod
    def _keys(email: str, ip: str | None) -> list[tuple[str, int]]:
        keys = [(f"login:email:{email.strip().lower()}", EMAIL_LIMIT)]
        if ip:
            keys.append((f"login:ip:{ip}", IP_LIMIT))
        return keys

    async def check(self, email: str, ip: str | None) -> None:
        for key, limit in self._keys(email, ip):
            count, ttl = await self.counter.get(key)
            if count >= limit:
                raise RateLimited("Too many failed sign-in attempts; try again later", retryAfter=max(ttl, 1))

    async def failed(self, email: str, ip: str | None) -> None:
        for key, _limit in self._keys(email, ip):
            await self.counter.incr(key, WINDOW_SECONDS)

    async def succeeded(self, email: str) -> None:
        await self.counter.reset(self._keys(email, None)[0][0])
