"""Report exports: a request row, then a job on the `reports` queue streams the CSV to storage batch
by batch (never the whole file in memory), marks the row done and records `report_export.completed`
for the requester's notification."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.base import utcnow
from db.models import Conversation, Inbox, ReportExport, ReportingEvent
from domain import events
from domain.accounts.actor import Actor
from domain.errors import FieldError, NotFound, ValidationError
from domain.events import outbox
from domain.events.enums import EventType
from domain.reports import queries
from domain.reports.enums import Dimension, ExportKind, ExportStatus, GroupBy
from domain.storage import Storage

ACTOR = "reports.export"
CONTENT_TYPE = "text/csv"
KIND_DIMENSION = {
    ExportKind.AGENTS: Dimension.AGENT,
    ExportKind.INBOXES: Dimension.INBOX,
    ExportKind.TEAMS: Dimension.TEAM,
    ExportKind.LABELS: Dimension.LABEL,
}
TIME_COLUMNS = ("count", "average", "median", "average_business_hours", "median_business_hours")
METRIC_COLUMNS = (
    "conversations_opened",
    "conversations_resolved",
    "conversations_reopened",
    "incoming_messages",
    "outgoing_messages",
    *(f"{m}_{c}" for m in ("first_response", "reply_time", "resolution_time") for c in TIME_COLUMNS),
)
EVENT_COLUMNS = (
    "name",
    "conversation_display_id",
    "inbox",
    "event_start_time",
    "event_end_time",
    "value",
    "value_in_business_hours",
)


def _cell(value: object) -> str:
    return "" if value is None else repr(value) if isinstance(value, float) else str(value)


def metrics_cells(m: queries.Metrics) -> list[str]:
    cells: list[Any] = [
        m.conversations_opened,
        m.conversations_resolved,
        m.conversations_reopened,
        m.incoming_messages,
        m.outgoing_messages,
    ]
    for t in (m.first_response, m.reply_time, m.resolution_time):
        cells += [t.count, t.average, t.median, t.average_business_hours, t.median_business_hours]
    return [_cell(c) for c in cells]


def _csv(rows: Sequence[Sequence[str]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue().encode()


async def create_export(
    session: AsyncSession,
    actor: Actor,
    *,
    kind: ExportKind,
    since: date,
    until: date,
    group_by: GroupBy,
    format: str = "csv",
) -> ReportExport:
    if format != "csv":
        raise ValidationError(FieldError("format", "INVALID", "Reports export as CSV."))
    queries.check_range(since, until)
    export = ReportExport(
        account_id=actor.account_id,
        requester_id=actor.user_id,
        kind=kind.value,
        format=format,
        params={"since": since.isoformat(), "until": until.isoformat(), "group_by": group_by.value},
        status=ExportStatus.PENDING,
        row_count=0,
        created_at=utcnow(),
    )
    session.add(export)
    await session.flush()
    outbox.add_job(session, ACTOR, export_id=export.id)
    return export


async def export_visible(session: AsyncSession, actor: Actor, export_id: int) -> ReportExport:
    """An export of the actor's account that the actor asked for (administrators see all of them)."""
    export = await session.scalar(
        select(ReportExport).where(ReportExport.id == export_id, ReportExport.account_id == actor.account_id)
    )
    if export is None or not (actor.is_administrator or export.requester_id == actor.user_id):
        raise NotFound("No ReportExport with this ID")
    return export


def storage_key(export: ReportExport) -> str:
    return f"accounts/{export.account_id}/reports/{export.id}-{export.kind}.csv"


def file_name(export: ReportExport) -> str:
    return f"{export.kind}-{export.params['since']}-{export.params['until']}.csv"


async def start(session: AsyncSession, export_id: int) -> ReportExport | None:
    """Claim the export for a run; None when it is gone or already done (a repeated job)."""
    export = await session.get(ReportExport, export_id, with_for_update=True)
    if export is None or export.status == ExportStatus.DONE:
        return None
    export.status = ExportStatus.RUNNING
    export.error = None
    await session.flush()
    return export


