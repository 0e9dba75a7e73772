"""Root fields of SLAs, merged into the schema's Query and Mutation."""

from __future__ import annotations

import strawberry

from domain.accounts.policy import Rule
from domain.sla.policies import MAX_POLICIES
from resolvers import sla as r
from schema.core.access import field, mutation
from schema.sla import types as t


@strawberry.type
class SlaQuery:
    sla_policies: list[t.SlaPolicy] = field(
        r.sla_policies, Rule.member, f"Every SLA policy of the account (at most {MAX_POLICIES}), by name."
    )
    sla_policy: t.SlaPolicy = field(
        r.sla_policy, Rule.member, "One SLA policy of the account; NOT_FOUND for any other ID."
    )


@strawberry.type
class SlaMutation:
    sla_policy_create: t.SlaPolicyPayload = mutation(
        r.sla_policy_create,
        Rule.administrator,
        "Create an SLA policy. Errors: REQUIRED (name), TAKEN (name), OUT_OF_RANGE (a target not from 1 second to a "
        "year), NO_TARGET (no target at all), LIMIT_REACHED.",
    )
    sla_policy_update: t.SlaPolicyPayload = mutation(
        r.sla_policy_update,
        Rule.administrator,
        "Change an SLA policy; SLAs already applied keep their running deadlines. Errors as for slaPolicyCreate.",
    )
    sla_policy_delete: t.SlaPolicyPayload = mutation(
        r.sla_policy_delete, Rule.administrator, "Delete an SLA policy; the SLAs it applied are removed with it."
    )
    conversation_sla_apply: t.ConversationSlaPayload = mutation(
        r.conversation_sla_apply,
        Rule.member,
        "Apply an SLA policy to a conversation you may see (replacing any it had); its clocks run from the "
        "conversation's creation and the message that waits. Errors: NOT_FOUND (slaPolicyId) for a policy of "
        "another account.",
    )
    conversation_sla_remove: t.ConversationSlaPayload = mutation(
        r.conversation_sla_remove, Rule.member, "Remove a conversation's SLA. Errors: NO_SLA when it has none."
    )
