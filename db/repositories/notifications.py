"""Queries of notifications and notification settings. A user's notifications are scoped in one
predicate: their own, in the current account, shown in the app, and about a conversation they may
still see (an agent removed from an inbox no longer reads what it told them)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from db.models import AccountMembership, Conversation, ConversationParticipant, CustomRole, Event, InboxMember
from db.models.notifications import Notification, NotificationSetting
from db.repositories.helpdesk import visible_conversations
from db.session import dialect_name, execute_rowcount
from domain.accounts.actor import Actor, ActorKind, effective_permissions
from domain.events.enums import EventType


def mine(actor: Actor) -> ColumnElement[bool]:
    return and_(
        Notification.account_id == actor.account_id,
        Notification.user_id == actor.user_id,
        Notification.in_app.is_(True),
        Notification.conversation_id.in_(select(Conversation.id).where(visible_conversations(actor))),
    )


async def page(
    session: AsyncSession, actor: Actor, *, unread_only: bool, before_id: int | None, limit: int
) -> Sequence[Notification]:
    stmt = select(Notification).where(mine(actor))
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    if before_id is not None:
        stmt = stmt.where(Notification.id < before_id)
    return (await session.scalars(stmt.order_by(Notification.id.desc()).limit(limit))).all()


async def unread_count(session: AsyncSession, actor: Actor) -> int:
    return await session.scalar(select(func.count()).where(mine(actor), Notification.read_at.is_(None))) or 0


async def of_actor_by_ids(
    session: AsyncSession, actor: Actor, ids: Sequence[int], *, lock: bool = False
) -> list[Notification]:
    stmt = select(Notification).where(mine(actor), Notification.id.in_(list(ids))).order_by(Notification.id.desc())
    if lock:
        stmt = stmt.with_for_update()
    return list((await session.scalars(stmt)).all())


async def mark_read(session: AsyncSession, actor: Actor, ids: Sequence[int] | None, now: datetime) -> int:
    stmt = update(Notification).where(mine(actor), Notification.read_at.is_(None))
    if ids is not None:
        stmt = stmt.where(Notification.id.in_(list(ids)))
    return await execute_rowcount(session, stmt.values(read_at=now).execution_options(synchronize_session=False))


async def delete_by_id(session: AsyncSession, actor: Actor, notification_id: int) -> None:
    await session.execute(
        delete(Notification)
        .where(mine(actor), Notification.id == notification_id)
        .execution_options(synchronize_session=False)
    )


async def setting_of(
    session: AsyncSession, account_id: int, user_id: int, *, lock: bool = False
) -> NotificationSetting | None:
    stmt = select(NotificationSetting).where(
        NotificationSetting.account_id == account_id, NotificationSetting.user_id == user_id
    )
    if lock:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)


async def settings_of(
    session: AsyncSession, account_id: int, user_ids: Sequence[int]
) -> dict[int, NotificationSetting]:
    rows = await session.scalars(
        select(NotificationSetting).where(
            NotificationSetting.account_id == account_id, NotificationSetting.user_id.in_(list(user_ids))
        )
    )
    return {r.user_id: r for r in rows}


async def member_actors(session: AsyncSession, account_id: int, user_ids: Sequence[int]) -> dict[int, Actor]:
    """The actor each of these users is in the account (role and custom-role permissions), for
    deciding what they may see; users who are not members are left out."""
    if not user_ids:
        return {}
    rows = await session.execute(
        select(AccountMembership, CustomRole.permissions)
        .outerjoin(CustomRole, CustomRole.id == AccountMembership.custom_role_id)
        .where(AccountMembership.account_id == account_id, AccountMembership.user_id.in_(list(user_ids)))
    )
    return {
        m.user_id: Actor(
            kind=ActorKind.user,
            user_id=m.user_id,
            account_id=account_id,
            role=m.role,
            custom_role_id=m.custom_role_id,
            permissions=effective_permissions(m.role, perms),
            label=f"user:{m.user_id}",
        )
        for m, perms in rows
    }


async def can_see(session: AsyncSession, actor: Actor, conversation_id: int) -> bool:
    return bool(
        await session.scalar(
            select(func.count())
            .select_from(Conversation)
            .where(Conversation.id == conversation_id, visible_conversations(actor))
        )
    )


async def inbox_member_ids(session: AsyncSession, inbox_id: int) -> list[int]:
    return list(
        (
            await session.scalars(
                select(InboxMember.user_id).where(InboxMember.inbox_id == inbox_id).order_by(InboxMember.user_id)
            )
        ).all()
    )


async def assignee_before(session: AsyncSession, conversation_id: int, event_id: int) -> int | None:
    """Who the conversation was assigned to when this event happened, from the event log (writers of a
    conversation hold its row lock, so its events' ids follow their commit order)."""
    payload = await session.scalar(
        select(Event.payload)
        .where(Event.conversation_id == conversation_id, Event.type == EventType.ASSIGNEE_CHANGED, Event.id < event_id)
        .order_by(Event.id.desc())
        .limit(1)
    )
    change = ((payload or {}).get("changed_attributes") or {}).get("assignee_id") or [None, None]
    return int(change[1]) if change[1] is not None else None


async def participant_ids_at(session: AsyncSession, conversation_id: int, when: datetime) -> list[int]:
    return list(
        (
            await session.scalars(
                select(ConversationParticipant.user_id)
                .where(
                    ConversationParticipant.conversation_id == conversation_id,
                    ConversationParticipant.created_at <= when,
                )
                .order_by(ConversationParticipant.user_id)
            )
        ).all()
    )


async def insert_new(session: AsyncSession, rows: list[dict[str, Any]]) -> list[tuple[int, int, bool]]:
    """Insert notifications, skipping any that exist for the same (user, event, type); returns the
    (id, user_id, in_app) of the rows actually inserted."""
    if not rows:
        return []
    insert = postgresql.insert if dialect_name(session) == "postgresql" else sqlite.insert
    stmt = (
        insert(Notification)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["user_id", "event_id", "notification_type"])
        .returning(Notification.id, Notification.user_id, Notification.in_app)
    )
    return [(r[0], r[1], r[2]) for r in (await session.execute(stmt)).all()]


