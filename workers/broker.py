"""The Dramatiq broker: Redis in production, the stub broker with an in-process worker on the embedded default.

Actors are declared with `parley_actor`, which records them so `configure_broker` can (re)bind all of
them to the broker the settings ask for; the choice is made at start-up, not at import time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AgeLimit, AsyncIO, Callbacks, Pipelines, Retries, ShutdownNotifications, TimeLimit

from infra.settings import Settings

QUEUES = ("default", "webhooks", "email", "reports")

_actors: list[dramatiq.Actor] = []
_lock = threading.Lock()
_current: dramatiq.Broker | None = None


class SharedAsyncIO(AsyncIO):
    """Dramatiq keeps one asyncio loop thread per process, in a global. With two workers in one
    process (an app restarted in place, several apps in one test run) each would replace that loop
    and stop it under the other; this keeps one loop for as long as any worker runs."""

    _lock = threading.Lock()
    _workers = 0

    def before_worker_boot(self, broker, worker):
        with SharedAsyncIO._lock:
            if SharedAsyncIO._workers == 0:
                super().before_worker_boot(broker, worker)
            SharedAsyncIO._workers += 1

    def after_worker_shutdown(self, broker, worker):
        with SharedAsyncIO._lock:
            SharedAsyncIO._workers -= 1
            if SharedAsyncIO._workers == 0:
                super().after_worker_shutdown(broker, worker)


def _middleware(settings: Settings, *extra: dramatiq.Middleware) -> list[dramatiq.Middleware]:
    from workers.delivery_pool import DeliveryPool
    from workers.middleware import DeadLetterMiddleware, OutboxMiddleware, RequestIdMiddleware

    lease_seconds = settings.outbox_lease_seconds
    pool = DeliveryPool(
        max_in_flight=settings.webhooks_max_in_flight,
        per_host=settings.webhooks_per_host_concurrency,
        per_host_backlog=settings.webhooks_per_host_backlog,
        drain_seconds=min(settings.worker_shutdown_timeout_seconds, settings.webhooks_timeout_seconds),
    )
    return [
        *extra,
        pool,  # first: its shutdown hook drains attempts in flight while the loop still runs
        AgeLimit(),
        TimeLimit(),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        OutboxMiddleware(lease_seconds),  # before Retries too: closes the job's row once it is done or dead
        DeadLetterMiddleware(),  # before Retries: "after" hooks run in reverse, so it sees the verdict
        Retries(min_backoff=1000, max_backoff=3_600_000, max_retries=10),
        SharedAsyncIO(),
        RequestIdMiddleware(),
    ]


def build_broker(settings: Settings) -> dramatiq.Broker:
    if settings.uses_redis:
        from dramatiq.brokers.redis import RedisBroker

        from workers.heartbeat import WorkerHeartbeat

        heartbeat = WorkerHeartbeat(settings.dramatiq_namespace, settings.worker_missing_after_seconds)
        return RedisBroker(
            url=settings.redis_url,
            namespace=settings.dramatiq_namespace,
            middleware=_middleware(settings, heartbeat),
            heartbeat_timeout=settings.worker_heartbeat_timeout_ms,
            maintenance_chance=settings.worker_maintenance_chance,
        )
    return StubBroker(middleware=_middleware(settings), fail_fast_default=False)


def configure_broker(settings: Settings) -> dramatiq.Broker:
    """Make the broker for these settings the global one and bind every Parley actor to it."""
    global _current
    import workers.actors  # noqa: F401  - registers the actors

    with _lock:
        broker = build_broker(settings)
        for queue in QUEUES:
            broker.declare_queue(queue)
        for actor in _actors:
            actor.broker = broker
            broker.declare_actor(actor)
        dramatiq.set_broker(broker)
        _current = broker
        return broker


def current_broker() -> dramatiq.Broker:
    if _current is None:
        raise RuntimeError("configure_broker() has not been called")
    return _current


def parley_actor(
    *, name: str, queue: str = "default", max_retries: int = 10, time_limit_ms: int = 60_000, **options: Any
) -> Callable[[Callable[..., Any]], dramatiq.Actor]:
    """Declare an actor named `<domain>.<action>` on a known queue with explicit retry and time limits."""
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}")

    def decorator(fn: Callable[..., Any]) -> dramatiq.Actor:
        # Bound to a placeholder stub broker until configure_broker() rebinds it.
        actor = dramatiq.Actor(
            fn,
            broker=_placeholder,
            actor_name=name,
            queue_name=queue,
            priority=0,
            options={"max_retries": max_retries, "time_limit": time_limit_ms, **options},
        )
        _actors.append(actor)
        return actor

    return decorator


_placeholder = StubBroker(middleware=[Retries(), AsyncIO()])
for _q in QUEUES:
    _placeholder.declare_queue(_q)
