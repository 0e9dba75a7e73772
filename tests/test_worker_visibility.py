"""An operator can tell when jobs wait with nobody to run them: with Redis and jobs out of process,
`/readyz` names the missing worker (degraded, still 200: the API keeps accepting work) and
`parley status` lists the workers seen and the jobs waiting per queue. A real `parley worker`
process makes the worker seen; once it is killed, it is missing again."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
import uuid

import httpx

from tests.conftest import make_settings
from tests.support.gql import GraphQLHTTP
from tests.test_cli_and_migrations import run_cli
from tests.test_worker_runtime import WorkerProcess, _desk_without_agents, own_server, worker_env, workers  # noqa: F401

MISSING_AFTER = 3


async def _ready(http: httpx.AsyncClient) -> dict:
    resp = await http.get("/readyz")
    assert resp.status_code == 200, resp.text  # a missing worker never makes the API unready
    return resp.json()


async def _until(http: httpx.AsyncClient, predicate, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = await _ready(http)
        if predicate(body):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"/readyz never matched: {body}")
        await asyncio.sleep(0.2)


def _status(namespace: str, settings) -> tuple[int, str]:
    result = run_cli(
        "status",
        env={
            "PARLEY_ENV": "test",
            "PARLEY_DATABASE_URL": settings.database_url,
            "PARLEY_REDIS_URL": settings.redis_url,
            "PARLEY_DRAMATIQ_NAMESPACE": namespace,
            "PARLEY_WORKER_MISSING_AFTER_SECONDS": str(MISSING_AFTER),
        },
        timeout=60,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, result.stdout


async def test_readyz_and_status_show_a_missing_worker_until_one_runs(settings, tmp_path, workers):
    namespace = f"parley-vis-{uuid.uuid4().hex[:6]}"
    own = make_settings(
        tmp_path, worker_in_process=False, dramatiq_namespace=namespace, worker_missing_after_seconds=MISSING_AFTER
    )
    with own_server(own, settings) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            await _scenario(server, http, namespace, own, workers)


async def _scenario(server, http, namespace, own, workers) -> None:
    # Given an API with Redis whose jobs run elsewhere, and no worker anywhere.
    body = await _ready(http)
    assert body["status"] == "degraded", body
    assert body["failed"] == [] and body["degraded"] == ["worker"]
    assert body["checks"]["worker"] == "no worker seen"
    assert {k: v for k, v in body["checks"].items() if k != "worker"} == {
        "database": "ok",
        "redis": "ok",
        "broadcast": "ok",
        "broker": "ok",
    }

    # Work arrives anyway: the jobs wait in their queue.
    gql = GraphQLHTTP(server.url)
    try:
        await _desk_without_agents(gql)
    finally:
        await gql.aclose()
    code, out = _status(namespace, own)
    assert code == 0, out
    assert "database: ok (postgresql)" in out and "redis: ok" in out
    assert "workers: 0 seen" in out and "no worker seen" in out
    waiting = {m.group(1): int(m.group(2)) for m in re.finditer(r"^\s+(\w+)\s+waiting (\d+),", out, re.M)}
    assert set(waiting) == {"default", "webhooks", "email", "reports"}, out
    assert waiting["webhooks"] >= 1, out  # inbox.created and contact.created fan out to webhooks

    # When a `parley worker` starts, it is seen within a heartbeat, and it runs the waiting jobs.
    worker = WorkerProcess(worker_env(namespace, PARLEY_WORKER_MISSING_AFTER_SECONDS=str(MISSING_AFTER))).start()
    workers.append(worker)
    body = await _until(http, lambda b: b["checks"].get("worker") == "ok")
    assert body["status"] == "ok" and body["degraded"] == []
    deadline = time.monotonic() + 30
    while True:
        code, out = _status(namespace, own)
        if re.search(r"^\s+webhooks\s+waiting 0,", out, re.M) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    assert code == 0, out
    assert "workers: 1 seen" in out, out
    assert re.search(rf"^\s+\S+ pid {worker.proc.pid}: last seen \d+ s ago, queues ", out, re.M), out
    assert re.search(r"^\s+webhooks\s+waiting 0,", out, re.M), out

    # Killed (no clean shutdown), it stops renewing its heartbeat and goes missing again.
    os.kill(worker.proc.pid, signal.SIGKILL)
    worker.proc.wait(timeout=10)
    body = await _until(http, lambda b: b["checks"].get("worker", "").startswith("no worker seen for"))
    assert body["status"] == "degraded" and body["degraded"] == ["worker"]
    seconds = int(re.fullmatch(r"no worker seen for (\d+) s", body["checks"]["worker"]).group(1))
    assert seconds >= MISSING_AFTER


async def test_status_says_in_one_line_when_redis_is_unreachable(settings):
    result = run_cli(
        "status",
        env={
            "PARLEY_ENV": "test",
            "PARLEY_DATABASE_URL": settings.database_url,
            "PARLEY_REDIS_URL": "redis://127.0.0.1:1/0",
        },
        timeout=60,
    )
    assert result.returncode == 2
    assert "database: ok" in result.stdout
    assert "redis: unreachable at redis://127.0.0.1:1/0" in result.stdout
    assert result.stderr.strip() == "parley: not ready: see the lines above"
