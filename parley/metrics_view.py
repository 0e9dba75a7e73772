"""GET /metrics: Prometheus text format, behind a bearer token (PARLEY_METRICS_TOKEN; unset, the path
answers 404 like any unknown one). Counters and histograms come from infra/metrics.py; the gauges that
need a query are read here, once per scrape: the outbox backlog per consumer, the job queues' depth,
the database pool's use."""

from __future__ import annotations

import asyncio
import hmac

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from domain.events import outbox
from infra import metrics
from infra.logs import get_logger
from infra.services import Services

log = get_logger("parley.metrics")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SCRAPE_TIMEOUT = 2.0


def _authorized(request: Request, token: str) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())


async def _gauges(services: Services) -> metrics.ScrapeGauges:
    families: metrics.ScrapeGauges = []
    pool = services.engine.pool
    checked_out = getattr(pool, "checkedout", None)
    size = getattr(pool, "size", None)
    if callable(checked_out) and callable(size):
        families.append(
            (
                "parley_db_pool_connections",
                "Database connections of this process's pool, by state",
                ["state"],
                [(["in_use"], float(checked_out())), (["size"], float(size()))],
            )
        )
    try:
        async with services.sessions() as session:
            backlog = await asyncio.wait_for(outbox.backlog(session), SCRAPE_TIMEOUT)
        families.append(
            (
                "parley_outbox_backlog",
                "Outbox jobs not yet done, by consumer",
                ["consumer"],
                [([name], float(count)) for name, count in sorted(backlog.items())],
            )
        )
    except Exception as exc:  # noqa: BLE001 - a scrape shows what it can read
        log.warning("metrics.backlog_unavailable", error=type(exc).__name__)
    if services.redis is not None:
        from workers.broker import QUEUES
        from workers.heartbeat import read_queue_depths

        try:
            depths = await asyncio.wait_for(
                read_queue_depths(services.redis, services.settings.dramatiq_namespace, QUEUES), SCRAPE_TIMEOUT
            )
            samples: list[tuple[list[str], float]] = []
            for depth in depths:
                samples.append(([depth.queue, "waiting"], float(depth.waiting)))
                samples.append(([depth.queue, "delayed"], float(depth.delayed)))
                samples.append(([depth.queue, "dead"], float(depth.dead)))
            families.append(
                (
                    "parley_job_queue_depth",
                    "Jobs waiting in the broker, by queue and state",
                    ["queue", "state"],
                    samples,
                )
            )
        except Exception as exc:  # noqa: BLE001 - a scrape shows what it can read
            log.warning("metrics.queues_unavailable", error=type(exc).__name__)
    return families


async def metrics_endpoint(request: Request) -> Response:
    services: Services = request.app.state.services
    token = services.settings.metrics_token
    if not token:
        return PlainTextResponse("Not Found", status_code=404)
    if not _authorized(request, token):
        return PlainTextResponse("Unauthorized", status_code=401, headers={"WWW-Authenticate": "Bearer"})
    body = metrics.render(await _gauges(services))
    return Response(body, headers={"content-type": CONTENT_TYPE, "cache-control": "no-store"})
