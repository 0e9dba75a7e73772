"""Subscription fan-out: N sockets subscribed to `accountEvents` over graphql-transport-ws, one
message written, the time until each socket has it; and what idle subscribed sockets cost the
server in memory and CPU. The same against the floor (Redis pub/sub and a bare WebSocket loop)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import time
import uuid

import websockets

from bench.product import probes


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


class Socket:
    def __init__(self, url: str, init: dict, document: str) -> None:
        self.url, self.init, self.document = url, init, document
        self.ws = None
        self.waiting: dict[str, float] = {}  # marker → arrival time
        self.ready = asyncio.Event()
        self.task: asyncio.Task | None = None

    async def open(self) -> None:
        self.ws = await websockets.connect(
            self.url, subprotocols=["graphql-transport-ws"], max_size=2**22, open_timeout=30, ping_interval=None
        )
        await self.ws.send(json.dumps({"type": "connection_init", "payload": self.init}))
        while json.loads(await self.ws.recv()).get("type") != "connection_ack":
            pass
        await self.ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": self.document}}))
        self.task = asyncio.create_task(self.read())

    async def read(self) -> None:
        try:
            async for frame in self.ws:
                now = time.perf_counter()
                if '"next"' in frame:
                    i = frame.find("bench-")
                    if i >= 0:
                        self.waiting.setdefault(frame[i : i + 38], now)
                elif '"ping"' in frame:
                    await self.ws.send('{"type":"pong"}')
                elif '"error"' in frame or '"complete"' in frame:
                    self.waiting.setdefault("closed", now)
        except websockets.ConnectionClosed:
            self.waiting.setdefault("closed", time.perf_counter())

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()


async def open_sockets(url: str, inits: list[dict], document: str, say) -> tuple[list[Socket], list[str]]:
    """Open and subscribe, 25 at a time; a socket the server refuses or drops is reported, not retried."""
    sockets = [Socket(url, init, document) for init in inits]
    opened: list[Socket] = []
    failures: list[str] = []
    for start in range(0, len(sockets), 25):
        batch = sockets[start : start + 25]
        results = await asyncio.gather(*(s.open() for s in batch), return_exceptions=True)
        for s, r in zip(batch, results, strict=True):
            if isinstance(r, BaseException):
                failures.append(f"{type(r).__name__}: {r}"[:200])
                await s.close()
            else:
                opened.append(s)
        say(f"\r    {len(opened)}/{len(sockets)} sockets subscribed, {len(failures)} failed", end="")
    say("")
    return opened, failures


async def run(
    *,
    side: str,
    ws_url: str,
    inits: list[dict],
    document: str,
    pid: int,
    send,
    rounds: int,
    idle_seconds: float,
    say,
    counters,
) -> dict:
    """`send(content)` writes one message (awaitable); returns latencies, deliveries and idle costs."""
    # After other scenarios the server collects its heap once it has been quiet for 2 s
    # (infra/heap.py, up to half a second of a core here): an idle baseline taken across that made
    # the sockets' own cost read negative (-27.8 % of a core). Wait past it, then until quiet.
    await asyncio.sleep(4)
    await asyncio.to_thread(probes.wait_idle, pid, busy_below=0.01, step=1.0, timeout=60.0)
    rss0, cpu0 = probes.rss_bytes(pid), probes.cpu_seconds(pid)
    await asyncio.sleep(idle_seconds)
    idle_cpu_before = (probes.cpu_seconds(pid) - cpu0) / idle_seconds
    t_open = time.perf_counter()
    sockets, failures = await open_sockets(ws_url, inits, document, say)
    connect_s = time.perf_counter() - t_open
    try:
        await asyncio.sleep(2)  # let the subscriptions settle (replays, presence)
        rss1, cpu1 = probes.rss_bytes(pid), probes.cpu_seconds(pid)
        await asyncio.sleep(idle_seconds)
        idle_cpu_with = (probes.cpu_seconds(pid) - cpu1) / idle_seconds
        latencies: list[float] = []
        delivered = expected = 0
        cpu_sends = 0.0
        send_errors: list[str] = []

        async def write(content: str) -> bool:
            try:
                await send(content)
                return True
            except Exception as exc:  # noqa: BLE001 - a refused write is a result: its deliveries count as missing
                send_errors.append(f"{type(exc).__name__}: {exc}"[:300])
                return False

        await write("bench-warmup-" + uuid.uuid4().hex[:24])  # the first event pays for cold paths on both sides
        await asyncio.sleep(1)
        sql0, redis0 = await counters()
        for r in range(rounds):
            marker = ("bench-" + uuid.uuid4().hex)[:38]
            c0 = probes.cpu_seconds(pid)
            t0 = time.perf_counter()
            sent = await write(f"{marker} fan-out round {r}")
            deadline = t0 + (30 if sent else 0)
            while time.perf_counter() < deadline and any(
                marker not in s.waiting and "closed" not in s.waiting for s in sockets
            ):
                await asyncio.sleep(0.005)
            cpu_sends += probes.cpu_seconds(pid) - c0
            for s in sockets:
                expected += 1
                if marker in s.waiting:
                    delivered += 1
                    latencies.append(s.waiting.pop(marker) - t0)
            say(f"\r    {side}: round {r + 1}/{rounds}, p50 {percentile(latencies, 50) * 1000:.1f} ms", end="")
            await asyncio.sleep(0.2)
        say("")
        sql1, redis1 = await counters()
        sql = probes.delta(sql1, sql0)
        closed = sum(1 for s in sockets if "closed" in s.waiting)
    finally:
        await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)
    return {
        "sockets": len(inits),
        "opened": len(sockets),
        "open_failures": len(failures),
        "open_errors": sorted(set(failures))[:5],
        "connect_s": connect_s,
        "rounds": rounds,
        "send_failures": len(send_errors),
        "send_errors": send_errors[:3],
        "delivered": delivered,
        "expected": expected,
        "closed": closed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": max(latencies, default=float("nan")) * 1000,
        "mean_ms": statistics.fmean(latencies) * 1000 if latencies else float("nan"),
        "cpu_ms_per_event": cpu_sends / max(rounds, 1) * 1000,
        "rss_per_socket_kb": (rss1 - rss0) / max(len(sockets), 1) / 1024,
        "idle_cpu_pct_before": idle_cpu_before * 100,
        "idle_cpu_pct_with": idle_cpu_with * 100,
        "idle_cpu_pct_sockets": (idle_cpu_with - idle_cpu_before) * 100,
        "sql": sql.get("statements", 0) / max(rounds, 1),
        "sql_counts": sql,
        "redis": (redis1 - redis0) / max(rounds, 1),
        "redis_trips": sql.get("redis_round_trips", float("nan")) / max(rounds, 1),
    }
