"""The action vocabulary of automation rules and macros, and the one executor that runs it.

An action is Chatwoot's `{action_name, action_params}`: a name and a list of text parameters (global
IDs for agents, teams and webhooks; label titles; a status; a message). `REGISTRY` holds one
`ActionSpec` per name: how its parameters are checked when a rule or macro is saved (references
must be the account's), how it runs on one conversation (through the helpdesk services, so every
change writes its usual activity line and event), and which automation triggers its changes can
cause (what the cycle check reads). A new action is one `register(ActionSpec(...))` call; an
"apply SLA policy" action, say, registers its check, its run and the triggers it causes."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import Account, Conversation, Inbox, WebhookDelivery
from db.repositories import catalog as catalog_repo
from db.repositories import helpdesk as helpdesk_repo
from db.repositories import sla as sla_repo
from db.repositories import webhooks as webhook_repo
from domain.accounts.actor import Actor
from domain.automation.enums import ActionName, Trigger
from domain.catalog.labels import labels_by_titles
from domain.enums import ConversationStatus, MessageType, Priority
from domain.errors import FieldError, NotFound, ValidationError
from domain.events import outbox
from domain.helpdesk import conversations
from domain.mail import send_email
from domain.sla import tracking as sla_tracking
from domain.webhooks import payloads
from domain.webhooks.enums import WebhookDeliveryStatus
from domain.webhooks.service import DELIVER_ACTOR
from infra.api_names import decode_global_id

MAX_ACTIONS = 20
MAX_PARAMS = 20
MAX_SNOOZE_HOURS = 24 * 365

N = ActionName
T = Trigger


@dataclass(frozen=True)
class Action:
    action_name: str
    params: Sequence[str] = ()

    def payload(self) -> dict[str, Any]:
        return {"action_name": self.action_name, "params": list(self.params)}


def actions_of(rows: Sequence[dict[str, Any]]) -> list[Action]:
    return [Action(str(a["action_name"]), tuple(str(p) for p in a.get("params") or ())) for a in rows]


@dataclass
class CheckContext:
    """What a parameter check may read: the session and the account the rule or macro belongs to."""

    session: AsyncSession
    account_id: int
    errors: list[FieldError]
    path: str = "actions.0.params"

    def fail(self, code: str, message: str) -> None:
        self.errors.append(FieldError(self.path, code, message))


@dataclass
class RunContext:
    """Who runs an action list and on whose behalf: the automation actor of a rule (every change it
    makes is marked with the rule) or the agent running a macro."""

    session: AsyncSession
    actor: Actor
    source: dict[str, Any]  # {"automationRule": {...}} or {"macro": {...}}, for webhook bodies and emails
    event_name: str  # `automation_event.<trigger>` or `macro.executed`
    done: list[str] = field(default_factory=list)


Check = Callable[[CheckContext, Sequence[str]], Awaitable[None]]
Run = Callable[[RunContext, Conversation, Sequence[str]], Awaitable[None]]


@dataclass(frozen=True)
class ActionSpec:
    name: str
    check: Check
    run: Run
    # The triggers this action's changes can fire, given its parameters (the cycle check's edges).
    causes: Callable[[Sequence[str]], frozenset[Trigger]] = lambda params: frozenset()


REGISTRY: dict[str, ActionSpec] = {}


def register(spec: ActionSpec) -> ActionSpec:
    REGISTRY[spec.name] = spec
    return spec


def causes(actions: Sequence[Action]) -> frozenset[Trigger]:
    out: set[Trigger] = set()
    for action in actions:
        spec = REGISTRY.get(action.action_name)
        if spec is not None:
            out |= spec.causes(action.params)
    return frozenset(out)


async def check_actions(
    session: AsyncSession, account_id: int, actions: Sequence[Action], path: str = "actions"
) -> list[FieldError]:
    """Every error of an action list (unknown names, bad parameters, another account's references)."""
    errors: list[FieldError] = []
    if not actions:
        errors.append(FieldError(path, "REQUIRED", "Give at least one action."))
    if len(actions) > MAX_ACTIONS:
        errors.append(FieldError(path, "TOO_MANY", f"At most {MAX_ACTIONS} actions."))
        return errors
    for n, action in enumerate(actions):
        spec = REGISTRY.get(action.action_name)
        if spec is None:
            errors.append(FieldError(f"{path}.{n}.actionName", "UNKNOWN_ACTION", f"No action `{action.action_name}`."))
            continue
        ctx = CheckContext(session, account_id, errors, f"{path}.{n}.params")
        if len(action.params) > MAX_PARAMS:
            ctx.fail("TOO_MANY", f"At most {MAX_PARAMS} parameters.")
            continue
        await spec.check(ctx, action.params)
    return errors


async def execute(ctx: RunContext, conversation_id: int, actions: Sequence[Action]) -> list[str]:
    """Run the actions in order on one conversation in the caller's transaction; the names of those
    run. A failing action raises (ValidationError, NotFound, Forbidden) and the caller drops it all."""
    for action in actions:
        spec = REGISTRY.get(action.action_name)
        if spec is None:
            raise ValidationError.single("actions", "UNKNOWN_ACTION", f"No action `{action.action_name}`.")
        conversation = await _conversation(ctx, conversation_id)
        await spec.run(ctx, conversation, action.params)
        ctx.done.append(spec.name)
    await ctx.session.flush()
    return list(ctx.done)


async def _conversation(ctx: RunContext, conversation_id: int) -> Conversation:
    conversation = await helpdesk_repo.conversation_visible(ctx.session, ctx.actor, conversation_id, lock=True)
    if conversation is None:
        raise NotFound("No such conversation")
    return conversation


# --- parameter checks ------------------------------------------------------------------------------


def _exactly(ctx: CheckContext, params: Sequence[str], count: int) -> bool:
    if len(params) != count:
        ctx.fail("INVALID_VALUE", f"Give exactly {count} parameter{'s' if count != 1 else ''}.")
        return False
    return True


async def _no_params(ctx: CheckContext, params: Sequence[str]) -> None:
    _exactly(ctx, params, 0)


async def _check_agent(ctx: CheckContext, params: Sequence[str]) -> None:
    if not _exactly(ctx, params, 1):
        return
    pk = decode_global_id(params[0], "User")
    if pk is None or not await catalog_repo.account_member_user_ids(ctx.session, ctx.account_id, [pk]):
        ctx.fail("NOT_FOUND", "No such agent in this account.")


async def _teams(ctx: CheckContext, values: Sequence[str]) -> list[int] | None:
    ids = [decode_global_id(v, "Team") for v in values]
    found = [pk for pk in ids if pk is not None and await catalog_repo.team_in_account(ctx.session, ctx.account_id, pk)]
    if len(found) != len(ids):
        ctx.fail("NOT_FOUND", "No such team in this account.")
        return None
    return found


async def _check_team(ctx: CheckContext, params: Sequence[str]) -> None:
    if _exactly(ctx, params, 1):
        await _teams(ctx, params)


async def _check_sla(ctx: CheckContext, params: Sequence[str]) -> None:
    if _exactly(ctx, params, 1):
        pk = decode_global_id(params[0], "SlaPolicy")
        if pk is None or await sla_repo.policy(ctx.session, ctx.account_id, pk) is None:
            ctx.fail("NOT_FOUND", "No such SLA policy in this account.")


async def _check_labels(ctx: CheckContext, params: Sequence[str]) -> None:
    if not params:
        ctx.fail("REQUIRED", "Give at least one label.")
        return
    _, missing = await labels_by_titles(ctx.session, ctx.account_id, list(params))
    if missing:
        ctx.fail("UNKNOWN_LABEL", f"No such label: {', '.join(missing)}.")


async def _check_priority(ctx: CheckContext, params: Sequence[str]) -> None:
    if _exactly(ctx, params, 1) and params[0] not in {p.value for p in Priority} | {"none"}:
        ctx.fail("INVALID_VALUE", "Give urgent, high, medium, low or none.")


_SETTABLE = {ConversationStatus.OPEN.value, ConversationStatus.PENDING.value, ConversationStatus.RESOLVED.value}


async def _check_status(ctx: CheckContext, params: Sequence[str]) -> None:
    if _exactly(ctx, params, 1) and params[0] not in _SETTABLE:
        ctx.fail("INVALID_VALUE", "Give open, pending or resolved (snooze_conversation snoozes).")


async def _check_snooze(ctx: CheckContext, params: Sequence[str]) -> None:
    if len(params) > 1:
        ctx.fail("INVALID_VALUE", "Give at most one parameter: the hours to snooze for.")
    elif params and not (params[0].isascii() and params[0].isdigit() and 1 <= int(params[0]) <= MAX_SNOOZE_HOURS):
        ctx.fail("INVALID_VALUE", f"Give a whole number of hours from 1 to {MAX_SNOOZE_HOURS}.")


async def _check_text(ctx: CheckContext, params: Sequence[str]) -> None:
    if not _exactly(ctx, params, 1):
        return
    try:
        conversations.check_content(params[0], ctx.path)
    except ValidationError as exc:
        ctx.errors.extend(exc.errors)


async def _check_email(ctx: CheckContext, params: Sequence[str]) -> None:
    if len(params) < 2:
        ctx.fail("INVALID_VALUE", "Give the message, then one or more team IDs.")
        return
    await _check_text(ctx, params[:1])
    await _teams(ctx, params[1:])


async def _check_webhook(ctx: CheckContext, params: Sequence[str]) -> None:
    if not _exactly(ctx, params, 1):
        return
    pk = decode_global_id(params[0], "Webhook")
    webhook = await webhook_repo.webhook_in_account(ctx.session, ctx.account_id, pk) if pk is not None else None
    if webhook is None or webhook.inbox_callback:
        ctx.fail("NOT_FOUND", "No such webhook in this account.")


# --- runs ----------------------------------------------------------------------------------------


def _pk(value: str, type_name: str) -> int:
    pk = decode_global_id(value, type_name)
    if pk is None:
        raise ValidationError.single("actions", "NOT_FOUND", f"No such {type_name.lower()}.")
    return pk


async def _assign_agent(ctx: RunContext, conversation: Conversation, params: Sequence[str]) -> None:
    await conversations.change_assignee(ctx.session, ctx.actor, conversation, _pk(params[0], "User"))


async def _assign_team(ctx: RunContext, conversation: Conversation, params: Sequence[str]) -> None:
    await conversations.assign(
        ctx.session,
        ctx.actor,
        conversation.id,
        assignee_id=None,
        set_assignee=False,
        team_id=_pk(params[0], "Team"),
        set_team=True,
    )


async def _apply_sla(ctx: RunContext, conversation: Conversation, params: Sequence[str]) -> None:
    """The policy replaces any SLA the conversation had (a policy deleted since: NOT_FOUND, the run fails)."""
    await sla_tracking.apply_by_id(
        ctx.session, ctx.actor, conversation.id, _pk(params[0], "SlaPolicy"), field="actions"
    )


async def _add_labels(ctx: RunContext, conversation: Conversation, params: Sequence[str]) -> None:
    await conversations.update_labels(ctx.session, ctx.actor, conversation.id, add=params, remove=(), replace=False)


async def _remove_labels(ctx: RunContext, conversation: Conversation, params: Sequence[str]) -> None:
    await conversations.update_labels(ctx.session, ctx.actor, conversation.id, add=(), remove=params, replace=False)


async def _priority(ctx: RunContext, conversation: Conversation, params: Sequence[str]) -> None:
    priority = None if params[0] == "none" else Priority(params[0])
    await conversations.set_priority(ctx.session, ctx.actor, conversation.id, priority)


async def _status(ctx: RunContext, conversation: Conversation, params: Sequence[str]) -> None:
    await conversations.set_status(ctx.session, ctx.actor, conversation.id, ConversationStatus(params[0]), None)


async def _snooze(ctx: RunContext, conversation: Conversation, params: Sequence[str]) -> None:
    until = utcnow() + timedelta(hours=int(params[0])) if params else None
    await conversations.set_status(ctx.session, ctx.actor, conversation.id, ConversationStatus.SNOOZED, until)


async def _resolve(ctx: RunContext, conversation: Conversation, params: Sequence[str]) -> None:
    await conversations.set_status(ctx.session, ctx.actor, conversation.id, ConversationStatus.RESOLVED, None)


async def _message(ctx: RunContext, conversation: Conversation, params: Sequence[str], *, private: bool) -> None:
    inbox = await ctx.session.get_one(Inbox, conversation.inbox_id)
    await conversations.add_message(
        ctx.session,
        ctx.actor,
        conversation,
        inbox,
        content=params[0],
        private=private,
        message_type=MessageType.OUTGOING,
        content_attributes={"automation": ctx.source},
    )


async def _send_message(ctx: RunContext, conversation: Conversation, params: Sequence[str]) -> None:
    await _message(ctx, conversation, params, private=False)


async def _private_note(ctx: RunContext, conversation: Conversation, params: Sequence[str]) -> None:
    await _message(ctx, conversation, params, private=True)


async def _email_team(ctx: RunContext, conversation: Conversation, params: Sequence[str]) -> None:
    team_ids = [_pk(v, "Team") for v in params[1:]]
    members = await catalog_repo.members_of_teams(ctx.session, team_ids)
    emails = sorted({u.email for users in members.values() for u in users if u.email})
    for email in emails:
        send_email(
            ctx.session,
            to=email,
            subject=f"Conversation #{conversation.display_id}",
            paragraphs=[params[0], f"Conversation #{conversation.display_id}"],
        )


async def _webhook(ctx: RunContext, conversation: Conversation, params: Sequence[str]) -> None:
    """Chatwoot's send_webhook_event: the conversation, signed with that webhook's secret and sent by
    the webhook delivery (retries, attempts, dead letters), once per run."""
    webhook = await webhook_repo.webhook_in_account(ctx.session, conversation.account_id, _pk(params[0], "Webhook"))
    if webhook is None:
        raise ValidationError.single("actions", "NOT_FOUND", "No such webhook.")
    account = await ctx.session.get_one(Account, conversation.account_id)
    builder = payloads.PayloadBuilder(ctx.session)
    body = payloads.encode(
        {
            "event": ctx.event_name,
            "occurredAt": payloads.iso_time(utcnow()),
            "account": payloads.account_data(account),
            "conversation": await builder.conversation_data(conversation),
            **ctx.source,
        }
    )
    row = WebhookDelivery(
        account_id=conversation.account_id,
        webhook_id=webhook.id,
        event_id=None,
        event_type=ctx.event_name[:64],
        message_id=f"msg_{uuid.uuid4().hex}",
        body=body,
        status=WebhookDeliveryStatus.PENDING,
        attempt_count=0,
        created_at=utcnow(),
    )
    ctx.session.add(row)
    await ctx.session.flush()
    outbox.add_job(ctx.session, DELIVER_ACTOR, delivery_id=row.id)


async def _mute(ctx: RunContext, conversation: Conversation, params: Sequence[str]) -> None:
    await conversations.mute(ctx.session, ctx.actor, conversation.id, True)


def _always(*triggers: Trigger) -> Callable[[Sequence[str]], frozenset[Trigger]]:
    return lambda params: frozenset(triggers)


def _status_causes(params: Sequence[str]) -> frozenset[Trigger]:
    status = params[0] if params else ""
    return frozenset(
        {
            ConversationStatus.OPEN.value: {T.CONVERSATION_OPENED},
            ConversationStatus.RESOLVED.value: {T.CONVERSATION_RESOLVED},
        }.get(status, set())
    )


for _spec in (
    ActionSpec(N.ASSIGN_AGENT, _check_agent, _assign_agent, _always(T.CONVERSATION_UPDATED)),
    ActionSpec(N.ASSIGN_TEAM, _check_team, _assign_team, _always(T.CONVERSATION_UPDATED)),
    ActionSpec(N.ADD_LABEL, _check_labels, _add_labels, _always(T.CONVERSATION_UPDATED)),
    ActionSpec(N.REMOVE_LABEL, _check_labels, _remove_labels, _always(T.CONVERSATION_UPDATED)),
    ActionSpec(N.CHANGE_PRIORITY, _check_priority, _priority, _always(T.CONVERSATION_UPDATED)),
    ActionSpec(N.CHANGE_STATUS, _check_status, _status, _status_causes),
    ActionSpec(N.SNOOZE_CONVERSATION, _check_snooze, _snooze),
    ActionSpec(N.RESOLVE_CONVERSATION, _no_params, _resolve, _always(T.CONVERSATION_RESOLVED)),
    ActionSpec(N.SEND_MESSAGE, _check_text, _send_message, _always(T.MESSAGE_CREATED)),
    ActionSpec(N.ADD_PRIVATE_NOTE, _check_text, _private_note, _always(T.MESSAGE_CREATED)),
    ActionSpec(N.SEND_EMAIL_TO_TEAM, _check_email, _email_team),
    ActionSpec(N.SEND_WEBHOOK_EVENT, _check_webhook, _webhook),
    # Muting resolves the conversation (Chatwoot's mute).
    ActionSpec(N.MUTE_CONVERSATION, _no_params, _mute, _always(T.CONVERSATION_RESOLVED)),
    # Applying an SLA records no conversation event, so it feeds no rule.
    ActionSpec(N.APPLY_SLA, _check_sla, _apply_sla),
):
    register(_spec)
del _spec
