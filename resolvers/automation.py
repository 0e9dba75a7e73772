"""Resolvers of automation rules, their runs and macros."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from db.repositories import automation as repo
from domain.automation import macros, rules
from domain.automation.actions import Action
from domain.filters.conditions import Condition
from resolvers.context import Context
from resolvers.mutations import mutate
from schema.automation import types as t
from schema.automation.errors import AutomationError, AutomationErrorCode
from schema.core.errors import PayloadErrors
from schema.core.ids import decode_id, decode_optional
from schema.core.pagination import Connection, build_connection, decode_int_cursor, page_size
from schema.helpdesk.inputs import FilterConditionInput

Ctx = Info[Context, None]
_errors = PayloadErrors(AutomationError, AutomationErrorCode)

RuleID = Annotated[strawberry.ID, strawberry.argument(description="The rule's global ID.")]
MacroID = Annotated[strawberry.ID, strawberry.argument(description="The macro's global ID.")]
First = Annotated[int | None, strawberry.argument(description="Page size (default 25, at most 100).")]
After = Annotated[str | None, strawberry.argument(description="The `endCursor` of the previous page.")]


def _conditions(items: list[FilterConditionInput] | None) -> list[Condition] | None:
    if items is None:
        return None
    return [Condition(c.attribute_key, c.filter_operator, tuple(c.values), c.query_operator) for c in items]


def _actions(items: list[t.AutomationActionInput] | None) -> list[Action] | None:
    if items is None:
        return None
    return [Action(a.action_name, tuple(a.params)) for a in items]


def _rule_failed(errors) -> t.AutomationRulePayload:
    return t.AutomationRulePayload(automation_rule=None, errors=errors)


def _macro_failed(errors) -> t.MacroPayload:
    return t.MacroPayload(macro=None, errors=errors)


async def automation_rules(info: Ctx) -> list[t.AutomationRule]:
    actor = await info.context.actor()
    async with info.context.db() as session:
        rows = await rules.list_rules(session, actor)
    return [t.AutomationRule.from_row(r) for r in rows]


async def automation_rule(info: Ctx, id: RuleID) -> t.AutomationRule:
    actor = await info.context.actor()
    async with info.context.db() as session:
        row = await rules.rule_of(session, actor, decode_id(id, "AutomationRule"))
    return t.AutomationRule.from_row(row)


async def automation_runs(
    info: Ctx,
    rule_id: Annotated[strawberry.ID | None, strawberry.argument(description="Only this rule's runs.")] = None,
    first: First = None,
    after: After = None,
) -> Connection[t.AutomationRun]:
    actor = await info.context.actor()
    limit = page_size(first)
    async with info.context.db() as session:
        pk = decode_optional(rule_id, "AutomationRule")
        if pk is not None:
            await rules.rule_of(session, actor, pk)  # another account's rule is not found
        rows = await repo.runs_page(session, actor.require_account_id(), pk, decode_int_cursor(after), limit + 1)
    return build_connection(rows, limit, t.AutomationRun.from_row, lambda r: r.id, after is not None)


async def automation_rule_create(info: Ctx, input: t.AutomationRuleCreateInput) -> t.AutomationRulePayload:
    actor = await info.context.actor()
    data = rules.RuleInput(
        name=input.name,
        description=input.description,
        event_name=input.event_name.value,
        conditions=_conditions(input.conditions),
        actions=_actions(input.actions),
        active=input.active,
    )

    async def work(session) -> t.AutomationRulePayload:
        row = await rules.create_rule(session, actor, data)
        return t.AutomationRulePayload(automation_rule=t.AutomationRule.from_row(row), errors=[])

    return await mutate(info, _errors, work, _rule_failed)


async def automation_rule_update(info: Ctx, id: RuleID, input: t.AutomationRuleUpdateInput) -> t.AutomationRulePayload:
    actor = await info.context.actor()
    pk = decode_id(id, "AutomationRule")
    data = rules.RuleInput(
        name=input.name,
        description=input.description,
        event_name=input.event_name.value if input.event_name is not None else None,
        conditions=_conditions(input.conditions),
        actions=_actions(input.actions),
        active=input.active,
    )

    async def work(session) -> t.AutomationRulePayload:
        row = await rules.update_rule(session, actor, pk, data)
        return t.AutomationRulePayload(automation_rule=t.AutomationRule.from_row(row), errors=[])

    return await mutate(info, _errors, work, _rule_failed)


async def automation_rule_delete(info: Ctx, id: RuleID) -> t.AutomationRulePayload:
    actor = await info.context.actor()
    pk = decode_id(id, "AutomationRule")

    async def work(session) -> t.AutomationRulePayload:
        row = await rules.delete_rule(session, actor, pk)
        return t.AutomationRulePayload(automation_rule=t.AutomationRule.from_row(row), errors=[])

    return await mutate(info, _errors, work, _rule_failed)


async def macros_list(info: Ctx) -> list[t.Macro]:
    actor = await info.context.actor()
    async with info.context.db() as session:
        rows = await macros.list_macros(session, actor)
    return [t.Macro.from_row(r) for r in rows]


async def macro_create(info: Ctx, input: t.MacroCreateInput) -> t.MacroPayload:
    actor = await info.context.actor()

    async def work(session) -> t.MacroPayload:
        row = await macros.create_macro(
            session, actor, name=input.name, actions=_actions(input.actions) or [], account_wide=input.account_wide
        )
        return t.MacroPayload(macro=t.Macro.from_row(row), errors=[])

    return await mutate(info, _errors, work, _macro_failed)


async def macro_update(info: Ctx, id: MacroID, input: t.MacroUpdateInput) -> t.MacroPayload:
    actor = await info.context.actor()
    pk = decode_id(id, "Macro")

    async def work(session) -> t.MacroPayload:
        row = await macros.update_macro(session, actor, pk, name=input.name, actions=_actions(input.actions))
        return t.MacroPayload(macro=t.Macro.from_row(row), errors=[])

    return await mutate(info, _errors, work, _macro_failed)


async def macro_delete(info: Ctx, id: MacroID) -> t.MacroPayload:
    actor = await info.context.actor()
    pk = decode_id(id, "Macro")

    async def work(session) -> t.MacroPayload:
        row = await macros.delete_macro(session, actor, pk)
        return t.MacroPayload(macro=t.Macro.from_row(row), errors=[])

    return await mutate(info, _errors, work, _macro_failed)


async def macro_execute(
    info: Ctx,
    id: MacroID,
    conversation_ids: Annotated[
        list[strawberry.ID],
        strawberry.argument(description="The conversations to run it on (1 to 100, all visible to you)."),
    ],
) -> t.MacroExecutePayload:
    actor = await info.context.actor()
    pk = decode_id(id, "Macro")
    ids = [decode_id(c, "Conversation") for c in conversation_ids[:101]]

    async def work(session) -> t.MacroExecutePayload:
        run = await macros.execute_macro(session, actor, pk, ids)
        return t.MacroExecutePayload(
            conversation_ids=[strawberry.ID(c) for c in conversation_ids if c], actions_done=run.actions_done, errors=[]
        )

    return await mutate(
        info, _errors, work, lambda e: t.MacroExecutePayload(conversation_ids=[], actions_done=[], errors=e)
    )