@dataclass
class Counter:
    rows: int = 0


async def chunks(
    sessions: async_sessionmaker[AsyncSession], export: ReportExport, counter: Counter, *, batch_rows: int = 1000
) -> AsyncIterator[bytes]:
    """The CSV in pieces of at most `batch_rows` rows; every batch of raw events is its own query."""
    kind = ExportKind(export.kind)
    since, until = date.fromisoformat(export.params["since"]), date.fromisoformat(export.params["until"])
    group_by = GroupBy(export.params.get("group_by", "day"))
    if kind == ExportKind.EVENTS:
        yield _csv([EVENT_COLUMNS])
        async with sessions() as session:
            rng = queries.Range(since, until, await queries.account_timezone(session, export.account_id))
        after = 0
        while True:
            async with sessions() as session:
                rows = (
                    await session.execute(
                        select(
                            ReportingEvent.id,
                            ReportingEvent.name,
                            Conversation.display_id,
                            Inbox.name,
                            ReportingEvent.event_start_time,
                            ReportingEvent.event_end_time,
                            ReportingEvent.value,
                            ReportingEvent.value_in_business_hours,
                        )
                        .outerjoin(Conversation, Conversation.id == ReportingEvent.conversation_id)
                        .outerjoin(Inbox, Inbox.id == ReportingEvent.inbox_id)
                        .where(
                            ReportingEvent.account_id == export.account_id,
                            ReportingEvent.id > after,
                            ReportingEvent.event_end_time >= rng.lo,
                            ReportingEvent.event_end_time < rng.hi,
                        )
                        .order_by(ReportingEvent.id)
                        .limit(batch_rows)
                    )
                ).all()
            if not rows:
                return
            after = rows[-1][0]
            counter.rows += len(rows)
            yield _csv(
                [
                    [r[1], _cell(r[2]), r[3] or "", r[4].isoformat(), r[5].isoformat(), _cell(r[6]), _cell(r[7])]
                    for r in rows
                ]
            )
        return
    async with sessions() as session:
        if kind == ExportKind.OVERVIEW:
            result = await queries.report(session, export.account_id, since=since, until=until, group_by=group_by)
            header, body = ["period_start"], [[b.start.isoformat(), *metrics_cells(b.metrics)] for b in result.series]
        else:
            summaries = await queries.summaries(
                session, export.account_id, dimension=KIND_DIMENSION[kind], since=since, until=until
            )
            header, body = ["name"], [[r.name, *metrics_cells(r.metrics)] for r in summaries]
    yield _csv([[*header, *METRIC_COLUMNS]])
    for offset in range(0, len(body), batch_rows):
        part = body[offset : offset + batch_rows]
        counter.rows += len(part)
        yield _csv(part)


async def finish(session: AsyncSession, export_id: int, *, row_count: int, key: str) -> ReportExport:
    export = await session.get_one(ReportExport, export_id, with_for_update=True)
    export.status = ExportStatus.DONE
    export.row_count = row_count
    export.storage_key = key
    export.finished_at = utcnow()
    events.record(
        session,
        account_id=export.account_id,
        type=EventType.REPORT_EXPORT_COMPLETED,
        actor_user_id=export.requester_id,
        private=True,
        payload={"user_id": export.requester_id, "export_id": export.id},
    )
    await session.flush()
    return export


async def fail(session: AsyncSession, export_id: int, reason: str) -> None:
    export = await session.get(ReportExport, export_id, with_for_update=True)
    if export is not None and export.status != ExportStatus.DONE:
        export.status = ExportStatus.FAILED
        export.error = reason[:255]
        export.finished_at = utcnow()
        await session.flush()


async def download_url(storage: Storage, export: ReportExport, *, expires_in: int) -> str | None:
    if export.status != ExportStatus.DONE or not export.storage_key:
        return None
    return await storage.download_url(
        export.storage_key, file_name=file_name(export), content_type=CONTENT_TYPE, expires_in=expires_in
    )
