"""Resolvers of reports: parse input, call one domain service, build the result."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import strawberry
from strawberry.types import Info

from domain.errors import BadUserInput, ValidationError
from domain.reports import csat, exports, live, queries
from domain.reports import sla as sla_report
from domain.reports.enums import Dimension, ExportKind, GroupBy
from resolvers.context import Context
from resolvers.mutations import mutate
from schema.core.errors import PayloadErrors
from schema.core.ids import decode_id, decode_optional
from schema.reports import inputs as i
from schema.reports import types as t
from schema.reports.errors import ReportError, ReportErrorCode

Ctx = Info[Context, None]
_errors = PayloadErrors(ReportError, ReportErrorCode)

ReportArg = Annotated[i.ReportInput, strawberry.argument(description="Range, buckets and what the report is about.")]
SummariesArg = Annotated[i.ReportSummariesInput, strawberry.argument(description="Dimension and range.")]
LiveArg = Annotated[i.ReportLiveInput | None, strawberry.argument(description="Narrow to an inbox or team.")]
CsatArg = Annotated[i.CsatSummaryInput, strawberry.argument(description="Range and filters.")]
SlaArg = Annotated[i.SlaReportInput, strawberry.argument(description="The range.")]
ExportCreateArg = Annotated[i.ReportExportCreateInput, strawberry.argument(description="What to export.")]
ExportID = Annotated[strawberry.ID, strawberry.argument(description="The export's global ID.")]


@asynccontextmanager
async def _bad_input() -> AsyncIterator[None]:
    """Queries have no payload: a bad range is a top-level BAD_USER_INPUT naming the input field."""
    try:
        yield
    except ValidationError as exc:
        first = exc.errors[0]
        raise BadUserInput(first.message, field=f"input.{first.field}" if first.field else "input") from None


MEDIAN_FIELDS = frozenset({"median", "medianBusinessHours"})


def _wants_medians(info: Ctx) -> bool:
    """Medians cost a scan of the range's raw events; skip it when the selection asks for none."""

    def walk(selections) -> bool:
        for sel in selections:
            if getattr(sel, "name", None) in MEDIAN_FIELDS or walk(getattr(sel, "selections", None) or ()):
                return True
        return False

    return walk(info.selected_fields)


async def report(info: Ctx, input: ReportArg) -> t.Report:
    actor = await info.context.actor()
    dimension = Dimension(input.dimension)
    dimension_id = (
        decode_id(input.id, t.DIMENSION_ID_TYPES[dimension]) if dimension != Dimension.ACCOUNT and input.id else None
    )
    async with info.context.db() as session, _bad_input():
        await queries.check_dimension(session, actor.account_id, dimension, dimension_id)
        result = await queries.report(
            session,
            actor.account_id,
            since=input.since,
            until=input.until,
            group_by=GroupBy(input.group_by),
            dimension=dimension,
            dimension_id=dimension_id,
            medians=_wants_medians(info),
        )
    return t.Report.of(result)


async def report_summaries(info: Ctx, input: SummariesArg) -> list[t.ReportSummaryRow]:
    actor = await info.context.actor()
    async with info.context.db() as session, _bad_input():
        rows = await queries.summaries(
            session,
            actor.account_id,
            dimension=Dimension(input.dimension),
            since=input.since,
            until=input.until,
            medians=_wants_medians(info),
        )
    return [t.ReportSummaryRow.of(r) for r in rows]


async def report_live(info: Ctx, input: LiveArg = None) -> t.LiveReport:
    actor = await info.context.actor()
    inbox_id = decode_optional(input.inbox_id, "Inbox") if input else None
    team_id = decode_optional(input.team_id, "Team") if input else None
    async with info.context.db() as session:
        if inbox_id is not None:
            await queries.check_dimension(session, actor.account_id, Dimension.INBOX, inbox_id)
        if team_id is not None:
            await queries.check_dimension(session, actor.account_id, Dimension.TEAM, team_id)
        counts = await live.live_counts(session, actor.account_id, inbox_id=inbox_id, team_id=team_id)
        members = await live.member_ids(session, actor.account_id)
    from resolvers.realtime import account_statuses

    return t.LiveReport.of(
        counts, live.agent_status_counts(members, await account_statuses(info.context, actor.account_id))
    )


async def csat_summary(info: Ctx, input: CsatArg) -> t.CsatSummary:
    actor = await info.context.actor()
    inbox_id, team_id = decode_optional(input.inbox_id, "Inbox"), decode_optional(input.team_id, "Team")
    agent_id = decode_optional(input.agent_id, "User")
    async with info.context.db() as session, _bad_input():
        for dimension, pk in ((Dimension.INBOX, inbox_id), (Dimension.TEAM, team_id), (Dimension.AGENT, agent_id)):
            if pk is not None:
                await queries.check_dimension(session, actor.account_id, dimension, pk)
        result = await csat.csat_summary(
            session,
            actor.account_id,
            since=input.since,
            until=input.until,
            inbox_id=inbox_id,
            team_id=team_id,
            assignee_id=agent_id,
        )
    return t.CsatSummary.of(result)


async def sla_report_rows(info: Ctx, input: SlaArg) -> list[t.SlaReportRow]:
    actor = await info.context.actor()
    async with info.context.db() as session, _bad_input():
        rows = await sla_report.sla_summary(session, actor.account_id, since=input.since, until=input.until)
    return [
        t.SlaReportRow(policy_pk=r.policy_id, applied=r.applied, hit=r.hit, missed=r.missed, hit_rate=r.hit_rate)
        for r in rows
    ]


async def report_export(info: Ctx, id: ExportID) -> t.ReportExport:
    from domain.storage import get_storage

    actor = await info.context.actor()
    pk = decode_id(id, "ReportExport")
    async with info.context.db() as session:
        row = await exports.export_visible(session, actor, pk)
    settings = info.context.settings
    url = await exports.download_url(get_storage(settings), row, expires_in=settings.reports_export_url_expires_seconds)
    return t.ReportExport.from_row(row, url)


async def report_export_create(info: Ctx, input: ExportCreateArg) -> t.ReportExportCreatePayload:
    actor = await info.context.actor()

    async def work(session) -> t.ReportExportCreatePayload:
        row = await exports.create_export(
            session,
            actor,
            kind=ExportKind(input.kind),
            since=input.since,
            until=input.until,
            group_by=GroupBy(input.group_by),
            format=input.format.value,
        )
        return t.ReportExportCreatePayload(report_export=t.ReportExport.from_row(row), errors=[])

    return await mutate(info, _errors, work, lambda e: t.ReportExportCreatePayload(report_export=None, errors=e))
