"""The Dramatiq broker: Redis in production, the stub broker with an in-process worker on the embedded default.

Actors are declared with `parley_actor`, which records them so `configure_broker` can (re)bind all of
them to the broker the settings ask for; the choice is made at start-up, not at import time.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable
from typing import Any

import dramatiq
import redis.exceptions
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
    from workers.middleware import (
        DeadLetterMiddleware,
        MetricsMiddleware,
        OutboxMiddleware,
        RequestIdMiddleware,
        TracingMiddleware,
    )

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
        TracingMiddleware(),
        MetricsMiddleware(),
    ]


def build_broker(settings: Settings) -> dramatiq.Broker:
    if settings.uses_redis:
        from workers.heartbeat import WorkerHeartbeat

        heartbeat = WorkerHeartbeat(settings.dramatiq_namespace, settings.worker_missing_after_seconds)
        return _outbox_redis_broker_class()(
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


# --- outbox copies in Redis ------------------------------------------------------------------------------

_PROBE = """
local out = {}
for i = 2, #ARGV, 2 do
  local queue = ARGV[1] .. ":" .. ARGV[i]
  local ref = ARGV[i + 1]
  local waiting = 0
  if redis.call("hexists", queue .. ".msgs", ref) == 1 and redis.call("lpos", queue, ref) then
    waiting = 1
  end
  out[#out + 1] = waiting
end
return out
"""


def outbox_ref(outbox_id: int, send: int) -> str:
    return f"outbox.{outbox_id}.{send}"


_broker_class: type[dramatiq.Broker] | None = None


def _outbox_redis_broker_class() -> type[dramatiq.Broker]:
    """Dramatiq's Redis broker, naming the Redis copy of an outbox job's message after the job and
    its send (`outbox.<id>.<n>`) instead of a random id, so that the outbox sweeper can ask whether
    the copy it sent still waits in its queue (see `queue_probe`). Everything else is Dramatiq's."""
    global _broker_class
    if _broker_class is not None:
        return _broker_class
    from uuid import uuid4

    from dramatiq.brokers.redis import RedisBroker
    from dramatiq.common import current_millis, dq_name

    class OutboxRedisBroker(RedisBroker):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            # Per event loop: the dispatch script's pipelined connection (`lean_dispatch`).
            self._lean: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()

        def enqueue(self, message: dramatiq.Message[Any], *, delay: int | None = None) -> dramatiq.Message[Any]:
            outbox_id, send = message.options.get("outbox_id"), message.options.get("outbox_send")
            if isinstance(outbox_id, int) and isinstance(send, int) and not delay:
                ref = outbox_ref(outbox_id, send)
            else:  # a retry or a delayed copy: Dramatiq's own unique id
                ref = str(uuid4())
            message = message.copy(options={"redis_message_id": ref})
            queue_name = message.queue_name
            if delay is not None:
                queue_name = dq_name(queue_name)
                message = message.copy(queue_name=queue_name, options={"eta": current_millis() + delay})
            self.emit_before("enqueue", message, delay)
            self.do_enqueue(queue_name, message.options["redis_message_id"], message.encode())
            self.emit_after("enqueue", message, delay)
            return message

        def enqueue_many(self, messages: list[dramatiq.Message[Any]]) -> list[dramatiq.Message[Any]]:
            """Enqueue several messages (no delay) in one Redis round trip: the same script calls
            `enqueue` makes, pipelined. Either all are sent or the call raises."""
            ready, calls = self._dispatch_calls(messages)
            dispatch = self.scripts["dispatch"]
            # EVALSHA straight into the pipeline: a script object in a pipeline makes redis-py ask
            # SCRIPT EXISTS first, a second round trip on every call. The script is loaded only
            # when Redis says it does not know it (restarted, flushed), and only those calls repeat.
            missing = _evalsha_all(self.client, dispatch.sha, self.namespace, calls)
            if missing:
                self.client.script_load(dispatch.script)
                if _evalsha_all(self.client, dispatch.sha, self.namespace, missing):
                    raise redis.exceptions.NoScriptError("the dispatch script is not loaded")
            for message in ready:
                self.emit_after("enqueue", message, None)
            return ready

        def lean_dispatch(self) -> Any:
            """The dispatch script on a pipelined asyncio connection of this event loop's own
            (infra/resp.py), or None where Redis is not plain TCP (TLS, a Unix socket): those keep
            `enqueue_many` in a thread."""
            from infra.resp import PipelinedScript

            loop = asyncio.get_running_loop()
            try:
                return self._lean[loop]
            except KeyError:
                script = self.scripts["dispatch"].script
                text = script.decode() if isinstance(script, bytes) else script
                found = self._lean[loop] = PipelinedScript.for_client(self.client, text)
                return found

        def close_lean(self) -> None:
            """Close this event loop's dispatch connection (at the app's shutdown)."""
            lean = self._lean.pop(asyncio.get_running_loop(), None)
            if lean is not None:
                lean.close()

        async def enqueue_many_async(self, messages: list[dramatiq.Message[Any]]) -> list[dramatiq.Message[Any]] | None:
            """`enqueue_many` on the event loop, without a thread: the calls of one turn of the loop
            go out in one write. None when this broker cannot (see `lean_dispatch`). Either all are
            sent or the call raises."""
            lean = self.lean_dispatch()
            if lean is None:
                return None
            ready, calls = self._dispatch_calls(messages)
            await asyncio.gather(*(lean([self.namespace], list(args)) for args in calls))
            for message in ready:
                self.emit_after("enqueue", message, None)
            return ready

        def _dispatch_calls(self, messages: list[dramatiq.Message[Any]]) -> tuple[list[Any], list[tuple]]:
            """The messages as they will be sent (named, the before-enqueue hooks run) and their
            dispatch script calls."""
            ready = []
            for message in messages:
                outbox_id, send = message.options.get("outbox_id"), message.options.get("outbox_send")
                ref = (
                    outbox_ref(outbox_id, send)
                    if isinstance(outbox_id, int) and isinstance(send, int)
                    else str(uuid4())
                )
                message = message.copy(options={"redis_message_id": ref})
                self.emit_before("enqueue", message, None)
                ready.append(message)
            calls = [
                (
                    "enqueue",
                    current_millis(),
                    message.queue_name,
                    self.broker_id,
                    self.heartbeat_timeout,
                    self.dead_message_ttl,
                    self._should_do_maintenance("enqueue"),
                    self._max_unpack_size(),
                    message.options["redis_message_id"],
                    message.encode(),
                )
                for message in ready
            ]
            return ready, calls

    _broker_class = OutboxRedisBroker
    return _broker_class


def _evalsha_all(client: Any, sha: str, key: str, calls: list[tuple]) -> list[tuple]:
    """Run each call of one script in a pipeline; the calls Redis refused as NOSCRIPT, to repeat
    after loading it. Any other error raises."""
    pipe = client.pipeline(transaction=False)
    for args in calls:
        pipe.evalsha(sha, 1, key, *args)
    missing = []
    for args, result in zip(calls, pipe.execute(raise_on_error=False), strict=True):
        if isinstance(result, redis.exceptions.NoScriptError):
            missing.append(args)
        elif isinstance(result, Exception):
            raise result
    return missing


def queue_probe(broker: dramatiq.Broker) -> Callable[[list[tuple[str, int, int]]], list[bool]] | None:
    """For the outbox sweeper: which of these (queue, job id, send) copies still wait in their queue.
    None for a broker that cannot tell (the stub broker of the embedded default)."""
    if _broker_class is None or not isinstance(broker, _broker_class):
        return None
    namespace = broker.namespace  # type: ignore[attr-defined]
    script = broker.client.register_script(_PROBE)  # type: ignore[attr-defined]

    def probe(items: list[tuple[str, int, int]]) -> list[bool]:
        args: list[str] = [namespace]
        for queue, outbox_id, send in items:
            args += [queue, outbox_ref(outbox_id, send)]
        return [bool(flag) for flag in script(args=args)]

    return probe
