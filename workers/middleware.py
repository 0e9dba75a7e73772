"""Dramatiq middleware: carry the request id of whoever enqueued a job into that job's log lines;
record jobs that failed for good; keep each outbox job's row open until its actor has finished."""

from __future__ import annotations

import contextvars
import threading
import time
from dataclasses import dataclass

import dramatiq
from dramatiq.middleware import SkipMessage

from infra import metrics, traces
from infra.logs import request_id_var

_local = threading.local()


@dataclass
class Claim:
    """The outbox job the current message runs for; `completed` once its transaction marked it done.
    An actor may instead hand the job off (it finishes later, off the job thread: the row stays open
    and its lease renewed until `OutboxMiddleware.finish`), or defer it (left open, leased for
    `defer_seconds`, for the sweeper to send again)."""

    outbox_id: int
    completed: bool = False
    handed_off: bool = False
    defer_seconds: float | None = None
    owner: OutboxMiddleware | None = None


# Set on the worker thread before the actor runs; async actors run in a context copied from it.
current_claim: contextvars.ContextVar[Claim | None] = contextvars.ContextVar("outbox_claim", default=None)


class RequestIdMiddleware(dramatiq.Middleware):
    def before_enqueue(self, broker, message, delay):
        rid = request_id_var.get()
        if rid and "request_id" not in message.options:
            message.options["request_id"] = rid

    def before_process_message(self, broker, message):
        # Async actors run on the loop thread, but their task is created in a context copied from
        # this worker thread, so the value set here reaches them.
        _local.token = request_id_var.set(message.options.get("request_id"))

    def after_process_message(self, broker, message, *, result=None, exception=None):
        token = getattr(_local, "token", None)
        _local.token = None
        if token is not None:
            request_id_var.reset(token)

    after_skip_message = after_process_message


class TracingMiddleware(dramatiq.Middleware):
    """While tracing is on (infra/traces.py): a job is sent with the `traceparent` of whoever sent it
    (a job from the outbox carries the one its row was written with), and runs in a span that
    continues that trace, so whatever the actor does (SQL, Redis, the jobs and webhooks it causes)
    belongs to the trace of the request that caused it. Off, each hook is one check."""

    def before_enqueue(self, broker, message, delay):
        if "traceparent" not in message.options:
            traceparent = traces.current_traceparent()
            if traceparent is not None:
                message.options["traceparent"] = traceparent

    def before_process_message(self, broker, message):
        _local.job_span = None
        if traces.enabled():
            _local.job_span = traces.JobSpan(
                f"job {message.actor_name}",
                message.options.get("traceparent"),
                **{
                    "messaging.system": "dramatiq",
                    "messaging.destination.name": message.queue_name,
                    "messaging.message.id": message.message_id,
                    "parley.actor": message.actor_name,
                    "parley.outbox_id": _outbox_id(message),
                    traces.REQUEST_ID_ATTRIBUTE: message.options.get("request_id"),
                },
            )

    def after_process_message(self, broker, message, *, result=None, exception=None):
        job_span = getattr(_local, "job_span", None)
        _local.job_span = None
        if job_span is not None:
            job_span.end(exception)

    def after_skip_message(self, broker, message):
        self.after_process_message(broker, message)


class MetricsMiddleware(dramatiq.Middleware):
    """Runs, failures and run time per actor (infra/metrics.py); a skipped copy counts as skipped."""

    def __init__(self) -> None:
        self._started: dict[str, float] = {}

    def before_process_message(self, broker, message):
        self._started[message.message_id] = time.perf_counter()

    def after_process_message(self, broker, message, *, result=None, exception=None):
        started = self._started.pop(message.message_id, None)
        metrics.job_runs_total.labels(message.actor_name, "failed" if exception is not None else "ok").inc()
        if started is not None:
            metrics.job_seconds.labels(message.actor_name).observe(time.perf_counter() - started)

    def after_skip_message(self, broker, message):
        self._started.pop(message.message_id, None)
        metrics.job_runs_total.labels(message.actor_name, "skipped").inc()


