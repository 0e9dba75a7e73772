"""Tenancy-walk probes of presence and typing (the subscriptions have their own cross-account tests
in tests/test_realtime.py)."""

from __future__ import annotations

from tests.probes.base import PAYLOAD_ERRORS, Probe

PROBES: dict[str, Probe | str] = {
    "eventCursor": Probe("{ eventCursor }"),
    "agentPresence": Probe("{ agentPresence { connected status user { id } } }"),
    "typingSet": Probe(
        f"mutation($id: ID!) {{ typingSet(input: {{conversationId: $id, on: true}}) {{ accepted {PAYLOAD_ERRORS} }} }}",
        lambda w: {"id": w.b["conversation"]},
        inside_a="PAYLOAD",
    ),
    "availabilitySet": Probe(
        f"mutation {{ availabilitySet(input: {{availability: BUSY}}) {{ presence {{ status }} {PAYLOAD_ERRORS} }} }}"
    ),
}
