"""Queries of webhooks, their deliveries and attempts, and dead jobs. Everything a member reaches is
filtered by the acting account, so an id from another account is simply not found."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import DeadJob, Event, Webhook, WebhookAttempt, WebhookDelivery
from db.session import dialect_name

MAX_WEBHOOKS = 50


async def webhook_in_account(
    session: AsyncSession, account_id: int, webhook_id: int, *, lock: bool = False
) -> Webhook | None:
    # A bot's webhook is the bot's business (domain/accounts/bots.py), never an account webhook.
    stmt = select(Webhook).where(Webhook.id == webhook_id, Webhook.account_id == account_id, Webhook.bot_id.is_(None))
    if lock:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)


async def count_webhooks(session: AsyncSession, account_id: int) -> int:
    """The account's own webhooks (API inboxes' callbacks and bots' URLs do not count against the limit)."""
    stmt = (
        select(func.count())
        .select_from(Webhook)
        .where(Webhook.account_id == account_id, Webhook.inbox_callback.is_(False), Webhook.bot_id.is_(None))
    )
    return await session.scalar(stmt) or 0


async def inbox_callback_of(session: AsyncSession, account_id: int, inbox_id: int) -> Webhook | None:
    """The webhook that carries an API inbox's callback URL, if it has one."""
    stmt = (
        select(Webhook)
        .where(Webhook.account_id == account_id, Webhook.inbox_id == inbox_id, Webhook.inbox_callback.is_(True))
        .order_by(Webhook.id)
        .limit(1)
        .with_for_update()
    )
    return await session.scalar(stmt)


async def bot_webhook_of(session: AsyncSession, account_id: int, bot_id: int) -> Webhook | None:
    """The webhook that carries an agent bot's outgoing URL, if it has one."""
    stmt = (
        select(Webhook)
        .where(Webhook.account_id == account_id, Webhook.bot_id == bot_id)
        .order_by(Webhook.id)
        .limit(1)
        .with_for_update()
    )
    return await session.scalar(stmt)


async def webhooks_page(session: AsyncSession, account_id: int, after: int | None, limit: int) -> Sequence[Webhook]:
    stmt = select(Webhook).where(Webhook.account_id == account_id, Webhook.bot_id.is_(None))
    if after is not None:
        stmt = stmt.where(Webhook.id > after)
    return (await session.scalars(stmt.order_by(Webhook.id).limit(limit + 1))).all()


async def subscribed_webhooks(session: AsyncSession, account_ids: Sequence[int]) -> Sequence[Webhook]:
    """The enabled webhooks of these accounts (the caller matches event names and inbox filters)."""
    stmt = (
        select(Webhook).where(Webhook.account_id.in_(list(account_ids)), Webhook.enabled.is_(True)).order_by(Webhook.id)
    )
    return (await session.scalars(stmt)).all()


async def any_enabled_webhook_for_events(session: AsyncSession, event_ids: Sequence[int]) -> bool:
    stmt = (
        select(Webhook.id)
        .join(Event, Event.account_id == Webhook.account_id)
        .where(Event.id.in_(list(event_ids)), Webhook.enabled.is_(True))
        .limit(1)
    )
    return await session.scalar(stmt) is not None


async def insert_deliveries(session: AsyncSession, rows: list[dict[str, Any]]) -> list[int]:
    """Insert deliveries, skipping (webhook, event) pairs that exist; returns the new rows' ids."""
    if not rows:
        return []
    dialect = dialect_name(session)
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(WebhookDelivery)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["webhook_id", "event_id"])
        .returning(WebhookDelivery.id)
    )
    return list((await session.scalars(stmt)).all())


async def delivery_in_account(session: AsyncSession, account_id: int, delivery_id: int) -> WebhookDelivery | None:
    return await session.scalar(
        select(WebhookDelivery).where(WebhookDelivery.id == delivery_id, WebhookDelivery.account_id == account_id)
    )


async def attempt_in_account(session: AsyncSession, account_id: int, attempt_id: int) -> WebhookAttempt | None:
    return await session.scalar(
        select(WebhookAttempt).where(WebhookAttempt.id == attempt_id, WebhookAttempt.account_id == account_id)
    )


async def deliveries_page(
    session: AsyncSession, account_id: int, webhook_id: int, before: int | None, limit: int
) -> Sequence[WebhookDelivery]:
    """Newest first."""
    stmt = select(WebhookDelivery).where(
        WebhookDelivery.account_id == account_id, WebhookDelivery.webhook_id == webhook_id
    )
    if before is not None:
        stmt = stmt.where(WebhookDelivery.id < before)
    return (await session.scalars(stmt.order_by(WebhookDelivery.id.desc()).limit(limit + 1))).all()


async def attempts_page(
    session: AsyncSession, account_id: int, webhook_id: int, before: int | None, limit: int
) -> Sequence[WebhookAttempt]:
    """Newest first."""
    stmt = select(WebhookAttempt).where(
        WebhookAttempt.account_id == account_id, WebhookAttempt.webhook_id == webhook_id
    )
    if before is not None:
        stmt = stmt.where(WebhookAttempt.id < before)
    return (await session.scalars(stmt.order_by(WebhookAttempt.id.desc()).limit(limit + 1))).all()


async def count_attempts(session: AsyncSession, delivery_id: int) -> int:
    return (
        await session.scalar(
            select(func.count()).select_from(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery_id)
        )
        or 0
    )


async def dead_jobs_page(session: AsyncSession, account_id: int, before: int | None, limit: int) -> Sequence[DeadJob]:
    stmt = select(DeadJob).where(DeadJob.account_id == account_id)
    if before is not None:
        stmt = stmt.where(DeadJob.id < before)
    return (await session.scalars(stmt.order_by(DeadJob.id.desc()).limit(limit + 1))).all()


async def dead_job_in_account(
    session: AsyncSession, account_id: int, dead_job_id: int, *, lock: bool = False
) -> DeadJob | None:
    stmt = select(DeadJob).where(DeadJob.id == dead_job_id, DeadJob.account_id == account_id)
    if lock:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)