class DeadLetterMiddleware(dramatiq.Middleware):
    """When a job fails for good (retries exhausted, or an error it must not retry), write a
    `dead_jobs` row an administrator of its account can see and retry. Listed before Retries in the
    broker's middleware: "after" hooks run in reverse order, so Retries has decided by then."""

    def after_process_message(self, broker, message, *, result=None, exception=None):
        if exception is not None and message.failed:
            self._record(message, exception)

    def after_skip_message(self, broker, message):
        if message.failed:
            self._record(message, None)

    def _record(self, message, exception) -> None:
        from dramatiq.asyncio import get_event_loop_thread

        from infra.logs import get_logger

        log = get_logger("parley.worker")
        log.warning(
            "job.dead",
            actor=message.actor_name,
            message_id=message.message_id,
            error=type(exception).__name__ if exception is not None else None,
        )
        loop_thread = get_event_loop_thread()
        if loop_thread is None:
            return
        try:
            loop_thread.run_coroutine(_write_dead_job(message, exception))
        except Exception:  # the Redis dead-letter queue still holds the message
            log.exception("job.dead_record_failed", actor=message.actor_name, message_id=message.message_id)


async def _write_dead_job(message, exception) -> None:
    from domain import jobs
    from workers.runtime import resources

    kwargs = dict(message.kwargs or {})
    async with resources().sessions() as session:
        account_id = await jobs.account_of(session, kwargs)
        session.add(
            jobs.dead_job_row(
                account_id=account_id,
                actor_name=message.actor_name,
                queue_name=message.queue_name,
                message_id=message.message_id,
                kwargs=kwargs,
                error=exception,
                attempts=int(message.options.get("retries", 0)) or 1,
            )
        )
        await session.commit()