async def due_email_groups(session: AsyncSession, now: datetime, limit: int) -> list[tuple[int, int, int]]:
    """(account, user, conversation) groups whose oldest pending email is due."""
    rows = await session.execute(
        select(Notification.account_id, Notification.user_id, Notification.conversation_id)
        .where(
            Notification.email_done_at.is_(None),
            Notification.email_due_at.is_not(None),
            Notification.email_due_at <= now,
        )
        .group_by(Notification.account_id, Notification.user_id, Notification.conversation_id)
        .order_by(func.min(Notification.email_due_at))
        .limit(limit)
    )
    return [(r[0], r[1], r[2]) for r in rows.all()]


async def lock_pending_emails(session: AsyncSession, user_id: int, conversation_id: int) -> list[Notification]:
    """The group's pending email notifications, locked; rows another sweeper holds are skipped."""
    stmt = (
        select(Notification)
        .where(
            Notification.user_id == user_id,
            Notification.conversation_id == conversation_id,
            Notification.email_done_at.is_(None),
            Notification.email_due_at.is_not(None),
        )
        .order_by(Notification.id)
    )
    if dialect_name(session) == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return list((await session.scalars(stmt)).all())


async def give_up_emails(session: AsyncSession, user_id: int, conversation_id: int, now: datetime) -> None:
    await session.execute(
        update(Notification)
        .where(
            Notification.user_id == user_id,
            Notification.conversation_id == conversation_id,
            Notification.email_done_at.is_(None),
            Notification.email_due_at.is_not(None),
        )
        .values(email_done_at=now)
        .execution_options(synchronize_session=False)
    )


async def administrator_ids(session: AsyncSession, account_id: int) -> list[int]:
    from domain.enums import Role

    return list(
        (
            await session.scalars(
                select(AccountMembership.user_id)
                .where(AccountMembership.account_id == account_id, AccountMembership.role == Role.ADMINISTRATOR)
                .order_by(AccountMembership.user_id)
            )
        ).all()
    )
