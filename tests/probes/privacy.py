"""Tenancy-walk probes of the privacy duties: B's contacts can be neither exported nor erased from A, B's
exports are not found, and A's retention policy is A's own."""

from __future__ import annotations

from tests.probes.base import PAYLOAD_ERRORS, Probe, until_finished


async def setup_b(gql, world) -> None:
    started = await gql.data(
        f"mutation($c: ID!) {{ contactDataExport(contactId: $c) {{ contactDataExport {{ id }} {PAYLOAD_ERRORS} }} }}",
        {"c": world.b["contact"]},
        headers=world.admin_b.headers(),
    )
    world.b["contact_data_export"] = started["contactDataExport"]["contactDataExport"]["id"]
    await until_finished(
        gql,
        "query($id: ID!) { contactDataExportJob(id: $id) { status } }",
        {"id": world.b["contact_data_export"]},
        world.admin_b.headers(),
    )


PROBES: dict[str, Probe | str] = {
    "contactDataExport": Probe(
        f"mutation($c: ID!) {{ contactDataExport(contactId: $c) {{ contactDataExport {{ id }} {PAYLOAD_ERRORS} }} }}",
        lambda w: {"c": w.b["contact"]},
        inside_a="NOT_FOUND",
    ),
    "contactDataExportJob": Probe(
        "query($id: ID!) { contactDataExportJob(id: $id) { id status downloadUrl } }",
        lambda w: {"id": w.b["contact_data_export"]},
        inside_a="NOT_FOUND",
    ),
    "contactErase": Probe(
        f"mutation($c: ID!) {{ contactErase(contactId: $c) {{ erasedAt {PAYLOAD_ERRORS} }} }}",
        lambda w: {"c": w.b["contact"]},
        inside_a="NOT_FOUND",
    ),
    "retentionPolicy": Probe("{ retentionPolicy { messageDays attachmentDays } }"),
    "retentionPolicyUpdate": Probe(
        f"mutation {{ retentionPolicyUpdate(input: {{messageDays: 400}}) {{ retentionPolicy {{ messageDays }} "
        f"{PAYLOAD_ERRORS} }} }}"
    ),
}