def _outbox_id(message) -> int | None:
    value = (message.kwargs or {}).get("outbox_id")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class OutboxMiddleware(dramatiq.Middleware):
    """The outbox row of a job, not the broker, says whether the job still has to run.

    Before the actor runs, the row is claimed (its lease renewed); a job already finished (a copy
    sent again by the sweeper, or one that Dramatiq requeued) is skipped. While it runs, a thread
    renews the leases of this process's running jobs, so a job of a worker that died is sent again
    within one lease. When the actor finishes, or the job fails for good, the row is closed; a job
    that will be retried keeps its row open, leased until its retry is due. Listed before Retries:
    "after" hooks run in reverse order, so Retries has decided by then."""

    def __init__(self, lease_seconds: float) -> None:
        self.lease_seconds = lease_seconds
        self._running: dict[int, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    # --- the lease renewer -------------------------------------------------------------------------

    def after_worker_boot(self, broker, worker):
        if self._renewer is None or not self._renewer.is_alive():
            self._stop.clear()
            self._renewer = threading.Thread(target=self._renew_loop, name="outbox-lease-renewer", daemon=True)
            self._renewer.start()

    def before_worker_shutdown(self, broker, worker):
        self._stop.set()

    def _renew_loop(self) -> None:
        from infra.logs import get_logger

        while not self._stop.wait(self.lease_seconds / 3):
            with self._lock:
                ids = list(self._running)
            if not ids:
                continue
            try:
                self._run(_renew(ids, self.lease_seconds))
            except Exception:  # noqa: BLE001 - the next round tries again; a lapsed lease only duplicates
                get_logger("parley.worker").warning("outbox.renew_failed", jobs=len(ids), exc_info=True)

    @staticmethod
    def _run(coro):
        from dramatiq.asyncio import get_event_loop_thread

        loop_thread = get_event_loop_thread()
        if loop_thread is None:
            coro.close()
            return None
        return loop_thread.run_coroutine(coro)

    # --- one message ---------------------------------------------------------------------------------

    def before_enqueue(self, broker, message, delay):
        # Retries sends the retry (with its delay) from its "after" hook, before ours runs.
        if delay and _outbox_id(message) is not None:
            _local.retry_delay_ms = delay

    def before_process_message(self, broker, message):
        outbox_id = _outbox_id(message)
        _local.claim_token = None
        _local.retry_delay_ms = None
        if outbox_id is None:
            return
        try:
            still_open = self._run(_claim(outbox_id, self.lease_seconds))
        except Exception:  # noqa: BLE001 - run it anyway: actors are idempotent
            from infra.logs import get_logger

            get_logger("parley.worker").warning("outbox.claim_failed", outbox_id=outbox_id, exc_info=True)
            still_open = True
        if still_open is False:
            from infra.logs import get_logger

            get_logger("parley.worker").info("outbox.skipped_finished", outbox_id=outbox_id, actor=message.actor_name)
            raise SkipMessage(f"outbox job {outbox_id} is finished already")
        with self._lock:
            self._running[outbox_id] = self._running.get(outbox_id, 0) + 1
        claim = Claim(outbox_id, owner=self)
        _local.claim = claim
        _local.claim_token = current_claim.set(claim)

    def after_process_message(self, broker, message, *, result=None, exception=None):
        outbox_id = _outbox_id(message)
        claim = self._release()
        if outbox_id is None or claim is None:
            return
        delay_ms = getattr(_local, "retry_delay_ms", None)
        _local.retry_delay_ms = None
        if exception is None and (claim.completed or claim.handed_off):
            return
        try:
            if exception is None and claim.defer_seconds is not None:
                self._run(_renew([outbox_id], claim.defer_seconds))
            elif exception is None or message.failed:
                self._run(_complete(outbox_id, dead=exception is not None))
            else:
                # Retried: keep the row open until a lease after the retry is due.
                self._run(_renew([outbox_id], self.lease_seconds + (delay_ms or 0) / 1000))
        except Exception:  # noqa: BLE001 - the row stays open; the sweeper sends it again, harmlessly
            from infra.logs import get_logger

            get_logger("parley.worker").warning("outbox.complete_failed", outbox_id=outbox_id, exc_info=True)

    def after_skip_message(self, broker, message):
        outbox_id = _outbox_id(message)
        self._release()
        if outbox_id is not None and message.failed:  # skipped for good (an age limit)
            try:
                self._run(_complete(outbox_id, dead=True))
            except Exception:  # noqa: BLE001
                pass

    def _release(self) -> Claim | None:
        token = getattr(_local, "claim_token", None)
        claim = getattr(_local, "claim", None) if token is not None else None
        _local.claim_token = None
        _local.claim = None
        if token is None:
            return None
        current_claim.reset(token)
        if not claim.handed_off:
            self.finish(claim.outbox_id)
        return claim

    def finish(self, outbox_id: int) -> None:
        """Stop renewing a job's lease (its actor returned, or the work it handed off ended)."""
        with self._lock:
            left = self._running.get(outbox_id, 0) - 1
            if left > 0:
                self._running[outbox_id] = left
            else:
                self._running.pop(outbox_id, None)


async def _claim(outbox_id: int, lease_seconds: float) -> bool:
    from domain.events import outbox
    from workers.runtime import resources

    async with resources().sessions() as session, session.begin():
        return await outbox.claim(session, outbox_id, lease_seconds=lease_seconds)


async def _renew(ids: list[int], lease_seconds: float) -> None:
    from domain.events import outbox
    from workers.runtime import resources

    async with resources().sessions() as session, session.begin():
        await outbox.renew(session, ids, lease_seconds=lease_seconds)


async def _complete(outbox_id: int, *, dead: bool) -> None:
    from domain.events import outbox
    from workers.runtime import resources

    async with resources().sessions() as session, session.begin():
        await outbox.complete(session, outbox_id, dead=dead)
