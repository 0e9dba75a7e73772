"""Root fields of reports, merged into the schema's Query and Mutation. All of them need the
report_manage permission (administrators have it)."""

from __future__ import annotations

import strawberry

from domain.accounts.policy import Rule
from resolvers import reports as r
from schema.core.access import field, mutation
from schema.reports import types as t


@strawberry.type
class ReportsQuery:
    report: t.Report = field(
        r.report,
        Rule.report_manage,
        "Metrics of the account, or of one agent, inbox, team or label, over a range of days in the account's time "
        "zone, with a series by day, week or month. Errors: NOT_FOUND for an agent, inbox, team or label of another "
        "account; BAD_USER_INPUT for a range that ends before it starts or spans more than 731 days.",
    )
    report_summaries: list[t.ReportSummaryRow] = field(
        r.report_summaries,
        Rule.report_manage,
        "Metrics of every agent, inbox, team or label of the account over a range, by name.",
    )
    report_live: t.LiveReport = field(
        r.report_live, Rule.report_manage, "Live conversation counts and agents by presence, for the dashboard."
    )
    csat_summary: t.CsatSummary = field(
        r.csat_summary, Rule.report_manage, "CSAT survey responses over a range: count, average and distribution."
    )
    sla_report: list[t.SlaReportRow] = field(
        r.sla_report_rows,
        Rule.report_manage,
        "SLA hit rates over a range: per policy of the account (by name), the SLAs applied in the range, how many "
        "were hit and missed. BAD_USER_INPUT for a range that ends before it starts or spans more than 731 days.",
    )
    report_export: t.ReportExport = field(
        r.report_export,
        Rule.report_manage,
        "One export you asked for (administrators: any of the account), with a short-lived download link once done.",
    )


@strawberry.type
class ReportsMutation:
    report_export_create: t.ReportExportCreatePayload = mutation(
        r.report_export_create,
        Rule.report_manage,
        "Export a report as CSV. A worker writes the file; poll reportExport (or wait for the notification) for its link.",
    )
