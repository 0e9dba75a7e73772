"""Queries of the periodic housekeeping: what has expired or been spent and may go, in bounded
batches, and the webhook deliveries that no open job will send any more."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import (
    AutomationRun,
    Event,
    IdempotencyKey,
    OneTimeToken,
    OutboxJob,
    UserSession,
    WebhookAttempt,
    WebhookDelivery,
)
from db.session import execute_rowcount
from domain.webhooks.enums import WebhookDeliveryStatus


async def delete_sessions_ended_before(session: AsyncSession, cutoff: datetime) -> int:
    """Sessions (their refresh tokens go with them) that expired or were revoked before `cutoff`."""
    return await execute_rowcount(
        session, delete(UserSession).where(or_(UserSession.expires_at < cutoff, UserSession.revoked_at < cutoff))
    )


async def delete_one_time_tokens_done_before(session: AsyncSession, cutoff: datetime) -> int:
    """One-time tokens that expired or were used before `cutoff`."""
    return await execute_rowcount(
        session, delete(OneTimeToken).where(or_(OneTimeToken.expires_at < cutoff, OneTimeToken.used_at < cutoff))
    )


async def delete_relayed_events_before(session: AsyncSession, cutoff: datetime, batch: int) -> int:
    """Up to `batch` of the oldest events created before `cutoff` that were relayed."""
    ids = (
        await session.scalars(
            select(Event.id)
            .where(Event.created_at < cutoff, Event.relayed_at.is_not(None))
            .order_by(Event.id)
            .limit(batch)
        )
    ).all()
    if not ids:
        return 0
    return await execute_rowcount(session, delete(Event).where(Event.id.in_(list(ids))))


async def delete_outbox_jobs_completed_before(session: AsyncSession, cutoff: datetime, batch: int) -> int:
    """Up to `batch` outbox jobs that finished before `cutoff`."""
    ids = (await session.scalars(select(OutboxJob.id).where(OutboxJob.completed_at < cutoff).limit(batch))).all()
    if not ids:
        return 0
    return await execute_rowcount(session, delete(OutboxJob).where(OutboxJob.id.in_(list(ids))))


async def delete_automation_runs_before(session: AsyncSession, cutoff: datetime, batch: int) -> int:
    """Up to `batch` of the oldest automation runs, those recorded before `cutoff` (the oldest by id,
    so each batch reads the primary key's start instead of scanning for old rows)."""
    oldest = (
        await session.execute(
            select(AutomationRun.id, AutomationRun.created_at).order_by(AutomationRun.id).limit(batch)
        )
    ).all()
    ids = [pk for pk, created_at in oldest if created_at < cutoff]
    if not ids:
        return 0
    return await execute_rowcount(session, delete(AutomationRun).where(AutomationRun.id.in_(ids)))


async def delete_idempotency_keys_expired_before(session: AsyncSession, now: datetime, batch: int) -> int:
    """Up to `batch` idempotency keys whose time ran out before `now`."""
    ids = (await session.scalars(select(IdempotencyKey.id).where(IdempotencyKey.expires_at < now).limit(batch))).all()
    if not ids:
        return 0
    return await execute_rowcount(session, delete(IdempotencyKey).where(IdempotencyKey.id.in_(list(ids))))


async def pending_deliveries_without_job(
    session: AsyncSession, *, created_before: datetime, deliver_actor: str, batch: int
) -> Sequence[tuple[int, int, datetime | None]]:
    """(id, attempt count, time of the last attempt) of pending webhook deliveries created before
    `created_before` for which no open outbox job of `deliver_actor` exists, oldest first."""
    last_attempt = (
        select(func.max(WebhookAttempt.created_at))
        .where(WebhookAttempt.delivery_id == WebhookDelivery.id)
        .scalar_subquery()
    )
    has_open_job = (
        select(OutboxJob.id)
        .where(
            OutboxJob.completed_at.is_(None),
            OutboxJob.actor_name == deliver_actor,
            OutboxJob.kwargs["delivery_id"].as_integer() == WebhookDelivery.id,
        )
        .exists()
    )
    rows = (
        await session.execute(
            select(WebhookDelivery.id, WebhookDelivery.attempt_count, last_attempt)
            .where(
                WebhookDelivery.status == WebhookDeliveryStatus.PENDING,
                WebhookDelivery.created_at < created_before,
                ~has_open_job,
            )
            .order_by(WebhookDelivery.id)
            .limit(batch)
        )
    ).all()
    return [(r[0], r[1], r[2]) for r in rows]


async def account_of_event(session: AsyncSession, event_id: int) -> int | None:
    return await session.scalar(select(Event.account_id).where(Event.id == event_id))


async def account_of_delivery(session: AsyncSession, delivery_id: int) -> int | None:
    return await session.scalar(select(WebhookDelivery.account_id).where(WebhookDelivery.id == delivery_id))
