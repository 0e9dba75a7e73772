"""`parley sync chatwoot`: the live bridge while both helpdesks run, so a team can move agents over
gradually. Every poll

1. runs the importer over the structural tables (accounts, users, inboxes, contacts, conversations,
   labels…): rows created in Chatwoot since are copied like history, without events;
2. reads Chatwoot's `messages` by `(updated_at, id)` after the bridge's watermark and writes each
   message it has not carried yet through Parley's own message creation (`add_message`), in a unit
   of work: events, webhooks, notifications and realtime fire as for a message written in Parley.
   The id-map row and the watermark commit in the same transaction as the message, so a bridge
   killed at any point neither loses nor doubles one.

Not carried (yet): edits and deletions of messages already carried, attachments of new messages,
status or assignee changes of existing conversations.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from db.models import Conversation, ImportCheckpoint, ImportIdMap, Inbox, Message
from db.session import create_session_factory
from domain.accounts.actor import Actor, ActorKind
from domain.enums import MessageType, Role, SenderType
from domain.events.relay import Relay
from domain.events.unit import unit_of_work
from domain.helpdesk.conversations import add_message
from domain.migration.chatwoot.importer import Importer, connect_source, source_name
from domain.migration.chatwoot.tables import MESSAGE_TYPE, SPECS, js, ts
from domain.migration.chatwoot.tables import table as core_table
from infra.settings import Settings

# Copied like history on every poll; messages are the live part.
STRUCTURE = [
    s.name for s in SPECS if s.name not in ("messages", "attachments", "csat_survey_responses", "reporting_events")
]
MARGIN = timedelta(minutes=10)  # clocks of Chatwoot's app servers may disagree this much


@dataclass
class PollResult:
    structural_rows: int
    messages: int


class Bridge:
    def __init__(
        self,
        engine: AsyncEngine,
        settings: Settings,
        source_url: str,
        relay: Relay,
        *,
        account: int | None = None,
        batch_size: int = 500,
    ) -> None:
        self.engine, self.settings, self.url, self.relay = engine, settings, source_url, relay
        self.source = source_name(source_url)
        self.account = account
        self.scope = "sync:" + ("all" if account is None else str(account))
        self.batch_size = batch_size
        self.sessions = create_session_factory(engine)

    async def poll_once(self) -> PollResult:
        structure = await Importer(
            self.engine, self.settings, self.url, account=self.account, tables=STRUCTURE, batch_size=self.batch_size
        ).run(reconcile=False)
        return PollResult(structure.new_rows, await self._messages())

    async def _watermark(self, src: Any) -> tuple[datetime, int]:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(ImportCheckpoint.updated_after, ImportCheckpoint.last_source_id).where(
                        ImportCheckpoint.source == self.source,
                        ImportCheckpoint.scope == self.scope,
                        ImportCheckpoint.source_table == "messages",
                    )
                )
            ).first()
            if row is not None and row[0] is not None:
                return row[0], int(row[1])
            # First poll: from the newest message the import carried, less a margin (anything
            # already carried is passed over by the id map).
            newest = await conn.scalar(
                select(func.max(ImportIdMap.source_id)).where(
                    ImportIdMap.source == self.source, ImportIdMap.source_table == "messages"
                )
            )
        since = await src.fetchval("SELECT updated_at FROM messages WHERE id = $1", newest) if newest else None
        start = (ts(since) or datetime(1970, 1, 1, tzinfo=UTC)) - MARGIN
        return start, 0

    async def _messages(self) -> int:
        src = await connect_source(self.url)
        carried = 0
        try:
            async with src.transaction(readonly=True):
                after, after_id = await self._watermark(src)
                while True:
                    scope = " AND t.account_id = $4" if self.account is not None else ""
                    args: list[Any] = [after.replace(tzinfo=None), after_id, self.batch_size]
                    if self.account is not None:
                        args.append(self.account)
                    rows = await src.fetch(
                        "SELECT t.* FROM messages t WHERE (t.updated_at, t.id) > ($1, $2)"
                        f"{scope} ORDER BY t.updated_at, t.id LIMIT $3",
                        *args,
                    )
                    if not rows:
                        return carried
                    for row in rows:
                        carried += await self._carry(row)
                    after, after_id = ts(rows[-1]["updated_at"]) or after, int(rows[-1]["id"])
        finally:
            await src.close()

    async def _carry(self, row: Any) -> int:
        """One Chatwoot message, with the watermark, in one unit of work. 1 if it was new here."""
        async with unit_of_work(self.sessions, self.relay) as session:
            mapped = await session.execute(
                select(ImportIdMap.source_table, ImportIdMap.source_id, ImportIdMap.target_id).where(
                    ImportIdMap.source == self.source,
                    ((ImportIdMap.source_table == "messages") & (ImportIdMap.source_id == row["id"]))
                    | (
                        (ImportIdMap.source_table == "conversations")
                        & (ImportIdMap.source_id == row["conversation_id"])
                    )
                    | (
                        (ImportIdMap.source_table == "users")
                        & (ImportIdMap.source_id == (row["sender_id"] if row["sender_type"] == "User" else -1))
                    ),
                )
            )
            found = {table: target for table, _, target in mapped}
            new = 0
            if "messages" not in found and "conversations" in found:
                conversation = await session.get_one(Conversation, found["conversations"], with_for_update=True)
                message = await self._write(session, conversation, row, found.get("users"))
                await session.execute(
                    insert(core_table(ImportIdMap)).values(
                        source=self.source,
                        source_table="messages",
                        source_id=int(row["id"]),
                        target_id=message.id,
                        account_id=conversation.account_id,
                        created=True,
                    )
                )
                new = 1
            await self._save_watermark(session, ts(row["updated_at"]), int(row["id"]))
        return new

    async def _write(self, session: Any, conversation: Conversation, row: Any, user_id: int | None) -> Message:
        kind = MessageType(MESSAGE_TYPE.get(row["message_type"], "activity"))
        content = row["content"] or ""
        if kind in (MessageType.INCOMING, MessageType.OUTGOING):
            inbox = await session.get_one(Inbox, conversation.inbox_id)
            if kind == MessageType.INCOMING:
                actor = Actor(account_id=conversation.account_id, label="chatwoot-sync")
            elif row["sender_type"] == "User":
                actor = Actor(
                    kind=ActorKind.user,
                    user_id=user_id,
                    account_id=conversation.account_id,
                    role=Role.AGENT,
                    label="chatwoot-sync",
                )
            else:
                actor = Actor(kind=ActorKind.bot, account_id=conversation.account_id, label="chatwoot-sync")
            return await add_message(
                session,
                actor,
                conversation,
                inbox,
                content=content,
                private=bool(row["private"]),
                message_type=kind,
                content_attributes=js(row["content_attributes"], {}),
            )
        # Activity lines and templates are Chatwoot's own narration: kept, without events.
        message = Message(
            account_id=conversation.account_id,
            conversation_id=conversation.id,
            inbox_id=conversation.inbox_id,
            message_type=kind,
            content=content,
            private=bool(row["private"]),
            sender_type=SenderType.SYSTEM,
            sender_id=None,
            content_attributes=js(row["content_attributes"], {}),
            created_at=ts(row["created_at"]),
        )
        session.add(message)
        await session.flush()
        return message

    async def _save_watermark(self, session: Any, at: datetime | None, last_id: int) -> None:
        stmt = pg_insert(core_table(ImportCheckpoint)).values(
            source=self.source,
            scope=self.scope,
            source_table="messages",
            last_source_id=last_id,
            rows_read=1,
            rows_imported=0,
            rows_skipped=0,
            updated_after=at,
            updated_at=datetime.now(UTC),
        )
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=["source", "scope", "source_table"],
                set_={
                    "last_source_id": last_id,
                    "updated_after": at,
                    "updated_at": stmt.excluded.updated_at,
                    "rows_read": core_table(ImportCheckpoint).c.rows_read + 1,
                },
            )
        )
