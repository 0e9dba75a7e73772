"""The reporting consumer of the event log: turns conversation and message events into reporting
events (Chatwoot's `ReportingEventListener`) and keeps the daily roll-ups in step.

Which events become which facts (times are those of the change, read from the rows the event names):
- `conversation.created` → `conversation_opened` (value 0) at the conversation's creation;
- `message.created` → `incoming_message` / `outgoing_message` (public replies of agents and bots;
  private notes are not counted), so message counts come from roll-ups too;
- `first.reply.created` → `first_response`: from the conversation's start — its creation, or its
  latest reopening before the reply (Chatwoot's "last non-human activity") — to the reply;
- `reply.created` with a `waiting_since` → `reply_time`: from when the contact started waiting to
  the reply (as in Chatwoot, the first reply is measured by `first_response` only);
- `conversation.status_changed` to resolved → `conversation_resolved`: creation to resolution (also
  for a second resolution after a reopening, as Chatwoot measures it);
- `conversation.status_changed` from resolved to open or pending → `conversation_reopened`: the time
  since the latest resolution.

Agent, inbox and team are taken when the event is processed (right after it happens): the replier
for replies, the assignee for the others. A reporting event is unique per (source event, name), and
the roll-ups grow only by rows that were actually inserted, so running a batch twice changes nothing."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import Base, utcnow
from db.models import Account, Conversation, Event, Inbox, Message, ReportingEvent, ReportingRollup
from db.session import dialect_name
from domain.enums import MessageType, SenderType
from domain.events.enums import Consumer, EventType, consumed_by
from domain.reports.business_hours import business_seconds
from domain.reports.enums import Metric

CONSUMED = consumed_by(Consumer.REPORTS)
ROLLUP_DIMENSIONS = ("account", "inbox", "agent", "team")


def dialect_insert(session: AsyncSession, table: type[Base]) -> postgresql.Insert | sqlite.Insert:
    insert = postgresql.insert if dialect_name(session) == "postgresql" else sqlite.insert
    return insert(table)


def _status_change(event: Event) -> tuple[str | None, str | None]:
    change = (event.payload or {}).get("changed_attributes", {}).get("status") or [None, None]
    return change[0], change[1]


def _is_reopen(event: Event) -> bool:
    before, after = _status_change(event)
    return before == "resolved" and after in ("open", "pending")


def _is_resolve(event: Event) -> bool:
    before, after = _status_change(event)
    return after == "resolved" and before != "resolved"


@dataclass
class _Context:
    conversations: dict[int, Conversation]
    messages: dict[int, Message]
    inboxes: dict[int, Inbox]
    history: dict[int, list[Event]]  # status changes per conversation, by position
    # Resolutions and reopenings already recorded, for when their event-log rows were pruned.
    recorded: dict[int, list[tuple[str, datetime]]]

    def latest(self, conversation_id: int, event: Event, kind: str, before: datetime) -> datetime | None:
        """When the conversation was last resolved ("resolve") or reopened ("reopen") before this event."""
        test = _is_resolve if kind == "resolve" else _is_reopen
        name = Metric.CONVERSATION_RESOLVED.value if kind == "resolve" else Metric.CONVERSATION_REOPENED.value
        times = [e.created_at for e in self.history.get(conversation_id, []) if e.position < event.position and test(e)]
        times += [at for n, at in self.recorded.get(conversation_id, []) if n == name and at < before]
        return max(times) if times else None


async def _load(session: AsyncSession, events: Sequence[Event]) -> _Context:
    conversation_ids = {e.conversation_id for e in events if e.conversation_id}
    message_ids = {e.message_id for e in events if e.message_id}
    conversations = (
        {c.id: c for c in await session.scalars(select(Conversation).where(Conversation.id.in_(conversation_ids)))}
        if conversation_ids
        else {}
    )
    messages = (
        {m.id: m for m in await session.scalars(select(Message).where(Message.id.in_(message_ids)))}
        if message_ids
        else {}
    )
    inbox_ids = {c.inbox_id for c in conversations.values()}
    inboxes = (
        {i.id: i for i in await session.scalars(select(Inbox).where(Inbox.id.in_(inbox_ids)))} if inbox_ids else {}
    )
    history: dict[int, list[Event]] = defaultdict(list)
    if conversation_ids:
        rows = await session.scalars(
            select(Event)
            .where(Event.conversation_id.in_(conversation_ids), Event.type == EventType.CONVERSATION_STATUS_CHANGED)
            .order_by(Event.conversation_id, Event.position)
        )
        for row in rows:
            if row.conversation_id is not None:  # always: selected by conversation id
                history[row.conversation_id].append(row)
    recorded: dict[int, list[tuple[str, datetime]]] = defaultdict(list)
    if conversation_ids:
        recorded_rows = await session.execute(
            select(ReportingEvent.conversation_id, ReportingEvent.name, ReportingEvent.event_end_time).where(
                ReportingEvent.conversation_id.in_(conversation_ids),
                ReportingEvent.name.in_([Metric.CONVERSATION_RESOLVED.value, Metric.CONVERSATION_REOPENED.value]),
            )
        )
        for conversation_id, name, end in recorded_rows:
            if conversation_id is not None:  # always: selected by conversation id
                recorded[conversation_id].append((name, end))
    return _Context(conversations, messages, inboxes, history, recorded)


def _row(
    event: Event,
    conversation: Conversation,
    inbox: Inbox,
    name: Metric,
    start: datetime,
    end: datetime,
    user_id: int | None,
    timed: bool,
) -> dict[str, Any]:
    value = max((end - start).total_seconds(), 0.0) if timed else 0.0
    in_hours = (
        business_seconds(
            start, end, enabled=inbox.working_hours_enabled, hours=inbox.working_hours, timezone=inbox.timezone
        )
        if timed
        else 0.0
    )
    return dict(
        account_id=event.account_id,
        source_event_id=event.id,
        name=name.value,
        value=value,
        value_in_business_hours=in_hours,
        conversation_id=conversation.id,
        inbox_id=conversation.inbox_id,
        user_id=user_id,
        team_id=conversation.team_id,
        event_start_time=start,
        event_end_time=end,
        created_at=utcnow(),
    )


def facts(event: Event, ctx: _Context) -> list[dict[str, Any]]:
    """The reporting events one event-log event makes (none for most)."""
    conversation = ctx.conversations.get(event.conversation_id or 0)
    if conversation is None:
        return []
    inbox = ctx.inboxes[conversation.inbox_id]
    message = ctx.messages.get(event.message_id or 0)
    if event.type == EventType.CONVERSATION_CREATED:
        at = conversation.created_at
        return [_row(event, conversation, inbox, Metric.CONVERSATION_OPENED, at, at, conversation.assignee_id, False)]
    if event.type == EventType.MESSAGE_CREATED and message is not None:
        if message.message_type == MessageType.INCOMING:
            return [
                _row(
                    event,
                    conversation,
                    inbox,
                    Metric.INCOMING_MESSAGE,
                    message.created_at,
                    message.created_at,
                    conversation.assignee_id,
                    False,
                )
            ]
        if message.message_type == MessageType.OUTGOING and not message.private:
            user = message.sender_id if message.sender_type == SenderType.USER else None
            return [
                _row(
                    event,
                    conversation,
                    inbox,
                    Metric.OUTGOING_MESSAGE,
                    message.created_at,
                    message.created_at,
                    user,
                    False,
                )
            ]
        return []
    if event.type == EventType.FIRST_REPLY_CREATED and message is not None:
        start = ctx.latest(conversation.id, event, "reopen", message.created_at) or conversation.created_at
        return [
            _row(event, conversation, inbox, Metric.FIRST_RESPONSE, start, message.created_at, message.sender_id, True)
        ]
    if event.type == EventType.REPLY_CREATED and message is not None:
        waiting = (event.payload or {}).get("waiting_since")
        if not waiting:
            return []
        return [
            _row(
                event,
                conversation,
                inbox,
                Metric.REPLY_TIME,
                datetime.fromisoformat(waiting),
                message.created_at,
                message.sender_id,
                True,
            )
        ]
    if event.type == EventType.CONVERSATION_STATUS_CHANGED:
        if (event.payload or {}).get("reason") == "merged":
            return []  # a merged conversation's messages live on in the kept one: not a resolution
        if _is_resolve(event):
            return [
                _row(
                    event,
                    conversation,
                    inbox,
                    Metric.CONVERSATION_RESOLVED,
                    conversation.created_at,
                    event.created_at,
                    conversation.assignee_id,
                    True,
                )
            ]
        if _is_reopen(event):
            start = ctx.latest(conversation.id, event, "resolve", event.created_at) or event.created_at
            return [
                _row(
                    event,
                    conversation,
                    inbox,
                    Metric.CONVERSATION_REOPENED,
                    start,
                    event.created_at,
                    conversation.assignee_id,
                    True,
                )
            ]
    return []


def rollup_keys(row: dict[str, Any], day: date) -> Iterable[tuple[Any, ...]]:
    dims = {"account": row["account_id"], "inbox": row["inbox_id"], "agent": row["user_id"], "team": row["team_id"]}
    for kind in ROLLUP_DIMENSIONS:
        if dims[kind] is not None:
            yield (row["account_id"], kind, dims[kind], row["name"], day)


async def add_to_rollups(session: AsyncSession, rows: Sequence[dict[str, Any]], zones: dict[int, str]) -> None:
    """Add inserted reporting events to their day's roll-ups (one upsert; keys sorted so concurrent
    consumers lock roll-up rows in the same order)."""
    sums: dict[tuple[Any, ...], list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    for row in rows:
        day = row["event_end_time"].astimezone(ZoneInfo(zones[row["account_id"]])).date()
        for key in rollup_keys(row, day):
            acc = sums[key]
            acc[0] += 1
            acc[1] += row["value"]
            acc[2] += row["value_in_business_hours"]
    if not sums:
        return
    values = [
        dict(
            account_id=k[0],
            dimension_type=k[1],
            dimension_id=k[2],
            name=k[3],
            day=k[4],
            count=v[0],
            sum_value=v[1],
            sum_value_business_hours=v[2],
        )
        for k, v in sorted(sums.items())
    ]
    stmt = dialect_insert(session, ReportingRollup).values(values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["account_id", "dimension_type", "dimension_id", "name", "day"],
        set_={
            "count": ReportingRollup.count + stmt.excluded.count,
            "sum_value": ReportingRollup.sum_value + stmt.excluded.sum_value,
            "sum_value_business_hours": ReportingRollup.sum_value_business_hours
            + stmt.excluded.sum_value_business_hours,
        },
    )
    await session.execute(stmt)


async def record(session: AsyncSession, event_ids: Sequence[int]) -> int:
    """Record the reporting events of these event-log events; returns how many were new."""
    events = list(
        await session.scalars(
            select(Event)
            .where(Event.id.in_(list(event_ids)), Event.type.in_(CONSUMED))
            .order_by(Event.account_id, Event.position)
        )
    )
    if not events:
        return 0
    for event in events:
        if event.type == EventType.ACCOUNT_UPDATED and "timezone" in (
            (event.payload or {}).get("changed_attributes") or {}
        ):
            await rebuild_rollups(session, event.account_id)
    events = [e for e in events if e.type != EventType.ACCOUNT_UPDATED]
    ctx = await _load(session, events)
    rows = [row for event in events for row in facts(event, ctx)]
    if not rows:
        return 0
    inserted: list[dict[str, Any]] = []
    by_key = {(r["source_event_id"], r["name"]): r for r in rows}
    for start in range(0, len(rows), 500):
        stmt = (
            dialect_insert(session, ReportingEvent)
            .values(rows[start : start + 500])
            .on_conflict_do_nothing(index_elements=["source_event_id", "name"])
            .returning(ReportingEvent.source_event_id, ReportingEvent.name)
        )
        inserted.extend(by_key[(r.source_event_id, r.name)] for r in await session.execute(stmt))
    accounts = {r["account_id"] for r in inserted}
    zones = (
        dict((await session.execute(select(Account.id, Account.timezone).where(Account.id.in_(accounts)))).all())
        if accounts
        else {}
    )
    await add_to_rollups(session, inserted, zones)
    return len(inserted)


async def rebuild_rollups(session: AsyncSession, account_id: int) -> None:
    """Recompute an account's roll-ups from its reporting events (after its time zone changed, or to
    repair them). On PostgreSQL one INSERT … SELECT per dimension; elsewhere in Python, in batches."""
    from sqlalchemy import delete, text

    await session.execute(delete(ReportingRollup).where(ReportingRollup.account_id == account_id))
    zone = await session.scalar(select(Account.timezone).where(Account.id == account_id)) or "UTC"
    if dialect_name(session) == "postgresql":
        columns = {"account": "account_id", "inbox": "inbox_id", "agent": "user_id", "team": "team_id"}
        for kind, column in columns.items():
            await session.execute(
                text(
                    "INSERT INTO reporting_rollups (account_id, day, dimension_type, dimension_id, name, count, sum_value, "
                    f"sum_value_business_hours) SELECT account_id, (event_end_time AT TIME ZONE :tz)::date, :kind, {column}, name, "
                    "count(*), sum(value), sum(value_in_business_hours) FROM reporting_events "
                    f"WHERE account_id = :a AND {column} IS NOT NULL GROUP BY 1, 2, 3, 4, 5"
                ),
                {"tz": zone, "kind": kind, "a": account_id},
            )
        return
    after = 0
    while True:
        batch = list(
            await session.scalars(
                select(ReportingEvent)
                .where(ReportingEvent.account_id == account_id, ReportingEvent.id > after)
                .order_by(ReportingEvent.id)
                .limit(1000)
            )
        )
        if not batch:
            return
        after = batch[-1].id
        rows = [
            dict(
                account_id=r.account_id,
                inbox_id=r.inbox_id,
                user_id=r.user_id,
                team_id=r.team_id,
                name=r.name,
                value=r.value,
                value_in_business_hours=r.value_in_business_hours,
                event_end_time=r.event_end_time,
            )
            for r in batch
        ]
        await add_to_rollups(session, rows, {account_id: zone})
