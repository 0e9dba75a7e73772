"""Resolvers of SLAs: parse input, call one domain service, build the payload."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from domain.sla import policies, tracking
from resolvers.context import Context
from resolvers.mutations import mutate
from schema.core.errors import PayloadErrors
from schema.core.ids import decode_id
from schema.sla import inputs as i
from schema.sla import types as t
from schema.sla.errors import SlaError, SlaErrorCode

Ctx = Info[Context, None]
_errors = PayloadErrors(SlaError, SlaErrorCode)

PolicyID = Annotated[strawberry.ID, strawberry.argument(description="The SLA policy's global ID.")]
ConversationID = Annotated[strawberry.ID, strawberry.argument(description="The conversation's global ID.")]
CreateArg = Annotated[i.SlaPolicyCreateInput, strawberry.argument(description="The new policy.")]
UpdateArg = Annotated[i.SlaPolicyUpdateInput, strawberry.argument(description="What changes.")]


def _kept(value: Any) -> Any:
    return policies.KEEP if value is strawberry.UNSET else value


async def sla_policies(info: Ctx) -> list[t.SlaPolicy]:
    actor = await info.context.actor()
    async with info.context.db() as session:
        rows = await policies.list_policies(session, actor)
    return [t.SlaPolicy.from_row(r) for r in rows]


async def sla_policy(info: Ctx, id: PolicyID) -> t.SlaPolicy:
    actor = await info.context.actor()
    pk = decode_id(id, "SlaPolicy")
    async with info.context.db() as session:
        row = await policies.get_policy(session, actor, pk)
    return t.SlaPolicy.from_row(row)


async def sla_policy_create(info: Ctx, input: CreateArg) -> t.SlaPolicyPayload:
    actor = await info.context.actor()
    values = {
        "name": input.name,
        "description": input.description,
        "firstResponseSeconds": input.first_response_seconds,
        "nextResponseSeconds": input.next_response_seconds,
        "resolutionSeconds": input.resolution_seconds,
        "businessHoursOnly": input.business_hours_only,
    }

    async def work(session) -> t.SlaPolicyPayload:
        row = await policies.create_policy(session, actor, values, info.context.meta)
        return t.SlaPolicyPayload(sla_policy=t.SlaPolicy.from_row(row), errors=[])

    return await mutate(info, _errors, work, lambda e: t.SlaPolicyPayload(sla_policy=None, errors=e))


async def sla_policy_update(info: Ctx, id: PolicyID, input: UpdateArg) -> t.SlaPolicyPayload:
    actor = await info.context.actor()
    pk = decode_id(id, "SlaPolicy")
    changes = {
        "name": _kept(input.name),
        "description": _kept(input.description),
        "firstResponseSeconds": _kept(input.first_response_seconds),
        "nextResponseSeconds": _kept(input.next_response_seconds),
        "resolutionSeconds": _kept(input.resolution_seconds),
        "businessHoursOnly": _kept(input.business_hours_only),
    }

    async def work(session) -> t.SlaPolicyPayload:
        row = await policies.update_policy(session, actor, pk, changes, info.context.meta)
        return t.SlaPolicyPayload(sla_policy=t.SlaPolicy.from_row(row), errors=[])

    return await mutate(info, _errors, work, lambda e: t.SlaPolicyPayload(sla_policy=None, errors=e))


async def sla_policy_delete(info: Ctx, id: PolicyID) -> t.SlaPolicyPayload:
    actor = await info.context.actor()
    pk = decode_id(id, "SlaPolicy")

    async def work(session) -> t.SlaPolicyPayload:
        row = await policies.delete_policy(session, actor, pk, info.context.meta)
        return t.SlaPolicyPayload(sla_policy=t.SlaPolicy.from_row(row), errors=[])

    return await mutate(info, _errors, work, lambda e: t.SlaPolicyPayload(sla_policy=None, errors=e))


async def conversation_sla_apply(
    info: Ctx,
    id: ConversationID,
    sla_policy_id: Annotated[strawberry.ID, strawberry.argument(description="The policy to apply.")],
) -> t.ConversationSlaPayload:
    from schema.helpdesk.types import Conversation

    actor = await info.context.actor()
    pk = decode_id(id, "Conversation")
    try:
        policy_pk: int | None = decode_id(sla_policy_id, "SlaPolicy")
    except Exception:  # noqa: BLE001 - a malformed id is a policy that does not exist
        policy_pk = None

    async def work(session) -> t.ConversationSlaPayload:
        if policy_pk is None:
            from domain.errors import ValidationError

            raise ValidationError.single("slaPolicyId", "NOT_FOUND", "No such SLA policy in this account.")
        row = await tracking.apply_by_id(session, actor, pk, policy_pk)
        return t.ConversationSlaPayload(conversation=Conversation.from_row(row), errors=[])

    return await mutate(info, _errors, work, lambda e: t.ConversationSlaPayload(conversation=None, errors=e))


async def conversation_sla_remove(info: Ctx, id: ConversationID) -> t.ConversationSlaPayload:
    from schema.helpdesk.types import Conversation

    actor = await info.context.actor()
    pk = decode_id(id, "Conversation")

    async def work(session) -> t.ConversationSlaPayload:
        row = await tracking.remove(session, actor, pk)
        return t.ConversationSlaPayload(conversation=Conversation.from_row(row), errors=[])

    return await mutate(info, _errors, work, lambda e: t.ConversationSlaPayload(conversation=None, errors=e))
