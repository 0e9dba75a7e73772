"""GraphQL types of reports: metrics over time and per agent, inbox, team or label, the live view,
CSAT and exports. Times are in seconds."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry

from domain.reports import csat as csat_domain
from domain.reports import live as live_domain
from domain.reports import queries as q
from domain.reports.enums import Dimension, ExportKind, ExportStatus, GroupBy
from schema.accounts.types import User
from schema.core.ids import encode_id
from schema.reports.errors import ReportError

if TYPE_CHECKING:
    from schema.sla.types import SlaPolicy

ReportGroupByEnum = strawberry.enum(
    GroupBy,
    name="ReportGroupBy",
    description="Buckets of a report over time: DAY, WEEK (from Monday) or MONTH, in the account's time zone.",
)
ReportDimensionEnum = strawberry.enum(
    Dimension,
    name="ReportDimension",
    description="What a report is about: the whole ACCOUNT, or one AGENT, INBOX, TEAM or LABEL.",
)
ReportExportKindEnum = strawberry.enum(
    ExportKind,
    name="ReportExportKind",
    description="What an export holds: OVERVIEW (the account's metrics per day, week or month), AGENTS, INBOXES, TEAMS, "
    "LABELS (one row each over the range) or EVENTS (every raw reporting event of the range).",
)
ReportExportStatusEnum = strawberry.enum(ExportStatus, name="ReportExportStatus", description="Where an export stands.")

DIMENSION_ID_TYPES = {
    Dimension.AGENT: "User",
    Dimension.INBOX: "Inbox",
    Dimension.TEAM: "Team",
    Dimension.LABEL: "Label",
}


@strawberry.enum(description="File formats of report exports.")
class ReportExportFormat(Enum):
    CSV = "csv"


# --- inputs ----------------------------------------------------------------------------------------


# --- outputs ---------------------------------------------------------------------------------------


@strawberry.type(description="A duration metric in seconds; averages and medians are null when nothing was measured.")
class TimeMetric:
    count: int = strawberry.field(description="How many durations were measured.")
    average: float | None = strawberry.field(description="Mean, in seconds.")
    median: float | None = strawberry.field(description="Median (interpolated), in seconds.")
    average_business_hours: float | None = strawberry.field(
        description="Mean within the inbox's working hours, in seconds."
    )
    median_business_hours: float | None = strawberry.field(
        description="Median within the inbox's working hours, in seconds."
    )

    @classmethod
    def of(cls, t: q.TimeMetric) -> TimeMetric:
        return cls(
            count=t.count,
            average=t.average,
            median=t.median,
            average_business_hours=t.average_business_hours,
            median_business_hours=t.median_business_hours,
        )


@strawberry.type(description="Chatwoot's report metrics over a period.")
class ReportMetrics:
    conversations_opened: int = strawberry.field(description="Conversations created.")
    conversations_resolved: int = strawberry.field(
        description="Resolutions (a conversation resolved twice counts twice)."
    )
    conversations_reopened: int = strawberry.field(description="Resolved conversations opened again.")
    incoming_messages: int = strawberry.field(description="Messages from contacts.")
    outgoing_messages: int = strawberry.field(
        description="Public replies of agents and bots (private notes are not counted)."
    )
    first_response: TimeMetric = strawberry.field(
        description="From a conversation's start (or reopening) to the first human reply."
    )
    reply_time: TimeMetric = strawberry.field(
        description="From when the contact started waiting to each later human reply."
    )
    resolution_time: TimeMetric = strawberry.field(description="From a conversation's creation to its resolution.")

    @classmethod
    def of(cls, m: q.Metrics) -> ReportMetrics:
        return cls(
            conversations_opened=m.conversations_opened,
            conversations_resolved=m.conversations_resolved,
            conversations_reopened=m.conversations_reopened,
            incoming_messages=m.incoming_messages,
            outgoing_messages=m.outgoing_messages,
            first_response=TimeMetric.of(m.first_response),
            reply_time=TimeMetric.of(m.reply_time),
            resolution_time=TimeMetric.of(m.resolution_time),
        )


@strawberry.type(description="One day, week or month of a report.")
class ReportBucket:
    start: date = strawberry.field(description="First day of the bucket (a week starts on Monday, a month on the 1st).")
    metrics: ReportMetrics = strawberry.field(description="The bucket's metrics.")


@strawberry.type(description="A report over time.")
class Report:
    timezone: str = strawberry.field(description="The account's time zone the days are counted in.")
    since: date = strawberry.field(description="First day.")
    until: date = strawberry.field(description="Last day.")
    group_by: ReportGroupByEnum = strawberry.field(description="Buckets of the series.")
    summary: ReportMetrics = strawberry.field(description="The whole range.")
    series: list[ReportBucket] = strawberry.field(
        description="Every bucket of the range in order, empty ones included."
    )

    @classmethod
    def of(cls, r: q.Report) -> Report:
        return cls(
            timezone=r.timezone,
            since=r.since,
            until=r.until,
            group_by=r.group_by,
            summary=ReportMetrics.of(r.summary),
            series=[ReportBucket(start=b.start, metrics=ReportMetrics.of(b.metrics)) for b in r.series],
        )


@strawberry.type(description="The metrics of one agent, inbox, team or label over a range.")
class ReportSummaryRow:
    dimension: ReportDimensionEnum = strawberry.field(description="What the row is about.")
    pk: strawberry.Private[int]
    name: str = strawberry.field(description="The agent's, inbox's or team's name or the label's title.")
    metrics: ReportMetrics = strawberry.field(description="Its metrics.")

    @strawberry.field(description="Global ID of the agent (User), inbox, team or label.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id(DIMENSION_ID_TYPES[Dimension(self.dimension)], self.pk))

    @classmethod
    def of(cls, r: q.SummaryRow) -> ReportSummaryRow:
        return cls(dimension=r.dimension, pk=r.id, name=r.name, metrics=ReportMetrics.of(r.metrics))


@strawberry.type(description="How many agents are online, busy or offline right now.")
class AgentStatusCounts:
    online: int = strawberry.field(description="Online agents.")
    busy: int = strawberry.field(description="Busy agents.")
    offline: int = strawberry.field(description="Offline agents.")


@strawberry.type(description="The dashboard's live view.")
class LiveReport:
    open: int = strawberry.field(description="Open conversations.")
    unattended: int = strawberry.field(description="Open conversations never answered or waiting for a reply.")
    unassigned: int = strawberry.field(description="Open conversations without an assignee.")
    pending: int = strawberry.field(description="Pending conversations.")
    agent_status: AgentStatusCounts = strawberry.field(description="Members of the account by presence.")

    @classmethod
    def of(cls, counts: live_domain.LiveCounts, agents: live_domain.AgentStatusCounts) -> LiveReport:
        return cls(
            open=counts.open,
            unattended=counts.unattended,
            unassigned=counts.unassigned,
            pending=counts.pending,
            agent_status=AgentStatusCounts(online=agents.online, busy=agents.busy, offline=agents.offline),
        )


@strawberry.type(description="Responses with one rating.")
class CsatRatingCount:
    rating: int = strawberry.field(description="1 (worst) to 5 (best).")
    count: int = strawberry.field(description="Responses with this rating.")


@strawberry.type(description="Customer satisfaction over a range.")
class CsatSummary:
    response_count: int = strawberry.field(description="Survey responses.")
    average_rating: float | None = strawberry.field(description="Mean rating, null without responses.")
    distribution: list[CsatRatingCount] = strawberry.field(
        description="Responses per rating, 1 to 5 (always five entries)."
    )

    @classmethod
    def of(cls, s: csat_domain.CsatSummary) -> CsatSummary:
        return cls(
            response_count=s.response_count,
            average_rating=s.average_rating,
            distribution=[CsatRatingCount(rating=r, count=c) for r, c in sorted(s.distribution.items())],
        )


@strawberry.type(description="A report export: a file written in the background.")
class ReportExport:
    pk: strawberry.Private[int]
    requester_pk: strawberry.Private[int | None]
    kind: ReportExportKindEnum = strawberry.field(description="What it holds.")
    format: ReportExportFormat = strawberry.field(description="File format.")
    since: date = strawberry.field(description="First day.")
    until: date = strawberry.field(description="Last day.")
    group_by: ReportGroupByEnum = strawberry.field(description="Buckets of an OVERVIEW export.")
    status: ReportExportStatusEnum = strawberry.field(description="PENDING, RUNNING, DONE or FAILED.")
    row_count: int = strawberry.field(description="Data rows written (without the header).")
    created_at: datetime = strawberry.field(description="When it was asked for.")
    finished_at: datetime | None = strawberry.field(description="When it was written (or failed).")
    download_url: str | None = strawberry.field(
        description="A short-lived link to the file once DONE; ask again for a fresh one."
    )

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("ReportExport", self.pk))

    @strawberry.field(description="Who asked for it.")
    async def requester(self, info: strawberry.Info) -> User | None:
        if self.requester_pk is None:
            return None
        row = await info.context.loaders.user_by_id.load(self.requester_pk)
        return User.from_row(row) if row else None

    @classmethod
    def from_row(cls, row, download_url: str | None = None) -> ReportExport:
        return cls(
            pk=row.id,
            requester_pk=row.requester_id,
            kind=ExportKind(row.kind),
            format=ReportExportFormat(row.format),
            since=date.fromisoformat(row.params["since"]),
            until=date.fromisoformat(row.params["until"]),
            group_by=GroupBy(row.params.get("group_by", "day")),
            status=row.status,
            row_count=row.row_count,
            created_at=row.created_at,
            finished_at=row.finished_at,
            download_url=download_url,
        )


@strawberry.type(description="The result of reportExportCreate.")
class ReportExportCreatePayload:
    report_export: ReportExport | None = strawberry.field(description="The export, PENDING until the worker writes it.")
    errors: list[ReportError] = strawberry.field(description="Why nothing was created.")


@strawberry.type(description="One SLA policy's results over a range.")
class SlaReportRow:
    policy_pk: strawberry.Private[int]
    applied: int = strawberry.field(description="SLAs of the policy applied in the range.")
    hit: int = strawberry.field(description="Of those, resolved with every target met.")
    missed: int = strawberry.field(description="Of those, with a target missed (resolved or not).")
    hit_rate: float | None = strawberry.field(description="hit / (hit + missed); null when neither.")

    @strawberry.field(description="The policy.")
    async def policy(self, info: strawberry.Info) -> Annotated[SlaPolicy, strawberry.lazy("schema.sla.types")]:
        from schema.sla.types import SlaPolicy

        return SlaPolicy.from_row(await info.context.loaders.sla_policy_by_id.load(self.policy_pk))
