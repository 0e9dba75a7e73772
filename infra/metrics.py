"""Prometheus metrics of a process: the counters and histograms the hot paths touch (in memory, no I/O),
and the rendering of `/metrics`. Gauges that need a query (outbox backlog, queue depth, pool use) are
read at scrape time by the caller of `render`, never per request.

Several processes (uvicorn workers, a worker beside the API on one host) share their samples through
prometheus-client's multiprocess mode: set PROMETHEUS_MULTIPROC_DIR to an empty directory before the
processes start, and every process's `/metrics` answers for all of them.

Label values are bounded: operation names pass through `operation_label` (a well-formed name, at most
MAX_OPERATION_NAMES distinct ones per process, the rest "other"); error codes and outcomes are enum
values; actor names are the declared actors."""

from __future__ import annotations

import os
import re
import threading

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
MAX_OPERATION_NAMES = 200

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

requests_total = Counter(
    "parley_graphql_requests_total",
    "GraphQL operations answered, by operation name and outcome",
    ["operation", "outcome"],
)
request_seconds = Histogram(
    "parley_graphql_request_seconds", "GraphQL operation latency", ["operation"], buckets=LATENCY_BUCKETS
)
errors_total = Counter("parley_graphql_errors_total", "GraphQL errors answered, by extensions.code", ["code"])
rate_limit_refusals_total = Counter(
    "parley_rate_limit_refusals_total", "Requests refused by a rate limit or cost budget", ["limit"]
)
active_sockets = Gauge("parley_active_websockets", "Open GraphQL WebSocket connections", multiprocess_mode="livesum")
active_subscriptions = Gauge(
    "parley_active_subscriptions", "Running GraphQL subscriptions", multiprocess_mode="livesum"
)
events_relayed_total = Counter("parley_events_relayed_total", "Events published to the broadcast after commit")
relay_lag_seconds = Histogram(
    "parley_relay_lag_seconds", "From an event's commit to its publication", buckets=LATENCY_BUCKETS
)
job_runs_total = Counter("parley_job_runs_total", "Jobs run by workers, by actor and outcome", ["actor", "outcome"])
job_seconds = Histogram("parley_job_seconds", "Job run time, by actor", ["actor"], buckets=LATENCY_BUCKETS)
webhook_deliveries_total = Counter(
    "parley_webhook_deliveries_total", "Webhook delivery attempts, by outcome", ["outcome"]
)

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_seen: set[str] = set()
_seen_lock = threading.Lock()


def operation_label(name: str | None) -> str:
    """A bounded label for a client-chosen operation name."""
    if not name:
        return "anonymous"
    if name in _seen:
        return name
    if not _NAME.match(name):
        return "other"
    with _seen_lock:
        if len(_seen) >= MAX_OPERATION_NAMES:
            return "other"
        _seen.add(name)
    return name


def observe_request(operation: str | None, outcome: str, seconds: float, error_codes: list[str]) -> None:
    label = operation_label(operation)
    requests_total.labels(label, outcome).inc()
    request_seconds.labels(label).observe(seconds)
    for code in error_codes:
        errors_total.labels(code).inc()
        if code == "RATE_LIMITED":
            rate_limit_refusals_total.labels("graphql").inc()


def webhook_outcome(succeeded: bool, retryable: bool, gone: bool) -> None:
    outcome = "delivered" if succeeded else "gone" if gone else "retryable" if retryable else "failed"
    webhook_deliveries_total.labels(outcome).inc()


class _Snapshot:
    """Gauges read once per scrape: (name, help, labels, [(label values, value)])."""

    def __init__(self, families: list[tuple[str, str, list[str], list[tuple[list[str], float]]]]) -> None:
        self.families = families

    def collect(self):  # type: ignore[no-untyped-def]
        for name, doc, labels, samples in self.families:
            family = GaugeMetricFamily(name, doc, labels=labels)
            for values, value in samples:
                family.add_metric(values, value)
            yield family


ScrapeGauges = list[tuple[str, str, list[str], list[tuple[list[str], float]]]]


def render(scrape_gauges: ScrapeGauges) -> bytes:
    """The text exposition of every process's samples plus the gauges read for this scrape."""
    extra = CollectorRegistry()
    extra.register(_Snapshot(scrape_gauges))
    if MULTIPROCESS:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry) + generate_latest(extra)
    return generate_latest(REGISTRY) + generate_latest(extra)
