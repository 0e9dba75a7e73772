"""Tenancy-walk probes of webhooks (with deliveries and attempts) and dead jobs."""

from __future__ import annotations

from schema.core.ids import encode_id
from tests.probes.base import PAYLOAD_ERRORS, Probe

# A public address literal (no DNS needed) and an event nothing in the walk emits, so no request leaves.
PUBLIC_URL = "https://93.184.215.14/hooks"

B_STATE = """
  webhooks { edges { node { id url description events enabled secretHint inbox { id } } } }
  deadJobs { edges { node { id retriedAt } } }
"""


async def setup_b(gql, world) -> None:
    h = world.admin_b.headers()
    created = await gql.data(
        "mutation($u: String!) { webhookCreate(input: {url: $u, events: [CONVERSATION_TYPING_ON]}) "
        "{ webhook { id } errors { code } } }",
        {"u": PUBLIC_URL},
        headers=h,
    )
    assert created["webhookCreate"]["errors"] == [], created
    world.b["webhook"] = created["webhookCreate"]["webhook"]["id"]


def _b(key: str, document: str) -> Probe:
    return Probe(document, lambda w: {"id": w.b[key]}, inside_a="NOT_FOUND")


# Objects that only exist once deliveries or jobs have run; IDs of such rows are refused the same way.
_FOREIGN_ATTEMPT = encode_id("WebhookAttempt", 987654321)
_FOREIGN_DEAD_JOB = encode_id("DeadJob", 987654321)

PROBES: dict[str, Probe | str] = {
    "webhooks": Probe("{ webhooks { edges { node { id url } } } }"),
    "webhook": _b("webhook", "query($id: ID!) { webhook(id: $id) { id url } }"),
    "webhookDeliveries": _b(
        "webhook", "query($id: ID!) { webhookDeliveries(webhookId: $id) { edges { node { id } } } }"
    ),
    "webhookAttempts": _b("webhook", "query($id: ID!) { webhookAttempts(webhookId: $id) { edges { node { id } } } }"),
    "deadJobs": Probe("{ deadJobs { edges { node { id actorName } } } }"),
    "webhookCreate": Probe(
        f'mutation {{ webhookCreate(input: {{url: "{PUBLIC_URL}", events: [CONVERSATION_TYPING_ON]}}) '
        f"{{ webhook {{ id }} secret {PAYLOAD_ERRORS} }} }}"
    ),
    "webhookUpdate": _b(
        "webhook", f"mutation($id: ID!) {{ webhookUpdate(id: $id, input: {{enabled: false}}) {{ {PAYLOAD_ERRORS} }} }}"
    ),
    "webhookDelete": _b("webhook", f"mutation($id: ID!) {{ webhookDelete(id: $id) {{ {PAYLOAD_ERRORS} }} }}"),
    "webhookSecretRotate": _b(
        "webhook", f"mutation($id: ID!) {{ webhookSecretRotate(id: $id) {{ secret {PAYLOAD_ERRORS} }} }}"
    ),
    "webhookTest": _b("webhook", f"mutation($id: ID!) {{ webhookTest(id: $id) {{ {PAYLOAD_ERRORS} }} }}"),
    "webhookRedeliver": Probe(
        f"mutation($id: ID!) {{ webhookRedeliver(id: $id) {{ {PAYLOAD_ERRORS} }} }}",
        lambda w: {"id": _FOREIGN_ATTEMPT},
        inside_a="NOT_FOUND",
    ),
    "deadJobRetry": Probe(
        f"mutation($id: ID!) {{ deadJobRetry(id: $id) {{ {PAYLOAD_ERRORS} }} }}",
        lambda w: {"id": _FOREIGN_DEAD_JOB},
        inside_a="NOT_FOUND",
    ),
}
