"""Per-request DataLoaders (`<model>_by_<key>`). They load rows for objects reached through an
already-authorized parent; results come back in key order, None (or empty) for a miss. One SQL
statement per loader per request, however many parents ask."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import and_, func, select
from strawberry.dataloader import DataLoader

from db.models import (
    Account,
    Bot,
    Contact,
    ContactLabel,
    ContactNote,
    Conversation,
    ConversationLabel,
    CustomRole,
    Inbox,
    InboxMember,
    Label,
    Message,
    Team,
    User,
)
from db.models.notifications import Notification
from db.models.sla import AppliedSla, SlaPolicy
from domain.enums import MessageType


class Loaders:
    def __init__(self, db: Callable[[], Any]) -> None:
        self._db = db
        self.user_by_id = DataLoader(self._by_pk(User))
        self.notification_by_id = DataLoader(self._by_pk(Notification))
        self.account_by_id = DataLoader(self._by_pk(Account))
        self.custom_role_by_id = DataLoader(self._by_pk(CustomRole))
        self.bot_by_id = DataLoader(self._by_pk(Bot))
        self.inbox_by_id = DataLoader(self._by_pk(Inbox))
        self.inboxes_by_bot = DataLoader(self._inboxes_by_bot)
        self.contact_by_id = DataLoader(self._by_pk(Contact))
        self.team_by_id = DataLoader(self._by_pk(Team))
        self.label_by_id = DataLoader(self._by_pk(Label))
        self.webhook_delivery_by_id = DataLoader(self._webhook_delivery_by_id)
        self.webhook_attempts_by_delivery = DataLoader(self._webhook_attempts_by_delivery)
        self.conversation_by_id = DataLoader(self._by_pk(Conversation))
        self.message_by_id = DataLoader(self._by_pk(Message))
        self.labels_by_conversation = DataLoader(self._labels_by_conversation)
        self.labels_by_contact = DataLoader(self._labels_by_contact)
        self.notes_by_contact = DataLoader(self._notes_by_contact)
        self.last_message_by_conversation = DataLoader(self._last_message_by_conversation)
        self.unread_count_by_conversation = DataLoader(self._unread_count_by_conversation)
        self.inbox_members = DataLoader(self._inbox_members)
        self.team_members_by_team_id = DataLoader(self._team_members_by_team_id)
        self.attachments_by_message = DataLoader(self._attachments_by_message)
        self.sla_policy_by_id = DataLoader(self._by_pk(SlaPolicy))
        self.applied_sla_by_conversation = DataLoader(self._applied_sla_by_conversation)

    def _by_pk(self, model) -> Callable[[Sequence[int]], Awaitable[list[Any]]]:
        async def load(keys: Sequence[int]) -> list[Any]:
            async with self._db() as session:
                rows = await session.scalars(select(model).where(model.id.in_(list(keys))))
                found = {r.id: r for r in rows}
            return [found.get(k) for k in keys]

        return load

    async def _inboxes_by_bot(self, keys: Sequence[int]) -> list[list[Inbox]]:
        async with self._db() as session:
            rows = await session.scalars(select(Inbox).where(Inbox.bot_id.in_(list(keys))).order_by(Inbox.id))
            grouped: dict[int, list[Inbox]] = defaultdict(list)
            for inbox in rows:
                grouped[inbox.bot_id].append(inbox)
        return [grouped.get(k, []) for k in keys]

    async def _applied_sla_by_conversation(self, keys: Sequence[int]) -> list[AppliedSla | None]:
        async with self._db() as session:
            rows = await session.scalars(select(AppliedSla).where(AppliedSla.conversation_id.in_(list(keys))))
            found = {r.conversation_id: r for r in rows}
        return [found.get(k) for k in keys]

    async def _labels_by_contact(self, keys: Sequence[int]) -> list[list[Label]]:
        return await self._labels_through(ContactLabel.contact_id, ContactLabel.label_id, keys)

    async def _notes_by_contact(self, keys: Sequence[tuple[int, int]]) -> list[list[ContactNote]]:
        """Keys are (contact id, how many): each contact's newest notes, in one statement."""
        limit = max(n for _, n in keys)
        ranked = (
            select(
                ContactNote.id.label("id"),
                func.row_number()
                .over(partition_by=ContactNote.contact_id, order_by=ContactNote.id.desc())
                .label("position"),
            )
            .where(ContactNote.contact_id.in_({c for c, _ in keys}))
            .subquery()
        )
        async with self._db() as session:
            rows = await session.scalars(
                select(ContactNote)
                .join(ranked, ranked.c.id == ContactNote.id)
                .where(ranked.c.position <= limit)
                .order_by(ContactNote.id.desc())
            )
            grouped: dict[int, list[ContactNote]] = defaultdict(list)
            for note in rows:
                grouped[note.contact_id].append(note)
        return [grouped.get(c, [])[:n] for c, n in keys]

    async def _labels_by_conversation(self, keys: Sequence[int]) -> list[list[Label]]:
        return await self._labels_through(ConversationLabel.conversation_id, ConversationLabel.label_id, keys)

    async def _labels_through(self, owner: Any, label_id: Any, keys: Sequence[int]) -> list[list[Label]]:
        """Labels per owner through a link table (owner column, label column), by title."""
        async with self._db() as session:
            rows = await session.execute(
                select(owner, Label)
                .join(Label, Label.id == label_id)
                .where(owner.in_(list(keys)))
                .order_by(Label.title)
            )
            grouped: dict[int, list[Label]] = defaultdict(list)
            for owner_id, label in rows:
                grouped[owner_id].append(label)
        return [grouped.get(k, []) for k in keys]

    async def _last_message_by_conversation(self, keys: Sequence[int]) -> list[Message | None]:
        async with self._db() as session:
            newest = (
                select(Message.conversation_id, func.max(Message.id).label("id"))
                .where(Message.conversation_id.in_(list(keys)))
                .group_by(Message.conversation_id)
                .subquery()
            )
            rows = await session.scalars(select(Message).join(newest, newest.c.id == Message.id))
            found = {m.conversation_id: m for m in rows}
        return [found.get(k) for k in keys]

    async def _unread_count_by_conversation(self, keys: Sequence[int]) -> list[int]:
        async with self._db() as session:
            rows = await session.execute(
                select(Message.conversation_id, func.count())
                .join(Conversation, Conversation.id == Message.conversation_id)
                .where(
                    Message.conversation_id.in_(list(keys)),
                    Message.message_type == MessageType.INCOMING,
                    and_(
                        Conversation.agent_last_seen_at.is_(None)
                        | (Message.created_at > Conversation.agent_last_seen_at)
                    ),
                )
                .group_by(Message.conversation_id)
            )
            found = dict(rows.all())
        return [found.get(k, 0) for k in keys]

    async def _inbox_members(self, keys: Sequence[int]) -> list[list[User]]:
        async with self._db() as session:
            rows = await session.execute(
                select(InboxMember.inbox_id, User)
                .join(User, User.id == InboxMember.user_id)
                .where(InboxMember.inbox_id.in_(list(keys)))
                .order_by(User.id)
            )
            grouped: dict[int, list[User]] = defaultdict(list)
            for inbox_id, user in rows:
                grouped[inbox_id].append(user)
        return [grouped.get(k, []) for k in keys]

    async def _team_members_by_team_id(self, keys: Sequence[int]) -> list[list[User]]:
        from db.repositories.catalog import members_of_teams

        async with self._db() as session:
            grouped = await members_of_teams(session, keys)
        return [grouped.get(k, []) for k in keys]

    async def _attachments_by_message(self, keys: Sequence[int]) -> list[list[Any]]:
        from db.repositories.attachments import attached_by_message

        async with self._db() as session:
            grouped = await attached_by_message(session, keys)
        return [grouped.get(k, []) for k in keys]

    async def _webhook_delivery_by_id(self, keys: Sequence[int]) -> list[Any]:
        from db.models import WebhookDelivery

        return await self._by_pk(WebhookDelivery)(keys)

    async def _webhook_attempts_by_delivery(self, keys: Sequence[int]) -> list[list[Any]]:
        from db.models import WebhookAttempt

        async with self._db() as session:
            rows = await session.scalars(
                select(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(list(keys))).order_by(WebhookAttempt.id)
            )
            grouped: dict[int, list[Any]] = defaultdict(list)
            for row in rows:
                grouped[row.delivery_id].append(row)
        return [grouped.get(k, []) for k in keys]
