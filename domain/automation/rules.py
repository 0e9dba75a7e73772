"""Automation rules: administrators keep an account's rules (Chatwoot's automation_rules). A rule is
saved only when every condition compiles (known attribute, operator of its type, valid values),
every action is known and names only the account's agents, teams, labels and webhooks, and the
account's active rules stay free of cycles.

A cycle: draw an edge from rule A to rule B when one of A's actions can cause B's trigger
(`ActionSpec.causes`: labels, priority, agent or team → conversation_updated; a status of open or
resolved, resolve and mute → conversation_opened / conversation_resolved; a message or note →
message_created), unless B cannot match what A causes: every message an action writes is outgoing,
so a message_created rule whose conditions, all joined by AND, include `message_type equal_to`
without `outgoing` (the usual auto-reply to incoming messages) has no edge into it. A cycle is a
closed path over the account's active rules, a rule whose actions cause its own trigger included.
Other conditions are not read: the check is static, so a rule that could ever feed itself or
another rule feeding it back is refused with CYCLE (at run time nothing an automation does fires
rules again anyway, see domain/automation/engine.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.models import AutomationRule
from db.repositories import automation as repo
from domain.accounts.actor import Actor
from domain.automation import actions as action_registry
from domain.automation.actions import Action, actions_of
from domain.automation.conditions import compiler
from domain.automation.enums import Trigger
from domain.catalog.checks import required
from domain.errors import FieldError, Forbidden, NotFound, ValidationError
from domain.filters.conditions import Condition

MAX_RULES = 100
MAX_NAME = 100
MAX_DESCRIPTION = 500


@dataclass(frozen=True)
class RuleInput:
    name: str | None = None
    description: str | None = None
    event_name: str | None = None
    conditions: Sequence[Condition] | None = None
    actions: Sequence[Action] | None = None
    active: bool | None = None


def conditions_of(rule: AutomationRule) -> list[Condition]:
    return [
        Condition(c["attribute_key"], c["filter_operator"], tuple(c.get("values") or ()), c.get("query_operator"))
        for c in rule.conditions or []
    ]


def _condition_payload(conditions: Sequence[Condition]) -> list[dict[str, Any]]:
    return [
        {
            "attribute_key": c.attribute_key,
            "filter_operator": c.filter_operator.lower(),
            "values": list(c.values),
            "query_operator": c.query_operator.lower() if c.query_operator else None,
        }
        for c in conditions
    ]


def _admin(actor: Actor) -> int:
    if not actor.is_administrator:
        raise Forbidden("Only administrators manage automation rules")
    return actor.require_account_id()


async def list_rules(session: AsyncSession, actor: Actor) -> Sequence[AutomationRule]:
    return await repo.rules_of_account(session, _admin(actor))


async def rule_of(session: AsyncSession, actor: Actor, rule_id: int) -> AutomationRule:
    rule = await repo.rule_in_account(session, _admin(actor), rule_id)
    if rule is None:
        raise NotFound("No such automation rule")
    return rule


def listens(trigger: Trigger, conditions: Sequence[Condition]) -> Trigger | None:
    """The trigger as the cycle check reads it: None for a message rule that only outgoing messages,
    the only ones actions write, can never match."""
    if trigger != Trigger.MESSAGE_CREATED or any((c.query_operator or "and").lower() == "or" for c in conditions[:-1]):
        return trigger
    for c in conditions:
        if c.attribute_key == "message_type" and c.filter_operator.lower() == "equal_to" and "outgoing" not in c.values:
            return None
    return trigger


def find_cycle(rules: Sequence[tuple[int, str, Trigger | None, frozenset[Trigger]]], start: int) -> list[str] | None:
    """A closed path through `start` over (id, name, trigger as `listens` reads it, triggers its
    actions cause); the names along it, or None."""
    by_id = {r[0]: r for r in rules}
    path: list[int] = []

    def walk(node: int, seen: set[int]) -> bool:
        path.append(node)
        for other in rules:
            if other[2] not in by_id[node][3]:
                continue
            if other[0] == start:
                return True
            if other[0] not in seen:
                seen.add(other[0])
                if walk(other[0], seen):
                    return True
        path.pop()
        return False

    if start in by_id and walk(start, {start}):
        return [by_id[i][1] for i in path] + [by_id[start][1]]
    return None


async def _check(
    session: AsyncSession,
    account_id: int,
    rule_id: int | None,
    name: str,
    trigger_raw: str,
    conditions: Sequence[Condition],
    actions: Sequence[Action],
    active: bool,
    errors: list[FieldError],
) -> Trigger | None:
    other = await repo.rule_named(session, account_id, name) if name else None
    if other is not None and other.id != rule_id:
        errors.append(FieldError("name", "TAKEN", "A rule with this name exists."))
    try:
        trigger: Trigger | None = Trigger(trigger_raw)
    except ValueError:
        errors.append(FieldError("eventName", "INVALID", f"Unknown event `{trigger_raw}`."))
        trigger = None
    if trigger is not None:
        try:
            (await compiler(session, account_id, trigger)).compile(conditions)
        except ValidationError as exc:
            errors.extend(exc.errors)
    errors.extend(await action_registry.check_actions(session, account_id, actions))
    if errors or trigger is None or not active:
        return trigger
    me = rule_id or 0
    graph = [
        (r.id, r.name, listens(Trigger(r.event_name), conditions_of(r)), action_registry.causes(actions_of(r.actions)))
        for r in await repo.rules_of_account(session, account_id)
        if r.active and r.id != me
    ]
    graph.append((me, name, listens(trigger, conditions), action_registry.causes(actions)))
    cycle = find_cycle(graph, me)
    if cycle is not None:
        errors.append(
            FieldError("actions", "CYCLE", "These rules would trigger each other: " + " → ".join(cycle) + ".")
        )
    return trigger


async def create_rule(session: AsyncSession, actor: Actor, data: RuleInput) -> AutomationRule:
    account_id = _admin(actor)
    errors: list[FieldError] = []
    name = required(data.name or "", "name", errors, MAX_NAME)
    description = (data.description or "").strip()
    if len(description) > MAX_DESCRIPTION:
        errors.append(FieldError("description", "TOO_LONG", f"At most {MAX_DESCRIPTION} characters."))
    conditions, actions = list(data.conditions or ()), list(data.actions or ())
    active = True if data.active is None else data.active
    trigger = await _check(session, account_id, None, name, data.event_name or "", conditions, actions, active, errors)
    if errors:
        raise ValidationError(errors)
    if await repo.count_rules(session, account_id) >= MAX_RULES:
        raise ValidationError.single(None, "LIMIT_REACHED", f"At most {MAX_RULES} automation rules.")
    assert trigger is not None
    rule = AutomationRule(
        account_id=account_id,
        name=name,
        description=description,
        event_name=trigger.value,
        conditions=_condition_payload(conditions),
        actions=[a.payload() for a in actions],
        active=active,
    )
    session.add(rule)
    await session.flush()
    return rule


async def update_rule(session: AsyncSession, actor: Actor, rule_id: int, data: RuleInput) -> AutomationRule:
    account_id = _admin(actor)
    rule = await repo.rule_in_account(session, account_id, rule_id, lock=True)
    if rule is None:
        raise NotFound("No such automation rule")
    errors: list[FieldError] = []
    name = required(data.name, "name", errors, MAX_NAME) if data.name is not None else rule.name
    description = data.description.strip() if data.description is not None else rule.description
    if len(description) > MAX_DESCRIPTION:
        errors.append(FieldError("description", "TOO_LONG", f"At most {MAX_DESCRIPTION} characters."))
    conditions = list(data.conditions) if data.conditions is not None else conditions_of(rule)
    actions = list(data.actions) if data.actions is not None else actions_of(rule.actions)
    active = rule.active if data.active is None else data.active
    event_name = data.event_name if data.event_name is not None else rule.event_name
    trigger = await _check(session, account_id, rule.id, name, event_name, conditions, actions, active, errors)
    if errors:
        raise ValidationError(errors)
    assert trigger is not None
    rule.name, rule.description, rule.event_name, rule.active = name, description, trigger.value, active
    rule.conditions = _condition_payload(conditions)
    rule.actions = [a.payload() for a in actions]
    await session.flush()
    return rule


async def delete_rule(session: AsyncSession, actor: Actor, rule_id: int) -> AutomationRule:
    rule = await repo.rule_in_account(session, _admin(actor), rule_id, lock=True)
    if rule is None:
        raise NotFound("No such automation rule")
    await session.delete(rule)
    await session.flush()
    return rule
