"""Inputs of reports mutations and queries."""

from __future__ import annotations

from datetime import date

import strawberry

from domain.reports.enums import Dimension, GroupBy
from schema.reports.types import ReportDimensionEnum, ReportExportFormat, ReportExportKindEnum, ReportGroupByEnum


@strawberry.input(description="A report over time.")
class ReportInput:
    since: date = strawberry.field(description="First day, in the account's time zone.")
    until: date = strawberry.field(
        description="Last day (included), in the account's time zone; at most 731 days after since."
    )
    group_by: ReportGroupByEnum = strawberry.field(default=GroupBy.DAY, description="Buckets of the series.")
    dimension: ReportDimensionEnum = strawberry.field(
        default=Dimension.ACCOUNT, description="What the report is about."
    )
    id: strawberry.ID | None = strawberry.field(
        default=None, description="The agent (User), inbox, team or label, unless ACCOUNT."
    )


@strawberry.input(description="Metrics per agent, inbox, team or label over a range.")
class ReportSummariesInput:
    dimension: ReportDimensionEnum = strawberry.field(description="AGENT, INBOX, TEAM or LABEL.")
    since: date = strawberry.field(description="First day, in the account's time zone.")
    until: date = strawberry.field(description="Last day (included), in the account's time zone.")


@strawberry.input(description="Narrow the live view.")
class ReportLiveInput:
    inbox_id: strawberry.ID | None = strawberry.field(default=None, description="Only this inbox.")
    team_id: strawberry.ID | None = strawberry.field(default=None, description="Only this team.")


@strawberry.input(description="CSAT responses over a range.")
class CsatSummaryInput:
    since: date = strawberry.field(description="First day, in the account's time zone.")
    until: date = strawberry.field(description="Last day (included), in the account's time zone.")
    inbox_id: strawberry.ID | None = strawberry.field(default=None, description="Only conversations of this inbox.")
    team_id: strawberry.ID | None = strawberry.field(default=None, description="Only conversations of this team.")
    agent_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only conversations assigned to this agent (User)."
    )


@strawberry.input(description="Export a report to a file.")
class ReportExportCreateInput:
    kind: ReportExportKindEnum = strawberry.field(description="What to export.")
    since: date = strawberry.field(description="First day, in the account's time zone.")
    until: date = strawberry.field(description="Last day (included), in the account's time zone.")
    group_by: ReportGroupByEnum = strawberry.field(default=GroupBy.DAY, description="Buckets of an OVERVIEW export.")
    format: ReportExportFormat = strawberry.field(default=ReportExportFormat.CSV, description="The file format.")


@strawberry.input(description="The range of an SLA report.")
class SlaReportInput:
    since: date = strawberry.field(description="First day, in the account's time zone (SLAs applied from then).")
    until: date = strawberry.field(description="Last day (included), in the account's time zone.")
