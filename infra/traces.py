"""OpenTelemetry traces, sent over OTLP/HTTP to PARLEY_OTEL_ENDPOINT; off (nothing imported, nothing
wrapped) unless that is set.

What is traced when on: each HTTP request (the ASGI middleware, parley/app.py), one span per GraphQL
operation named after it (parley/graphql_view.py), every SQL statement of the engines made by
`db.session.create_engine`, every command of the Redis clients made by `infra.broadcast.make_redis`,
outgoing httpx requests, and each Dramatiq job (workers/middleware.py). A job continues the trace of
whoever caused it: the `traceparent` of the request is stored with its outbox row and sent with the
message; webhook deliveries carry it on to the receiver in their `traceparent` header.

The tracer provider is this module's, not OpenTelemetry's global one, so an app or worker started and
stopped within a process (tests, an app restarted in place) leaves nothing wrapped behind: `start` and
`stop` are counted, and the last `stop` flushes the spans and removes the instrumentation."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

    from infra.settings import Settings

TRACEPARENT = "traceparent"
TRACER_NAME = "parley"
REQUEST_ID_ATTRIBUTE = "parley.request_id"

_lock = threading.Lock()
_provider: TracerProvider | None = None
_tracer: Tracer | None = None
_users = 0


def enabled() -> bool:
    return _provider is not None


def start(settings: Settings) -> bool:
    """Turn tracing on for this process if the settings ask for it (counted; see `stop`)."""
    global _provider, _tracer, _users
    endpoint = settings.otel_endpoint.strip().rstrip("/")
    if not endpoint:
        return False
    with _lock:
        _users += 1
        if _provider is not None:
            return True
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        from infra.version import __version__

        provider = TracerProvider(
            resource=Resource.create({"service.name": settings.otel_service_name, "service.version": __version__})
        )
        exporter = OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces", timeout=settings.otel_export_timeout_seconds)
        provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=settings.otel_flush_ms))
        HTTPXClientInstrumentor().instrument(tracer_provider=provider)
        _provider = provider
        _tracer = provider.get_tracer(TRACER_NAME, __version__)
        return True


def stop() -> None:
    """Undo one `start`; the last one flushes what is buffered and removes the instrumentation."""
    global _provider, _tracer, _users
    with _lock:
        if _provider is None:
            return
        _users -= 1
        if _users > 0:
            return
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        HTTPXClientInstrumentor().uninstrument()
        provider, _provider, _tracer = _provider, None, None
    provider.shutdown()


def flush(timeout_millis: int = 5000) -> None:
    if _provider is not None:
        _provider.force_flush(timeout_millis)


def tracer() -> Tracer:
    if _tracer is None:
        raise RuntimeError("tracing is off")
    return _tracer


def instrument_engine(engine: Any) -> None:
    """Spans for the SQL statements of an async engine (no-op when tracing is off)."""
    if _provider is None:
        return
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.metrics import NoOpMeterProvider

    connections = NoOpMeterProvider().get_meter(TRACER_NAME).create_up_down_counter("db.client.connections.usage")
    tracer = _provider.get_tracer("opentelemetry.instrumentation.sqlalchemy")
    EngineTracer(tracer, engine.sync_engine, connections)  # type: ignore[no-untyped-call]


def instrument_redis(client: Any) -> None:
    """Spans for the commands of a Redis client (no-op when tracing is off). Only our own clients:
    the broker's polling would otherwise start a trace every few hundred milliseconds."""
    if _provider is None:
        return
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    RedisInstrumentor.instrument_client(client, tracer_provider=_provider)


class TracingMiddleware:
    """OpenTelemetry's ASGI middleware around the app while tracing is on; the app alone otherwise.
    Inside the request id middleware: the server span carries the request id."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._traced: Any = None
        self._provider: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if _provider is None or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if self._provider is not _provider:
            from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

            self._provider = _provider
            self._traced = OpenTelemetryMiddleware(
                self.app,
                tracer_provider=_provider,
                exclude_spans=["receive", "send"],
                server_request_hook=_server_request_hook,
            )
        await self._traced(scope, receive, send)


def _server_request_hook(span: Span, _scope: Any) -> None:
    from infra.logs import request_id_var

    rid = request_id_var.get()
    if rid and span.is_recording():
        span.set_attribute(REQUEST_ID_ATTRIBUTE, rid)


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the current span; None when tracing is off or no span is recording."""
    if _provider is None:
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return carrier.get(TRACEPARENT)


@contextlib.contextmanager
def span(name: str, **attributes: Any) -> Iterator[Span | None]:
    """A span of ours around a block; yields None (and costs one check) when tracing is off."""
    if _tracer is None:
        yield None
        return
    with _tracer.start_as_current_span(name, attributes=_clean(attributes)) as current:
        yield current


class JobSpan:
    """A span for one job, begun on the worker thread before the actor runs and ended after it,
    parented on the `traceparent` the job was sent with."""

    def __init__(self, name: str, traceparent: str | None, **attributes: Any) -> None:
        from opentelemetry import context as otel_context
        from opentelemetry import trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        parent = TraceContextTextMapPropagator().extract({TRACEPARENT: traceparent}) if traceparent else None
        self.span = tracer().start_span(
            name, context=parent, kind=trace.SpanKind.CONSUMER, attributes=_clean(attributes)
        )
        self._token = otel_context.attach(trace.set_span_in_context(self.span))

    def end(self, exception: BaseException | None = None) -> None:
        from opentelemetry import context as otel_context
        from opentelemetry.trace import Status, StatusCode

        if exception is not None:
            self.span.record_exception(exception)
            self.span.set_status(Status(StatusCode.ERROR, type(exception).__name__))
        with contextlib.suppress(ValueError):  # detached elsewhere already
            otel_context.detach(self._token)
        self.span.end()


def _clean(attributes: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attributes.items() if v is not None}
