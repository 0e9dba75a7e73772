"""Agents' notifications as their owner sees them, as in Chatwoot: settings per type and channel
(in the app, by email), the list with its unread count, marking read and deleting. The
notifications themselves are made by `fanout` and emailed by `digests`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models.notifications import Notification, NotificationSetting
from db.repositories import notifications as repo
from domain.accounts.actor import Actor
from domain.errors import NotFound, ValidationError
from domain.notification_types import NotificationType as T

MAX_IDS = 100
KEEP: Any = object()

# Chatwoot's defaults: in the app everything but new conversations (Chatwoot creates those only for
# users subscribed to them); by email only assignments.
DEFAULT_IN_APP = frozenset(
    {
        T.CONVERSATION_ASSIGNMENT,
        T.CONVERSATION_MENTION,
        T.ASSIGNED_CONVERSATION_NEW_MESSAGE,
        T.PARTICIPATING_CONVERSATION_NEW_MESSAGE,
        T.SLA_MISSED_FIRST_RESPONSE,
        T.SLA_MISSED_NEXT_RESPONSE,
        T.SLA_MISSED_RESOLUTION,
        T.SLA_WARNING,
    }
)
DEFAULT_EMAIL = frozenset({T.CONVERSATION_ASSIGNMENT})


@dataclass(frozen=True)
class Preferences:
    in_app: frozenset[T]
    email: frozenset[T]

    def wants(self, kind: T) -> tuple[bool, bool]:
        return kind in self.in_app, kind in self.email


DEFAULTS = Preferences(DEFAULT_IN_APP, DEFAULT_EMAIL)


def preferences_of(row: NotificationSetting | None) -> Preferences:
    """A user's stored settings, or Chatwoot's defaults when they never changed any."""
    if row is None:
        return DEFAULTS
    known = {t.value for t in T}
    return Preferences(
        frozenset(T(v) for v in row.in_app_types if v in known), frozenset(T(v) for v in row.email_types if v in known)
    )


# --- settings --------------------------------------------------------------------------------------


async def preferences(session: AsyncSession, actor: Actor) -> Preferences:
    return preferences_of(await repo.setting_of(session, actor.require_account_id(), actor.require_user_id()))


@dataclass
class SettingChange:
    type: T
    in_app: Any = KEEP  # KEEP, or a bool
    email: Any = KEEP


async def update_preferences(session: AsyncSession, actor: Actor, changes: Sequence[SettingChange]) -> Preferences:
    if len(changes) > len(T):
        raise ValidationError.single("settings", "TOO_MANY", f"At most {len(T)} settings, one per type.")
    seen: set[T] = set()
    for i, change in enumerate(changes):
        if change.type in seen:
            raise ValidationError.single(f"settings.{i}.type", "DUPLICATE", "Give each notification type once.")
        seen.add(change.type)
        for name in ("in_app", "email"):
            value = getattr(change, name)
            if value is not KEEP and not isinstance(value, bool):
                field = "inApp" if name == "in_app" else "email"
                raise ValidationError.single(
                    f"settings.{i}.{field}", "INVALID", "Give true or false, or leave the field out."
                )
    row = await repo.setting_of(session, actor.require_account_id(), actor.require_user_id(), lock=True)
    current = preferences_of(row)
    in_app, email = set(current.in_app), set(current.email)
    for change in changes:
        for chosen, value in ((in_app, change.in_app), (email, change.email)):
            if value is True:
                chosen.add(change.type)
            elif value is False:
                chosen.discard(change.type)
    if row is None:
        row = NotificationSetting(account_id=actor.account_id, user_id=actor.user_id)
        session.add(row)
    order = list(T)
    row.in_app_types = [t.value for t in order if t in in_app]
    row.email_types = [t.value for t in order if t in email]
    row.updated_at = utcnow()
    await session.flush()
    return preferences_of(row)


# --- reading and marking ---------------------------------------------------------------------------


async def page(
    session: AsyncSession, actor: Actor, *, unread_only: bool, before_id: int | None, limit: int
) -> Sequence[Notification]:
    return await repo.page(session, actor, unread_only=unread_only, before_id=before_id, limit=limit)


async def unread_count(session: AsyncSession, actor: Actor) -> int:
    return await repo.unread_count(session, actor)


def _check_ids(ids: Sequence[int]) -> list[int]:
    if not ids:
        raise ValidationError.single("ids", "REQUIRED", "Give at least one notification.")
    if len(ids) > MAX_IDS:
        raise ValidationError.single("ids", "TOO_MANY", f"At most {MAX_IDS} notifications at once.")
    return sorted(set(ids))


async def mark_read(
    session: AsyncSession, actor: Actor, ids: Sequence[int], now: datetime | None = None
) -> list[Notification]:
    """Mark these notifications read (those already read keep their time). All of them must be the
    caller's, or nothing changes."""
    wanted = _check_ids(ids)
    found = await repo.of_actor_by_ids(session, actor, wanted, lock=True)
    if len(found) != len(wanted):
        raise ValidationError.single("ids", "NOT_FOUND", "No such notification.")
    now = now or utcnow()
    for row in found:
        if row.read_at is None:
            row.read_at = now
    await session.flush()
    return found


async def mark_all_read(session: AsyncSession, actor: Actor, now: datetime | None = None) -> int:
    count = await repo.mark_read(session, actor, None, now or utcnow())
    await session.flush()
    return count


async def delete(session: AsyncSession, actor: Actor, notification_id: int) -> Notification:
    found = await repo.of_actor_by_ids(session, actor, [notification_id], lock=True)
    if not found:
        raise NotFound("No such notification")
    await repo.delete_by_id(session, actor, notification_id)
    return found[0]
