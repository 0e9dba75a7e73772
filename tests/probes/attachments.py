"""Tenancy-walk probes of attachments."""

from __future__ import annotations

from tests.probes.base import PAYLOAD_ERRORS, Probe


async def setup_b(gql, world) -> None:
    """A pending upload of B's administrator (no file needed: the probes only name it)."""
    body = await gql.data(
        'mutation { attachmentUploadCreate(input: {fileName: "b.png", contentType: "image/png", byteSize: 10}) '
        "{ attachment { id } errors { code } } }",
        headers=world.admin_b.headers(),
    )
    world.b["attachment"] = body["attachmentUploadCreate"]["attachment"]["id"]


PROBES: dict[str, Probe | str] = {
    "attachment": Probe(
        "query($id: ID!) { attachment(id: $id) { id fileName downloadUrl } }",
        lambda w: {"id": w.b["attachment"]},
        inside_a="NOT_FOUND",
    ),
    "attachmentUploadCreate": Probe(
        f'mutation {{ attachmentUploadCreate(input: {{fileName: "a.png", contentType: "image/png", byteSize: 10}}) '
        f"{{ attachment {{ id }} upload {{ url }} {PAYLOAD_ERRORS} }} }}"
    ),
}
