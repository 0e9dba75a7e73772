"""Workers say they are alive: each worker writes "last seen" into a Redis hash every few seconds, so
`/readyz` and `parley status` can tell an operator that jobs are waiting with nobody to run them.

The hash `<namespace>:parley:workers` maps `host:pid:worker` to a small JSON record. Entries are never
expired by Redis (an operator wants to see when a worker was last seen, not just that it is gone);
a worker removes its own entry when it stops cleanly, and entries older than a day are pruned.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import dramatiq

PRUNE_AFTER_SECONDS = 86_400


def workers_key(namespace: str) -> str:
    return f"{namespace}:parley:workers"


def interval_for(missing_after_seconds: float) -> float:
    """How often a worker writes: several times within the window after which it counts as missing."""
    return max(0.2, min(10.0, missing_after_seconds / 4))


@dataclass
class SeenWorker:
    host: str
    pid: int
    queues: list[str]
    started_at: float
    last_seen: float

    def age(self, now: float | None = None) -> float:
        return max(0.0, (time.time() if now is None else now) - self.last_seen)


def parse_workers(raw: dict[Any, Any]) -> list[SeenWorker]:
    seen = []
    for value in raw.values():
        try:
            data = json.loads(value)
            seen.append(
                SeenWorker(
                    host=str(data["host"]),
                    pid=int(data["pid"]),
                    queues=list(data.get("queues") or []),
                    started_at=float(data["started_at"]),
                    last_seen=float(data["last_seen"]),
                )
            )
        except (ValueError, KeyError, TypeError):
            continue  # not ours, or from another version: ignore
    return sorted(seen, key=lambda w: w.last_seen, reverse=True)


def missing_worker_problem(
    workers: list[SeenWorker], missing_after_seconds: float, now: float | None = None
) -> str | None:
    """None when some worker was seen recently, else the one-line reason `/readyz` shows."""
    if not workers:
        return "no worker seen"
    age = workers[0].age(now)
    if age <= missing_after_seconds:
        return None
    return f"no worker seen for {int(age)} s"


class WorkerHeartbeat(dramatiq.Middleware):
    """Added to the Redis broker's middleware: every worker consuming from it keeps its entry fresh."""

    def __init__(self, namespace: str, missing_after_seconds: float) -> None:
        self.key = workers_key(namespace)
        self.interval = interval_for(missing_after_seconds)
        self._beats: dict[int, tuple[threading.Event, threading.Thread, str]] = {}

    def after_worker_boot(self, broker, worker) -> None:
        field = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        queues = worker.consumer_whitelist or broker.get_declared_queues()
        record = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "queues": sorted(q for q in queues if not q.endswith(".DQ")),
            "started_at": time.time(),
        }
        stop = threading.Event()
        thread = threading.Thread(
            target=self._beat, args=(broker.client, field, record, stop), name="parley-worker-heartbeat", daemon=True
        )
        self._beats[id(worker)] = (stop, thread, field)
        thread.start()

    def before_worker_shutdown(self, broker, worker) -> None:
        entry = self._beats.pop(id(worker), None)
        if entry is None:
            return
        stop, thread, field = entry
        stop.set()
        thread.join(timeout=5)
        try:
            broker.client.hdel(self.key, field)
        except Exception:  # noqa: BLE001 - Redis is down: the entry simply ages
            pass

    def _beat(self, client, field: str, record: dict, stop: threading.Event) -> None:
        while True:
            now = time.time()
            try:
                client.hset(self.key, field, json.dumps({**record, "last_seen": now}))
                stale = [
                    f
                    for f, w in client.hgetall(self.key).items()
                    if _last_seen(w) is not None and now - _last_seen(w) > PRUNE_AFTER_SECONDS
                ]
                if stale:
                    client.hdel(self.key, *stale)
            except Exception:  # noqa: BLE001 - Redis is away; try again on the next beat
                pass
            if stop.wait(self.interval):
                return


def _last_seen(value: Any) -> float | None:
    try:
        return float(json.loads(value)["last_seen"])
    except (ValueError, KeyError, TypeError):
        return None


async def read_workers(redis, namespace: str) -> list[SeenWorker]:
    """The workers that wrote a heartbeat, freshest first (an asyncio Redis client)."""
    return parse_workers(await redis.hgetall(workers_key(namespace)))


@dataclass
class QueueDepth:
    queue: str
    waiting: int  # enqueued, not yet taken by a worker
    delayed: int  # retries and delayed jobs waiting for their time
    dead: int  # failed for good (Dramatiq's dead-letter set)


async def read_queue_depths(redis, namespace: str, queues: tuple[str, ...]) -> list[QueueDepth]:
    """Jobs per queue from the Dramatiq Redis broker's keys: `<ns>:<queue>` and `<ns>:<queue>.DQ`
    are lists of message ids, `<ns>:<queue>.XQ` a sorted set of dead-lettered ones."""
    async with redis.pipeline(transaction=False) as pipe:
        for queue in queues:
            pipe.llen(f"{namespace}:{queue}")
            pipe.llen(f"{namespace}:{queue}.DQ")
            pipe.zcard(f"{namespace}:{queue}.XQ")
        counts = await pipe.execute()
    return [QueueDepth(queue, *counts[i * 3 : i * 3 + 3]) for i, queue in enumerate(queues)]
