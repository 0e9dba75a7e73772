"""Tenancy-walk probes of the partner app root fields and the rate limit."""

from __future__ import annotations

import json

from tests.probes.base import PAYLOAD_ERRORS, Probe

MANIFEST = json.dumps({"b-op": "query BOp { serverInfo { name } }"})


async def setup_b(gql, world) -> None:
    h = world.admin_b.headers()
    app = await gql.data('mutation { partnerAppCreate(input: {name: "B app"}) { partnerApp { id } } }', headers=h)
    world.b["partner_app"] = app["partnerAppCreate"]["partnerApp"]["id"]
    token = await gql.data(
        'mutation($a: ID!) { partnerTokenCreate(input: {partnerAppId: $a, name: "b"}) { partnerToken { id } } }',
        {"a": world.b["partner_app"]},
        headers=h,
    )
    world.b["partner_token"] = token["partnerTokenCreate"]["partnerToken"]["id"]
    uploaded = await gql.data(
        "mutation($a: ID!, $m: String!) { partnerManifestUpload(input: {partnerAppId: $a, manifest: $m}) "
        "{ manifest { id } errors { code } } }",
        {"a": world.b["partner_app"], "m": MANIFEST},
        headers=h,
    )
    world.b["partner_manifest"] = uploaded["partnerManifestUpload"]["manifest"]["id"]


PROBES: dict[str, Probe | str] = {
    "rateLimit": "public: the caller's own cost budget",
    "partnerApps": Probe("{ partnerApps { id name tokens { id } manifests { id operations { documentId } } } }"),
    "partnerAppCreate": Probe(f'mutation {{ partnerAppCreate(input: {{name: "Spy"}}) {{ {PAYLOAD_ERRORS} }} }}'),
    "partnerAppUpdate": Probe(
        f"mutation($id: ID!) {{ partnerAppUpdate(id: $id, input: {{disabled: true}}) {{ {PAYLOAD_ERRORS} }} }}",
        lambda w: {"id": w.b["partner_app"]},
        inside_a="NOT_FOUND",
    ),
    "partnerTokenCreate": Probe(
        f'mutation($a: ID!) {{ partnerTokenCreate(input: {{partnerAppId: $a, name: "spy"}}) {{ secret {PAYLOAD_ERRORS} }} }}',
        lambda w: {"a": w.b["partner_app"]},
        inside_a="NOT_FOUND",
    ),
    "partnerTokenRevoke": Probe(
        f"mutation($id: ID!) {{ partnerTokenRevoke(id: $id) {{ {PAYLOAD_ERRORS} }} }}",
        lambda w: {"id": w.b["partner_token"]},
        inside_a="NOT_FOUND",
    ),
    "partnerManifestUpload": Probe(
        f"mutation($a: ID!, $m: String!) {{ partnerManifestUpload(input: {{partnerAppId: $a, manifest: $m}}) "
        f"{{ {PAYLOAD_ERRORS} }} }}",
        lambda w: {"a": w.b["partner_app"], "m": MANIFEST},
        inside_a="NOT_FOUND",
    ),
    "partnerManifestActivate": Probe(
        f"mutation($a: ID!) {{ partnerManifestActivate(input: {{partnerAppId: $a, version: 1}}) {{ {PAYLOAD_ERRORS} }} }}",
        lambda w: {"a": w.b["partner_app"]},
        inside_a="NOT_FOUND",
    ),
}

B_STATE = "\n  partnerApps { id name description disabled currentVersion tokens { id name revokedAt } manifests { id version } }\n"
