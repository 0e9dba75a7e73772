"""Tenancy-walk probes of contact CSV import and export: B's imports are not found from A, and A's
import and export touch only A."""

from __future__ import annotations

from tests.probes.base import PAYLOAD_ERRORS, Probe


async def setup_b(gql, world) -> None:
    started = await gql.data(
        f'mutation {{ contactsImport(csv: "email\\nb-import@example.test\\n") {{ contactImport {{ id }} {PAYLOAD_ERRORS} }} }}',
        headers=world.admin_b.headers(),
    )
    world.b["contact_import"] = started["contactsImport"]["contactImport"]["id"]


PROBES: dict[str, Probe | str] = {
    "contactImport": Probe(
        "query($id: ID!) { contactImport(id: $id) { id status processed } }",
        lambda w: {"id": w.b["contact_import"]},
        inside_a="NOT_FOUND",
    ),
    "contactsImport": Probe(
        f'mutation {{ contactsImport(csv: "email\\na-import@example.test\\n", dryRun: true) {{ contactImport {{ id }} {PAYLOAD_ERRORS} }} }}'
    ),
    "contactsExport": Probe(f"mutation {{ contactsExport {{ rowCount downloadUrl {PAYLOAD_ERRORS} }} }}"),
}
