"""OpenTelemetry traces end to end: a Parley with PARLEY_OTEL_ENDPOINT pointing at a real OTLP/HTTP
receiver on loopback (protobuf `ExportTraceServiceRequest`s decoded with opentelemetry-proto), its
in-process worker on the Redis broker, and a webhook subscribed to the suite's real HTTP receiver.
One `messageCreate` makes one trace: the GraphQL operation, its SQL, the fan-out job, the delivery
job, and the `traceparent` the receiver was sent."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from sqlalchemy import select

from db.models import OutboxJob
from domain.events import outbox
from infra import traces
from tests.conftest import make_settings
from tests.support.desk import ERR, build_desk
from tests.support.gql import GraphQLHTTP
from tests.support.receiver import Receiver
from tests.support.server import LiveServer
from tests.test_webhooks import create_webhook, wait_until

NOTE = f"""mutation LeaveNote($c: ID!, $t: String!) {{
  messageCreate(input: {{conversationId: $c, content: $t, private: true}}) {{ message {{ id }} {ERR} }} }}"""


@dataclass
class SpanSeen:
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    attributes: dict[str, object]
    service: str
    kind: int


class OTLPReceiver:
    """POST /v1/traces with an OTLP protobuf body; keeps every span it was sent."""

    def __init__(self) -> None:
        self.spans: list[SpanSeen] = []
        self.paths: list[str] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                with receiver._lock:
                    receiver.paths.append(self.path)
                    for resource_spans in request.resource_spans:
                        resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
                        for scope_spans in resource_spans.scope_spans:
                            for span in scope_spans.spans:
                                receiver.spans.append(
                                    SpanSeen(
                                        trace_id=span.trace_id.hex(),
                                        span_id=span.span_id.hex(),
                                        parent_id=span.parent_span_id.hex(),
                                        name=span.name,
                                        attributes={a.key: _value(a.value) for a in span.attributes},
                                        service=str(resource.get("service.name")),
                                        kind=span.kind,
                                    )
                                )
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:  # quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="otlp-receiver", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def in_trace(self, trace_id: str) -> list[SpanSeen]:
        with self._lock:
            return [s for s in self.spans if s.trace_id == trace_id]

    def __enter__(self) -> OTLPReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _value(value) -> object:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    return getattr(value, kind) if kind else None


@pytest.fixture(scope="module")
def otlp() -> Iterator[OTLPReceiver]:
    with OTLPReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def traced_server(tmp_path_factory, database_url, smtp_server, otlp) -> Iterator[LiveServer]:
    settings = make_settings(
        tmp_path_factory.mktemp("traced"),
        smtp_host="127.0.0.1",
        smtp_port=smtp_server.port,
        smtp_starttls=False,
        dramatiq_namespace="parley-traced",  # its own jobs: they run on this server's worker
        otel_endpoint=otlp.url,
        otel_service_name="parley-under-test",
        otel_flush_ms=100,
        webhooks_allow_private_targets=True,
        webhooks_timeout_seconds=3.0,
    )
    with LiveServer(settings) as live:
        yield live
    assert not traces.enabled()  # the last stop removed it: later tests run untraced


@pytest.fixture
async def traced_gql(traced_server: LiveServer) -> Iterator[GraphQLHTTP]:
    client = GraphQLHTTP(traced_server.url)
    yield client
    await client.aclose()


async def test_a_message_and_its_webhook_delivery_make_one_trace(traced_gql, smtp, otlp, db_engine):
    desk = await build_desk(traced_gql, smtp)
    with Receiver() as hooks:
        await create_webhook(desk, hooks.url, ["MESSAGE_CREATED"])
        conversation = await desk.new_conversation("Where is my parcel?")
        await wait_until(lambda: hooks.events("message_created"))
        before = len(hooks.events("message_created"))
        body = await desk.data(desk.agent, NOTE, {"c": conversation["id"], "t": "Internal: ask the courier"})
        assert body["messageCreate"]["errors"] == [], body
        await wait_until(lambda: len(hooks.events("message_created")) > before)
    delivered = next(r for r in hooks.events("message_created") if r.json()["message"]["private"])
    traceparent = delivered.headers.get("traceparent")
    assert traceparent, delivered.headers
    version, trace_id, parent_span, flags = traceparent.split("-")
    assert version == "00" and len(trace_id) == 32 and len(parent_span) == 16
    assert int(flags, 16) & 1  # sampled

    def names() -> set[str]:
        return {s.name for s in otlp.in_trace(trace_id)}

    wanted = {"LeaveNote", "job webhooks.fan_out", "job webhooks.deliver", "webhooks.attempt"}
    await wait_until(lambda: wanted <= names(), timeout=20)
    spans = otlp.in_trace(trace_id)
    by_id = {s.span_id: s for s in spans}
    operation = next(s for s in spans if s.name == "LeaveNote")
    assert operation.attributes["graphql.operation.name"] == "LeaveNote"
    assert operation.attributes[traces.REQUEST_ID_ATTRIBUTE]
    assert all(s.service == "parley-under-test" for s in spans)
    # The operation runs inside the request's HTTP server span, which carries the request id too.
    http = by_id[operation.parent_id]
    assert (
        http.kind == Span.SPAN_KIND_SERVER
        and http.attributes[traces.REQUEST_ID_ATTRIBUTE] == (operation.attributes[traces.REQUEST_ID_ATTRIBUTE])
    )
    sql = [s for s in spans if "db.system" in s.attributes or "db.system.name" in s.attributes]
    assert any(_descends(s, operation, by_id) for s in sql), [s.name for s in spans]
    # The jobs continue the request's trace: the fan-out under the operation, the delivery under the
    # fan-out, and the request to the receiver under the delivery.
    fan_out = next(s for s in spans if s.name == "job webhooks.fan_out")
    deliver = next(s for s in spans if s.name == "job webhooks.deliver")
    attempt = next(s for s in spans if s.name == "webhooks.attempt")
    assert _descends(fan_out, operation, by_id)
    assert _descends(deliver, fan_out, by_id)
    assert _descends(attempt, deliver, by_id)
    assert fan_out.attributes["parley.actor"] == "webhooks.fan_out"
    assert by_id[parent_span].trace_id == trace_id and _descends(by_id[parent_span], attempt, by_id)
    assert set(otlp.paths) == {"/v1/traces"}
    # The outbox rows keep the trace too, so a job the sweeper sends later (the request died before
    # sending it, the broker lost it) still joins the trace of the request that wrote it.
    async with db_engine.connect() as conn:
        rows = (await conn.execute(select(OutboxJob.actor_name, OutboxJob.kwargs))).all()
    carried = {name for name, kwargs in rows if trace_id in str(kwargs.get(outbox.TRACEPARENT_KEY, ""))}
    assert {"webhooks.fan_out", "webhooks.deliver", "notifications.fan_out"} <= carried, carried


def _descends(span: SpanSeen, ancestor: SpanSeen, by_id: dict[str, SpanSeen]) -> bool:
    current: SpanSeen | None = span
    while current is not None:
        if current.span_id == ancestor.span_id:
            return True
        current = by_id.get(current.parent_id)
    return False


def test_without_an_endpoint_nothing_of_opentelemetry_is_imported(tmp_path, database_url):
    """Off is free: building the app and its broker and serving a request loads no tracing and wraps nothing."""
    script = f"""
import asyncio, sys
import httpx
from tests.conftest import make_settings
from parley.app import create_app

async def main():
    app = create_app(make_settings(__import__("pathlib").Path({str(tmp_path)!r}), worker_in_process=False))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://parley") as client:
            r = await client.post("/graphql", json={{"query": "query Ping {{ __typename }}"}})
            assert r.status_code == 200, r.text
    # redis-py loads the OpenTelemetry API and metrics SDK for its own observability; the tracing SDK,
    # the exporter and the instrumentations are ours to load, and only when on.
    ours = ("opentelemetry.sdk.trace", "opentelemetry.exporter", "opentelemetry.instrumentation")
    loaded = sorted(m for m in sys.modules if m.startswith(ours))
    assert not loaded, loaded
    assert not hasattr(httpx.AsyncHTTPTransport.handle_async_request, "__wrapped__")

asyncio.run(main())
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=os.environ)
    assert done.returncode == 0, done.stderr[-2000:]
