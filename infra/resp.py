"""One pipelined Redis connection for a script called on every request (the rate limits and cost
budget of infra/ratelimit.py, and Dramatiq's dispatch script for the jobs a write sends after its
commit: workers/broker.py).

redis-py spends 150–200 µs of CPU on such a call (a connection taken from the pool and given back,
the command packed through its encoder, the reply read through its parser and its retry and
health-check machinery); a plain asyncio protocol that writes the packed command and resolves a
future when the reply arrives spends about a third of that. Calls share the connection: replies come
back in the order of the commands, so each call's future waits in a queue, and a call given up (its
caller timed out) still has its reply read and dropped in turn. The commands of one turn of the
event loop are written together (one system call for all the requests that reached this step at
once).

It speaks only what the script needs (RESP2: EVALSHA, EVAL once after NOSCRIPT, AUTH and SELECT on
connect) over TCP; any failure raises, and the caller counts in the process instead, as it does when
redis-py fails. A lost connection fails the calls waiting on it and the next call connects again."""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from typing import Any


class RespError(Exception):
    """An error reply of Redis (`-ERR …`, `-NOSCRIPT …`)."""


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiters: deque[asyncio.Future[Any]] = deque()
        self.buffer = bytearray()
        self.lost = False
        self.outgoing: list[bytes] = []  # commands of this turn of the loop, written together

    def send(self, command: bytes) -> None:
        """Queue a command; the commands of one turn of the loop go out in one write (a write is a
        system call, about 0.1 ms each on a busy machine: one per request was a sixth of its time)."""
        if not self.outgoing:
            asyncio.get_running_loop().call_soon(self._flush)
        self.outgoing.append(command)

    def _flush(self) -> None:
        outgoing, self.outgoing = self.outgoing, []
        if self.transport is not None and not self.lost:
            self.transport.write(b"".join(outgoing) if len(outgoing) > 1 else outgoing[0])

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        start = 0
        waiters = self.waiters
        try:
            while waiters:
                parsed = _parse(buffer, start)
                if parsed is None:
                    break
                value, start = parsed
                waiter = waiters.popleft()
                if not waiter.done():  # a call given up: its reply is read and dropped
                    waiter.set_result(value)
        except (ValueError, IndexError):  # not RESP: nothing on this connection can be trusted
            self._fail(ConnectionError("unreadable reply from Redis"))
            if self.transport is not None:
                self.transport.abort()
            return
        if start:
            del buffer[:start]

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(ConnectionError("Redis connection lost"))

    def _fail(self, exc: Exception) -> None:
        self.lost = True
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_exception(exc)


def _parse(buffer: bytearray, start: int) -> tuple[Any, int] | None:
    """One RESP2 value from `start`: (value, where the next begins), or None when not all here yet."""
    end = buffer.find(b"\r\n", start)
    if end < 0:
        return None
    kind = buffer[start]
    line = bytes(buffer[start + 1 : end])
    after = end + 2
    if kind == 58:  # ':' integer
        return int(line), after
    if kind == 36:  # '$' bulk string
        size = int(line)
        if size < 0:
            return None, after
        if len(buffer) < after + size + 2:
            return None
        return bytes(buffer[after : after + size]), after + size + 2
    if kind == 42:  # '*' array
        count = int(line)
        if count < 0:
            return None, after
        items = []
        for _ in range(count):
            parsed = _parse(buffer, after)
            if parsed is None:
                return None
            item, after = parsed
            items.append(item)
        return items, after
    if kind == 43:  # '+' simple string
        return line.decode(), after
    if kind == 45:  # '-' error
        return RespError(line.decode(errors="replace")), after
    raise ValueError(f"unknown RESP type {kind!r}")


def pack(*parts: bytes | str | int | float) -> bytes:
    """A command as RESP's array of bulk strings (numbers written as redis-py writes them)."""
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        if isinstance(part, bytes):
            data = part
        elif isinstance(part, str):
            data = part.encode()
        elif isinstance(part, float):
            data = repr(part).encode()
        else:
            data = b"%d" % part
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class PipelinedScript:
    """`await script(keys=[…], args=[…])` as redis-py's registered scripts are called, on one
    connection of its own that every caller shares."""

    def __init__(
        self,
        script: str,
        *,
        host: str,
        port: int,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        connect_timeout: float = 2.0,
    ) -> None:
        self.script = script
        self.sha = hashlib.sha1(script.encode()).hexdigest()
        self.host = host
        self.port = port
        self.db = db
        self.username = username
        self.password = password
        self.connect_timeout = connect_timeout
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Future[_Protocol] | None = None

    @classmethod
    def for_client(cls, redis: Any, script: str) -> PipelinedScript | None:
        """One on the server a redis-py client (asyncio or not) talks to, or None when that is not
        plain TCP (TLS, a Unix socket, a cluster): those keep redis-py."""
        from redis.asyncio.connection import Connection
        from redis.connection import Connection as SyncConnection

        pool = getattr(redis, "connection_pool", None)
        if pool is None or pool.connection_class not in (Connection, SyncConnection):
            return None
        kwargs = pool.connection_kwargs
        if kwargs.get("protocol") not in (None, 2, "2"):
            return None
        return cls(
            script,
            host=kwargs.get("host", "localhost"),
            port=int(kwargs.get("port", 6379)),
            db=int(kwargs.get("db", 0) or 0),
            username=kwargs.get("username"),
            password=kwargs.get("password"),
            connect_timeout=kwargs.get("socket_connect_timeout") or 2.0,
        )

    async def __call__(self, keys: list[str], args: list[Any]) -> Any:
        protocol = self._protocol
        if protocol is None or protocol.lost:
            protocol = await self._connect()
        command = pack(b"EVALSHA", self.sha, len(keys), *keys, *args)
        reply = await self._send(protocol, command)
        if isinstance(reply, RespError) and str(reply).startswith("NOSCRIPT"):
            # Redis lost its script cache (a restart, SCRIPT FLUSH): EVAL runs and caches it again.
            reply = await self._send(protocol, pack(b"EVAL", self.script, len(keys), *keys, *args))
        if isinstance(reply, RespError):
            raise reply
        return reply

    async def _send(self, protocol: _Protocol, command: bytes) -> Any:
        if protocol.lost or protocol.transport is None:
            raise ConnectionError("Redis connection lost")
        waiter = asyncio.get_running_loop().create_future()
        protocol.waiters.append(waiter)
        protocol.send(command)
        try:
            return await waiter
        except asyncio.CancelledError:
            if len(protocol.waiters) > 10_000 and protocol.transport is not None:
                # Redis has stopped answering, yet the connection stands: start again.
                protocol.transport.abort()
            raise

    async def _connect(self) -> _Protocol:
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._open())
        connecting = self._connecting
        try:
            return await asyncio.shield(connecting)
        finally:
            if connecting.done() and self._connecting is connecting:
                self._connecting = None

    async def _open(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.connect_timeout):
            _, protocol = await loop.create_connection(_Protocol, self.host, self.port)
            assert isinstance(protocol, _Protocol)
            setup = []
            if self.password is not None:
                auth = (self.username, self.password) if self.username else (self.password,)
                setup.append(self._send(protocol, pack(b"AUTH", *auth)))
            if self.db:
                setup.append(self._send(protocol, pack(b"SELECT", self.db)))
            for reply in await asyncio.gather(*setup):
                if isinstance(reply, RespError):
                    protocol.transport.close()  # type: ignore[union-attr]
                    raise reply
        self._protocol = protocol
        return protocol

    def close(self) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()
        self._protocol = None
