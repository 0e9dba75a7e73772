"""The Starlette application: routes, middleware and the lifespan that owns process-wide services."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from db.session import create_engine, create_read_session_factory, create_session_factory
from infra import traces
from infra.broadcast import SupervisedRedisBackend, create_broadcast, make_redis
from infra.heap import touch
from infra.logs import get_logger
from infra.services import Services
from infra.settings import Introspection, Settings, get_settings
from parley import __version__, csat_pages, mail_ingress, public_api, widget_pages
from parley.files import files_mount
from parley.graphql_view import ParleyGraphQL
from parley.metrics_view import metrics_endpoint
from parley.middleware import RequestIdMiddleware
from parley.shedding import Gate, LoadShedMiddleware

log = get_logger("parley.app")
STATIC_DIR = Path(__file__).resolve().parent / "static"
CHECK_TIMEOUT = 2.0


async def _check_database(services: Services) -> None:
    async with services.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def _check_redis(services: Services) -> None:
    await services.redis.ping()


async def _check_broadcast(services: Services) -> None:
    backend = services.broadcast.backend
    if isinstance(backend, SupervisedRedisBackend) and not backend.connected:
        raise ConnectionError("broadcast listener is reconnecting")


async def _check_broker(request: Request) -> None:
    broker = request.app.state.broker
    client = getattr(broker, "client", None)
    if client is not None:  # Redis broker: its own (synchronous) client
        await asyncio.to_thread(client.ping)
    worker = request.app.state.worker
    if worker is not None and not any(t.is_alive() for t in worker.workers):
        raise RuntimeError("in-process worker stopped")


async def _mail_status(services: Services) -> dict[str, object]:
    """The inbound email doors, for information (none of them is needed to serve): the HTTP ingress,
    the `parley mail-in` listeners seen through their Redis heartbeats, and IMAP polling."""
    settings = services.settings
    status: dict[str, object] = {"httpIngress": "on" if settings.mail_inbound_secret else "off"}
    from db.repositories.inbound_email import imap_polling_status

    try:
        async with services.sessions() as session:
            status["imap"] = await asyncio.wait_for(imap_polling_status(session), CHECK_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        status["imap"] = f"unknown ({type(exc).__name__})"
    if services.redis is None:
        status["mailIn"] = "unknown (no Redis)"
        return status
    from parley.mail_in import read_heartbeats

    try:
        seen = await asyncio.wait_for(read_heartbeats(services.redis, settings), CHECK_TIMEOUT)
        status["mailIn"] = [{"host": s["host"], "port": s["port"], "pid": s["pid"]} for s in seen] or "not running"
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        status["mailIn"] = f"unknown ({type(exc).__name__})"
    return status


def protection_services(settings: Settings, redis) -> dict:
    """Rate limits, cost budgets and persisted documents: in Redis when configured, else in memory."""
    from infra import persisted, ratelimit

    if redis is not None:
        return dict(
            rate_limiter=ratelimit.FallbackRateLimiter(
                ratelimit.RedisRateLimiter(redis),
                timeout=settings.rate_limit_redis_timeout_seconds,
                log=log,
                lease_seconds=settings.rate_limit_lease_seconds,
            ),
            cost_budget=ratelimit.FallbackCostBudget(
                ratelimit.RedisCostBudget(redis), timeout=settings.rate_limit_redis_timeout_seconds, log=log
            ),
            documents=persisted.RedisDocumentStore(
                redis, ttl=settings.apq_ttl_seconds, max_entries=settings.apq_max_entries
            ),
            operations=persisted.OperationCache(),
        )
    return dict(
        rate_limiter=ratelimit.MemoryRateLimiter(),
        cost_budget=ratelimit.MemoryCostBudget(),
        documents=persisted.MemoryDocumentStore(ttl=settings.apq_ttl_seconds, max_entries=settings.apq_max_entries),
        operations=persisted.OperationCache(),
    )


def settle_heap() -> None:
    """Once the server has started (`parley serve`): what import and start-up made — modules, the
    schema, SQLAlchemy's mappers, hundreds of thousands of objects that live as long as the process —
    is moved out of the cyclic collector's sight (`gc.freeze`). Otherwise every full collection walks
    all of it: with 1,000 subscribed sockets on a busy machine such a pause took 0.3–1.2 s, in the
    middle of a fan-out (it was the fan-out's p99) or of sockets connecting. Reference counting still
    frees everything as before; what the process accumulates later is settled the same way in its
    quiet moments (infra/heap.py), which also collects the cycles among frozen objects."""
    gc.collect()
    gc.freeze()


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or get_settings()
    from schema.root import build_schema

    schema = build_schema(
        introspection=settings.introspection_policy != Introspection.nobody,
        max_batch_operations=settings.max_batch_operations,
    )
    holder: dict[str, Services] = {}
    gate = Gate(settings.http_max_concurrency, settings.http_queue_size, settings.http_queue_timeout_seconds)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        from workers import runtime
        from workers.broker import configure_broker

        traces.start(settings)  # first: the engine and Redis clients made below are instrumented
        engine = create_engine(
            settings.effective_database_url,
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_max_overflow,
            pool_timeout=settings.database_pool_timeout_seconds,
        )
        broadcast = create_broadcast(settings.redis_url, settings.broadcast_queue_size)
        await broadcast.connect()
        redis = (
            make_redis(
                settings.redis_url,
                max_connections=settings.redis_max_connections,
                pool_timeout=settings.redis_pool_timeout_seconds,
            )
            if settings.uses_redis
            else None
        )
        from domain.accounts.throttle import LoginThrottle, ThrottlePolicy
        from infra.counters import MemoryCounter, RedisCounter
        from infra.presence import create_presence

        services = Services(
            settings=settings,
            engine=engine,
            sessions=create_session_factory(engine),
            read_sessions=create_read_session_factory(engine),
            broadcast=broadcast,
            login_throttle=LoginThrottle(
                RedisCounter(redis) if redis is not None else MemoryCounter(),
                ThrottlePolicy(
                    pair_failures=settings.login_failures_per_email_ip,
                    ip_failures=settings.login_failures_per_ip,
                    email_failures=settings.login_failures_per_email,
                    reset_per_email_per_hour=settings.password_resets_per_email_per_hour,
                    reset_per_ip_per_hour=settings.password_resets_per_ip_per_hour,
                    signup_per_ip_per_hour=settings.signup_per_ip_per_hour,
                ),
            ),
            redis=redis,
            presence=create_presence(redis),
            **protection_services(settings, redis),
        )
        if engine.dialect.name == "postgresql" and settings.fast_reads:
            # Planned once per connection, not at every execution: PostgreSQL's default plans a
            # parameterised statement afresh each time when it guesses a generic plan costs more,
            # which for the dashboard list was half of the database's time per request. Only the
            # lane's list shapes whose best plan does not depend on the values run here
            # (parley/fast_lane.py `GENERIC_FILTERS`).
            services.lane_engine = create_engine(
                settings.effective_database_url,
                pool_size=max(1, min(settings.fast_reads_concurrency, settings.database_pool_size // 4)),
                max_overflow=0,
                pool_timeout=settings.database_pool_timeout_seconds,
                server_settings={"plan_cache_mode": "force_generic_plan", "application_name": "parley-lane"},
                # Only the lane's single statements run here, outside any transaction
                # (fast_lane._fetch; a failed one invalidates its connection): nothing to roll back.
                reset_on_return=None,
            )
        from domain.accounts.auth_cache import AuthCache

        services.auth_cache = AuthCache(broadcast, max_age=settings.auth_cache_max_age_seconds)
        if settings.auth_cache_max_age_seconds > 0:
            await services.auth_cache.start()
        if settings.uses_read_replica:
            from infra.read_routing import RecentWrites, ReplicaHealth

            services.replica_engine = create_engine(
                settings.database_read_url,
                pool_size=settings.database_pool_size,
                max_overflow=settings.database_max_overflow,
                pool_timeout=settings.database_pool_timeout_seconds,
            )
            services.replica_sessions = create_read_session_factory(services.replica_engine)
            services.recent_writes = RecentWrites(settings.database_read_your_writes_seconds, redis)
            services.replica_health = ReplicaHealth(services.replica_engine)
            await services.replica_health.probe()
            services.replica_health.start()
        holder["services"] = services
        app.state.services = services
        app.state.broker = services.broker = configure_broker(settings)
        app.state.worker = None
        if settings.run_worker_in_process:
            import dramatiq

            if not settings.uses_redis:
                runtime.use_local_publisher(asyncio.get_running_loop(), broadcast.publish)
                runtime.use_local_presence(services.presence)
            app.state.resources = runtime.init_resources(settings, app.state.broker)
            worker = dramatiq.Worker(
                app.state.broker, worker_threads=settings.worker_threads, worker_timeout=settings.worker_idle_poll_ms
            )
            worker.start()
            app.state.worker = worker
        scheduler = None
        if settings.run_worker_in_process:
            from workers.scheduler import standard_scheduler

            scheduler = standard_scheduler(services.sessions, app.state.broker, broadcast)
            scheduler.start()
        app.state.scheduler = scheduler
        settler = None
        if getattr(app.state, "settle_heap", False):
            from infra.heap import HeapSettler

            settle_heap()
            settler = HeapSettler()
            settler.start()
        log.info("parley.started", version=__version__, database=engine.dialect.name, redis=settings.uses_redis)
        try:
            yield
        finally:
            if settler is not None:
                await settler.stop()
            if scheduler is not None:
                await scheduler.stop()
            if app.state.worker is not None:
                await asyncio.to_thread(app.state.worker.stop)
                runtime.use_local_publisher(None, None)
                runtime.use_local_presence(None)
                runtime.restore_resources(app.state.resources)
            # Sockets still open are told to resume elsewhere (1012), their streams end.
            if services.sockets is not None:
                await services.sockets.shutdown()
            if services.hub is not None:
                await services.hub.close()
            await services.auth_cache.stop()
            await broadcast.disconnect()
            if redis is not None:
                close = getattr(services.rate_limiter, "close", None)
                if close is not None:
                    close()
                await redis.aclose()
            close_lean = getattr(services.broker, "close_lean", None)
            if close_lean is not None:
                close_lean()  # this loop's connection for the jobs' dispatch (workers/broker.py)
            await engine.dispose()
            if services.lane_engine is not None:
                await services.lane_engine.dispose()
            if services.replica_health is not None:
                await services.replica_health.stop()
            if services.replica_engine is not None:
                await services.replica_engine.dispose()
            traces.stop()

    graphql = ParleyGraphQL(
        schema,
        lambda: holder["services"],
        legacy_ws=settings.legacy_graphql_ws,
        graphiql=settings.graphiql_enabled,
        max_subscriptions=settings.ws_max_subscriptions,
    )

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__})

    async def readyz(request: Request) -> JSONResponse:
        services: Services = request.app.state.services
        load = {"active": gate.active, "waiting": gate.waiting, "limit": gate.limit, "shed": gate.shed}
        if gate.saturated:
            # Saturated is not broken: this process is at its concurrency limit with a queue, and
            # probing the database now would only wait behind that queue and misreport it as down.
            # A load balancer should send new work elsewhere for a moment; liveness (/healthz) stays
            # ok, so nothing restarts the process.
            return JSONResponse(
                {"status": "saturated", "failed": [], "degraded": [], "checks": {}, "load": load}, status_code=503
            )
        checks = {"database": _check_database(services)}
        if services.redis is not None:
            checks["redis"] = _check_redis(services)
            checks["broadcast"] = _check_broadcast(services)
        checks["broker"] = _check_broker(request)
        results: dict[str, str] = {}
        for name, coro in checks.items():
            try:
                await asyncio.wait_for(coro, CHECK_TIMEOUT)
                results[name] = "ok"
            except Exception as exc:  # noqa: BLE001 - any failure makes the check fail
                results[name] = f"unavailable ({type(exc).__name__})"
        failed = [name for name, status in results.items() if status != "ok"]
        degraded: list[str] = []
        if services.redis is not None and not settings.run_worker_in_process and "redis" not in failed:
            # Jobs run in `parley worker` processes. Without one the API still accepts work (jobs wait
            # in the outbox and the queues), so a missing worker degrades readiness, it does not fail it.
            from workers.heartbeat import missing_worker_problem, read_workers

            try:
                seen = await asyncio.wait_for(read_workers(services.redis, settings.dramatiq_namespace), CHECK_TIMEOUT)
                problem = missing_worker_problem(seen, settings.worker_missing_after_seconds)
            except Exception as exc:  # noqa: BLE001 - reported, not raised
                problem = f"unknown ({type(exc).__name__})"
            results["worker"] = problem or "ok"
            if problem:
                degraded.append("worker")
        if services.replica_health is not None:
            # A replica that does not answer degrades readiness: the primary serves its reads meanwhile.
            results["database_replica"] = services.replica_health.problem or "ok"
            if not services.replica_health.healthy:
                degraded.append("database_replica")
        status = "unavailable" if failed else "degraded" if degraded else "ok"
        body = {"status": status, "failed": failed, "degraded": degraded, "checks": results, "load": load}
        body["mail"] = await _mail_status(services)
        return JSONResponse(body, status_code=503 if failed else 200)

    routes = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_endpoint),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        files_mount(settings),  # attachments on the local storage backend
        *widget_pages.routes(),  # /widget.js and /widget/demo
        *mail_ingress.routes(settings),  # POST /mail/inbound
        *public_api.routes(),  # the API channel's client API, /public/api/v1/inboxes/…
        *csat_pages.routes(),  # /survey/<token>: the CSAT survey an email links to
    ]
    app = _Parley(routes=routes, lifespan=lifespan, max_body_size=settings.max_body_bytes)
    app.socket_endpoint = graphql
    # Added first, so innermost: a refusal still carries CORS headers and a request id.
    app.add_middleware(LoadShedMiddleware, gate=gate, retry_after=settings.http_retry_after_seconds)
    cors = dict(
        allow_origins=[o.rstrip("/") for o in (*settings.dashboard_origins, *settings.cors_origins)],
        allow_credentials=True,
        allow_methods=["GET", "POST"],
        allow_headers=["Authorization", "Content-Type", "Accept", "X-Parley-Account", "X-Parley-CSRF", "X-Request-ID"],
        expose_headers=["X-Request-ID", "Retry-After"],
        max_age=600,
    )
    app.add_middleware(CORSMiddleware, **cors)
    configured = [*settings.dashboard_origins, *settings.cors_origins]
    app.add_middleware(widget_pages.WidgetCORSMiddleware, configured=configured)
    from parley.fast_http import FastHTTP

    app.fast_http = FastHTTP(
        graphql,
        gate=gate,
        cors=cors,
        configured=configured,
        max_body=settings.max_body_bytes,
        turns=settings.fast_reads_concurrency,
    )
    if settings.otel_endpoint:
        app.add_middleware(traces.TracingMiddleware)
    app.add_middleware(RequestIdMiddleware)
    app.state.gate = gate
    app.state.settings = settings
    return app


class _Parley(Starlette):
    """Starlette, with the GraphQL WebSocket endpoint reached past the HTTP-only middleware. CORS,
    the widget's CORS, load shedding and the body limit pass WebSocket scopes through, but each one
    an open socket passes keeps its frame (and the routing's and the exception middleware's) alive
    for the socket's whole life: about 4 KB per subscribed socket. Sockets keep the request id
    middleware (the id in their logs, the last-resort close) and, when traces are on, the tracing.
    A `POST /graphql` is first offered to the fast lane's HTTP front (parley/fast_http.py), which
    hands what it does not answer to the whole stack."""

    socket_endpoint: Any = None
    fast_http: Any = None

    def build_middleware_stack(self) -> Any:
        stack = super().build_middleware_stack()
        endpoint = self.socket_endpoint
        if endpoint is None:
            return stack
        sockets: Any = endpoint
        for entry in self.user_middleware[::-1]:  # outermost last, as Starlette builds them
            if entry.cls in _SOCKET_MIDDLEWARE:
                sockets = entry.cls(sockets, *entry.args, **entry.kwargs)

        lane = self.fast_http

        async def app(scope: Any, receive: Any, send: Any) -> None:
            kind = scope["type"]
            touch()
            if kind == "http" and lane is not None and scope["method"] == "POST" and scope["path"] == "/graphql":
                await lane(scope, receive, send, stack)
            elif kind == "websocket" and scope.get("path") == "/graphql":
                await sockets(scope, receive, send)
            else:
                await stack(scope, receive, send)

        return app


_SOCKET_MIDDLEWARE = (RequestIdMiddleware, traces.TracingMiddleware)
