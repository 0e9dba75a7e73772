"""Dramatiq middleware: carry the request id of whoever enqueued a job into that job's log lines."""

from __future__ import annotations

import threading

import dramatiq

from parley.logs import request_id_var

_local = threading.local()


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

        from parley.logs import get_logger

        log = get_logger("parley.worker")
        log.warning("job.dead", actor=message.actor_name, message_id=message.message_id,
                    error=type(exception).__name__ if exception is not None else None)
        loop_thread = get_event_loop_thread()
        if loop_thread is None:
            return
        try:
            loop_thread.run_coroutine(_write_dead_job(message, exception))
        except Exception:  # noqa: BLE001 - the Redis dead-letter queue still holds the message
            log.exception("job.dead_record_failed", actor=message.actor_name, message_id=message.message_id)


async def _write_dead_job(message, exception) -> None:
    from domain import jobs
    from workers.runtime import resources

    kwargs = dict(message.kwargs or {})
    async with resources().sessions() as session:
        account_id = await jobs.account_of(session, kwargs)
        session.add(jobs.dead_job_row(
            account_id=account_id, actor_name=message.actor_name, queue_name=message.queue_name,
            message_id=message.message_id, kwargs=kwargs, error=exception,
            attempts=int(message.options.get("retries", 0)) or 1,
        ))
        await session.commit()
