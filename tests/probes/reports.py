"""Tenancy-walk probes of reports: B's inboxes, teams and exports are not found from A, and A's
reports hold only A's numbers."""

from __future__ import annotations

from tests.probes.base import PAYLOAD_ERRORS, Probe, until_finished

RANGE = 'since: "2026-01-01", until: "2026-01-31"'


async def setup_b(gql, world) -> None:
    h = world.admin_b.headers()
    inbox = await gql.data(
        'mutation { inboxCreate(input: {name: "B reports", channelType: API}) { inbox { id } errors { code } } }',
        headers=h,
    )
    world.b["report_inbox"] = inbox["inboxCreate"]["inbox"]["id"]
    team = await gql.data(
        'mutation { teamCreate(input: {name: "B report team"}) { team { id } errors { code } } }', headers=h
    )
    world.b["report_team"] = team["teamCreate"]["team"]["id"]
    export = await gql.data(
        f"mutation {{ reportExportCreate(input: {{kind: OVERVIEW, {RANGE}}}) {{ reportExport {{ id }} {PAYLOAD_ERRORS} }} }}",
        headers=h,
    )
    world.b["report_export"] = export["reportExportCreate"]["reportExport"]["id"]
    await until_finished(
        gql, "query($id: ID!) { reportExport(id: $id) { status } }", {"id": world.b["report_export"]}, h
    )


PROBES: dict[str, Probe | str] = {
    "report": Probe(
        f"query($id: ID) {{ report(input: {{{RANGE}, dimension: INBOX, id: $id}}) {{ summary {{ conversationsOpened }} }} }}",
        lambda w: {"id": w.b["report_inbox"]},
        inside_a="NOT_FOUND",
    ),
    "reportSummaries": Probe(f"{{ reportSummaries(input: {{dimension: INBOX, {RANGE}}}) {{ id name }} }}"),
    "reportLive": Probe(
        "query($id: ID) { reportLive(input: {inboxId: $id}) { open } }",
        lambda w: {"id": w.b["report_inbox"]},
        inside_a="NOT_FOUND",
    ),
    "csatSummary": Probe(
        f"query($id: ID) {{ csatSummary(input: {{{RANGE}, teamId: $id}}) {{ responseCount }} }}",
        lambda w: {"id": w.b["report_team"]},
        inside_a="NOT_FOUND",
    ),
    "reportExport": Probe(
        "query($id: ID!) { reportExport(id: $id) { id status downloadUrl } }",
        lambda w: {"id": w.b["report_export"]},
        inside_a="NOT_FOUND",
    ),
    "reportExportCreate": Probe(
        f"mutation {{ reportExportCreate(input: {{kind: EVENTS, {RANGE}}}) {{ reportExport {{ id }} {PAYLOAD_ERRORS} }} }}"
    ),
}
