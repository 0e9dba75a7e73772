"""Background-job housekeeping: the dead-letter record of jobs that failed for good (what an
administrator sees and may retry), expired-token cleanup, event-log pruning and expired idempotency keys."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import DeadJob
from db.repositories import housekeeping
from db.repositories import webhooks as repo
from domain import audit
from domain.accounts.actor import Actor
from domain.audit import RequestMeta
from domain.errors import NotFound, ValidationError
from domain.events import outbox
from infra.settings import Settings

MAX_ERROR_MESSAGE = 500
MAX_KWARG_TEXT = 500
REDACTED = "[redacted]"
_SECRET_KEY = re.compile(r"secret|password|passwd|token|key|authorization|cookie|credential", re.IGNORECASE)
# Kwargs that the relay adds; a retry gets a fresh one.
_TRANSPORT_KWARGS = frozenset({"outbox_id"})


def redact(value: Any, key: str = "") -> tuple[Any, bool]:
    """A copy safe to store and show: secret-looking keys hidden, long text cut. Second item: whether
    anything was hidden (such a job cannot be retried from the record)."""
    if key and _SECRET_KEY.search(key):
        return REDACTED, True
    if isinstance(value, dict):
        hidden = False
        out = {}
        for k, v in value.items():
            out[k], h = redact(v, str(k))
            hidden = hidden or h
        return out, hidden
    if isinstance(value, list):
        items = [redact(v) for v in value[:100]]
        return [v for v, _ in items], any(h for _, h in items) or len(value) > 100
    if isinstance(value, str) and len(value) > MAX_KWARG_TEXT:
        return value[:MAX_KWARG_TEXT] + "…", True
    return value, False


def dead_job_row(
    *,
    account_id: int | None,
    actor_name: str,
    queue_name: str,
    message_id: str,
    kwargs: dict[str, Any],
    error: BaseException | None,
    attempts: int,
) -> DeadJob:
    safe, hidden = redact({k: v for k, v in kwargs.items() if k not in _TRANSPORT_KWARGS})
    message = str(error) if error is not None else ""
    return DeadJob(
        account_id=account_id,
        actor_name=actor_name[:100],
        queue_name=queue_name[:64],
        message_id=message_id[:64],
        kwargs=safe,
        redacted=hidden,
        error_class=(type(error).__qualname__ if error is not None else "Failed")[:255],
        error_message=message[:MAX_ERROR_MESSAGE],
        attempts=attempts,
        created_at=utcnow(),
    )


async def retry_dead_job(session: AsyncSession, actor: Actor, dead_job_id: int, meta: RequestMeta) -> DeadJob:
    """Queue the job again with the kwargs it had (through the outbox)."""
    row = await repo.dead_job_in_account(session, actor.require_account_id(), dead_job_id, lock=True)
    if row is None:
        raise NotFound("No such dead job")
    if row.redacted:
        raise ValidationError.single(
            None, "NOT_RETRYABLE", "Parts of this job were hidden when it was recorded; it cannot be retried."
        )
    if row.retried_at is not None:
        raise ValidationError.single(None, "ALREADY_RETRIED", "This job was retried already.")
    outbox.add_job(session, row.actor_name, **row.kwargs)
    row.retried_at = utcnow()
    audit.record(session, actor, "dead_job.retry", "DeadJob", row.id, {"actor": row.actor_name}, meta)
    await session.flush()
    return row


# --- periodic housekeeping ---------------------------------------------------------------------------


async def delete_expired_tokens(session: AsyncSession, *, grace: timedelta = timedelta(days=1)) -> int:
    """Sessions (with their refresh tokens) past their expiry or revoked, once `grace` has passed
    (access tokens of a revoked session expire sooner)."""
    return await housekeeping.delete_sessions_ended_before(session, utcnow() - grace)


async def delete_spent_one_time_tokens(session: AsyncSession, *, grace: timedelta = timedelta(days=1)) -> int:
    return await housekeeping.delete_one_time_tokens_done_before(session, utcnow() - grace)


async def prune_events(session: AsyncSession, *, days: int, batch: int = 5000) -> int:
    """Relayed events (and finished outbox jobs, and automation runs: their events are gone, so no
    retried job can need them to run a rule only once) older than `days`; never what still waits for
    relay or has still to run."""
    if days <= 0:
        return 0
    cutoff = utcnow() - timedelta(days=days)
    removed = await housekeeping.delete_relayed_events_before(session, cutoff, batch)
    removed += await housekeeping.delete_automation_runs_before(session, cutoff, batch)
    return removed + await housekeeping.delete_outbox_jobs_completed_before(session, cutoff, batch)


async def delete_expired_idempotency_keys(session: AsyncSession, *, batch: int = 5000) -> int:
    return await housekeeping.delete_idempotency_keys_expired_before(session, utcnow(), batch)


async def requeue_stuck_deliveries(
    session: AsyncSession, settings: Settings, *, grace: timedelta, batch: int = 200
) -> int:
    """Webhook deliveries still pending well past their next attempt that no open outbox job will
    send (their job dead-lettered, or was lost before jobs stayed open until done): queue them again."""
    from domain.webhooks.service import DELIVER_ACTOR, retry_delay

    now = utcnow()
    rows = await housekeeping.pending_deliveries_without_job(
        session, created_before=now - grace, deliver_actor=DELIVER_ACTOR, batch=batch
    )
    queued = 0
    for delivery_id, attempts, last in rows:
        due = now if not attempts or last is None else last + timedelta(seconds=retry_delay(settings, attempts))
        if due + grace <= now:
            outbox.add_job(session, DELIVER_ACTOR, delivery_id=delivery_id)
            queued += 1
    return queued


async def account_of(session: AsyncSession, kwargs: dict[str, Any]) -> int | None:
    """The account a job works for, where its kwargs tell: an account id, events, or a webhook delivery."""
    account_id = kwargs.get("account_id")
    if isinstance(account_id, int):
        return account_id
    event_ids = kwargs.get("event_ids")
    if isinstance(event_ids, list) and event_ids and isinstance(event_ids[0], int):
        return await housekeeping.account_of_event(session, event_ids[0])
    if isinstance(kwargs.get("delivery_id"), int):
        return await housekeeping.account_of_delivery(session, kwargs["delivery_id"])
    return None
