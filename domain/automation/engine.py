"""Running automation rules: the `automation.run` consumer of the event log, after commit, in the
job's unit of work.

Each committed conversation event is read as Chatwoot's automation events (created; updated, which
assignee, team, labels, priority and custom attribute changes are; opened and resolved, status
changes to open or resolved; message_created for incoming and outgoing messages, not activity
lines). Every active rule of the account listening to it is checked against the conversation as it
is now and, when its conditions match, runs its actions as the automation actor in a savepoint: a
failing action drops everything that rule did. Each meeting of a rule and an event is one
`automation_runs` row (one at most: a retried job skips rules that already ran).

Loops: every event a rule's actions record carries `automation_rule_id` in its payload, and such
events trigger no rule (Chatwoot skips events performed by an automation rule). A hard guard stands
behind it: a conversation on which rules ran GUARD_RUNS times within GUARD_WINDOW runs no more rules
until the window passes (runs are recorded as `skipped`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import AutomationRule, AutomationRun, Event
from db.repositories import automation as repo
from db.repositories import events as event_repo
from domain.accounts.actor import Actor, ActorKind
from domain.automation.actions import RunContext, actions_of, execute
from domain.automation.conditions import matches
from domain.automation.enums import RunOutcome, Trigger
from domain.automation.rules import conditions_of
from domain.enums import ConversationStatus, MessageType
from domain.errors import Forbidden, NotFound, ValidationError
from domain.events.enums import CONSUMERS, Consumer, EventType
from domain.events.pending import pending
from infra.api_names import encode_global_id

MARK = "automation_rule_id"  # in the payload of every event an automation rule's actions recorded
GUARD_RUNS = 20
GUARD_WINDOW = timedelta(minutes=1)
MAX_ERROR = 1000

_UPDATED = {EventType.CONVERSATION_UPDATED, EventType.ASSIGNEE_CHANGED, EventType.TEAM_CHANGED}
_SENT = {MessageType.INCOMING.value, MessageType.OUTGOING.value}


def automation_actor(rule: AutomationRule) -> Actor:
    """Who a rule acts as: a system actor of the account that sees all its conversations (activity
    lines name it "Automation"; its messages are sent by no user)."""
    return Actor(kind=ActorKind.bot, account_id=rule.account_id, label="bot:Automation")


def trigger_of(event: Event) -> Trigger | None:
    payload = event.payload or {}
    if payload.get(MARK) is not None or event.conversation_id is None:
        return None
    if event.type == EventType.CONVERSATION_CREATED:
        return Trigger.CONVERSATION_CREATED
    if event.type in _UPDATED:
        return Trigger.CONVERSATION_UPDATED
    if event.type == EventType.CONVERSATION_STATUS_CHANGED:
        status = ((payload.get("changed_attributes") or {}).get("status") or [None, None])[-1]
        return {
            ConversationStatus.OPEN.value: Trigger.CONVERSATION_OPENED,
            ConversationStatus.RESOLVED.value: Trigger.CONVERSATION_RESOLVED,
        }.get(status)
    if event.type == EventType.MESSAGE_CREATED and payload.get("message_type") in _SENT:
        return Trigger.MESSAGE_CREATED
    return None


async def run(session: AsyncSession, event_ids: Sequence[int]) -> int:
    """Run the rules these events trigger; the number of runs recorded."""
    events = await event_repo.events_by_ids(session, event_ids, CONSUMERS[Consumer.AUTOMATION])
    listening: dict[tuple[int, Trigger], Sequence[AutomationRule]] = {}
    todo: list[tuple[Event, Trigger, Sequence[AutomationRule]]] = []
    for event in events:
        trigger = trigger_of(event)
        if trigger is None:
            continue
        key = (event.account_id, trigger)
        if key not in listening:
            listening[key] = await repo.active_rules(session, event.account_id, [trigger.value])
        if listening[key]:
            todo.append((event, trigger, listening[key]))
    if not todo:
        return 0
    # Runs on one conversation are serialised by its row lock (taken in id order: no deadlock between
    # two jobs), so the flood guard counts every run committed before this one: two jobs counting at
    # once would both see room for one more.
    await repo.lock_conversations(
        session, sorted({event.conversation_id for event, _, _ in todo if event.conversation_id})
    )
    count = 0
    for event, trigger, rules in todo:
        done = await repo.ran_already(session, [r.id for r in rules], event.id)
        for rule in rules:
            if rule.id not in done:
                await _run_rule(session, rule, event, trigger)
                count += 1
    return count


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{e.field}: {e.message}" if e.field else e.message for e in exc.errors)[:MAX_ERROR]
    return str(exc)[:MAX_ERROR]


async def _run_rule(session: AsyncSession, rule: AutomationRule, event: Event, trigger: Trigger) -> None:
    assert event.conversation_id is not None
    run = AutomationRun(
        account_id=rule.account_id,
        rule_id=rule.id,
        event_id=event.id,
        conversation_id=event.conversation_id,
        outcome=RunOutcome.NOT_MATCHED.value,
        actions_done=[],
        created_at=utcnow(),
    )
    if await repo.recent_runs_done(session, event.conversation_id, run.created_at - GUARD_WINDOW) >= GUARD_RUNS:
        run.outcome, run.error = RunOutcome.SKIPPED.value, f"More than {GUARD_RUNS} runs on this conversation a minute."
    else:
        await _evaluate(session, rule, event, trigger, run)
    session.add(run)
    await session.flush()


async def _evaluate(
    session: AsyncSession, rule: AutomationRule, event: Event, trigger: Trigger, run: AutomationRun
) -> None:
    assert event.conversation_id is not None
    try:
        matched = await matches(
            session, rule.account_id, trigger, conditions_of(rule), event.conversation_id, event.message_id
        )
    except ValidationError as exc:  # an attribute or label the rule names was deleted since
        run.outcome, run.error = RunOutcome.FAILED.value, _message(exc)
        return
    if not matched:
        return
    work = pending(session)
    events_mark, jobs_mark = len(work.events), len(work.jobs)
    ctx = RunContext(
        session,
        automation_actor(rule),
        source={"automationRule": {"id": encode_global_id("AutomationRule", rule.id), "name": rule.name}},
        event_name=f"automation_event.{trigger.value}",
    )
    try:
        async with session.begin_nested():
            await execute(ctx, event.conversation_id, actions_of(rule.actions))
    except (ValidationError, NotFound, Forbidden) as exc:
        del work.events[events_mark:]
        del work.jobs[jobs_mark:]
        run.outcome, run.error, run.actions_done = RunOutcome.FAILED.value, _message(exc), list(ctx.done)
        return
    for caused in work.events[events_mark:]:
        caused.payload = {**(caused.payload or {}), MARK: rule.id}
    run.outcome, run.actions_done = RunOutcome.DONE.value, list(ctx.done)
