"""Retention policies per account: an administrator keeps messages and/or files for N days; the
scheduler's pass applies them in batches, each batch its own transaction.

An expired message keeps its row (conversations, counts and reports stay) and loses its content,
attributes and files, as a deleted message does; an expired file (on a message or not) is deleted,
row now and stored object through a job after commit. Each batch is audited with its counts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import Account
from db.repositories import installation as installation_repo
from db.repositories import privacy as repo
from domain import attachments, audit
from domain.accounts.actor import Actor
from domain.audit import RequestMeta
from domain.errors import FieldError, ValidationError

MAX_DAYS = 36_500
BATCH = 500
_UNSET: Any = object()
_SCHEDULER = Actor(label="retention")


async def update_policy(
    session: AsyncSession,
    actor: Actor,
    *,
    message_days: int | None = _UNSET,
    attachment_days: int | None = _UNSET,
    meta: RequestMeta,
) -> Account:
    """Set (days) or lift (null) the account's retention of messages and of files; an omitted one stays."""
    errors: list[FieldError] = []
    for name, value in (("messageDays", message_days), ("attachmentDays", attachment_days)):
        if value is not _UNSET and value is not None and not 1 <= value <= MAX_DAYS:
            errors.append(FieldError(name, "OUT_OF_RANGE", f"Give a number of days from 1 to {MAX_DAYS:,}, or null."))
    if errors:
        raise ValidationError(errors)
    account = await installation_repo.account(session, actor.require_account_id(), lock=True)
    assert account is not None
    changes: dict[str, list[Any]] = {}
    if message_days is not _UNSET and message_days != account.retention_message_days:
        changes["messageDays"] = [account.retention_message_days, message_days]
        account.retention_message_days = message_days
    if attachment_days is not _UNSET and attachment_days != account.retention_attachment_days:
        changes["attachmentDays"] = [account.retention_attachment_days, attachment_days]
        account.retention_attachment_days = attachment_days
    if changes:
        audit.record(session, actor, "retention.update", "Account", account.id, changes, meta)
        await session.flush()
    return account


@dataclass
class Applied:
    messages: int = 0
    attachments: int = 0


async def apply_batch(session: AsyncSession, account: Account, now: datetime, batch: int = BATCH) -> Applied:
    """One batch of one account: up to `batch` expired files and `batch` expired messages."""
    done = Applied()
    if account.retention_attachment_days is not None:
        cutoff = now - timedelta(days=account.retention_attachment_days)
        done.attachments = await attachments.remove_rows(
            session, await repo.old_attachments(session, account.id, cutoff, batch)
        )
    if account.retention_message_days is not None:
        cutoff = now - timedelta(days=account.retention_message_days)
        ids = await repo.old_message_ids(session, account.id, cutoff, batch)
        if ids:
            done.attachments += await attachments.remove_for_messages(session, account.id, ids)
            done.messages = await repo.redact_messages(session, account.id, ids, now)
    if done.messages or done.attachments:
        audit.record(
            session,
            _SCHEDULER,
            "retention.apply",
            "Account",
            account.id,
            {"messages": done.messages, "attachments": done.attachments},
            account_id=account.id,
        )
    await session.flush()
    return done


async def apply_all(
    sessions: Callable[[], Any], unit: Callable[[], Any], *, now: datetime | None = None, batch: int = BATCH
) -> Applied:
    """The scheduler's pass: every account with a policy, batch after batch until nothing is due."""
    now = now or utcnow()
    async with sessions() as session:
        accounts = list(await repo.accounts_with_retention(session))
    total = Applied()
    for account in accounts:
        while True:
            async with unit() as session:
                done = await apply_batch(session, account, now, batch)
            total.messages += done.messages
            total.attachments += done.attachments
            if done.messages < batch and done.attachments < batch:
                break
    return total
