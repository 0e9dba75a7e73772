"""The SLA applied to a conversation (Chatwoot's `applied_slas`): its targets' deadlines, computed in
working time when the policy says so, kept as the conversation changes, and the scheduler's pass
that records warnings and misses.

- First response: from the conversation's creation until an agent's first public reply.
- Next response: from a contact's message that waits (after the first reply) until the next reply.
- Resolution: from the creation (a reopening starts it again) until the conversation is resolved.

A target running shows its deadline and warning instant; met, missed or stopped, both are cleared,
so a deadline is acted on once: the pass (`evaluate_due`) claims the rows with a lock, skipping any
another scheduler holds, and records the event in the same transaction that clears the instant.
`apply` is the one way an SLA starts: the `conversationSlaApply` mutation and automation rules call it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import AppliedSla, Conversation, Inbox, SlaPolicy
from db.repositories import sla as repo
from domain import events
from domain.accounts.actor import Actor
from domain.enums import ConversationStatus
from domain.errors import NotFound, ValidationError
from domain.events.enums import EventType
from domain.reports.business_hours import add_business_seconds
from domain.sla.enums import SlaStatus, SlaTarget

WARN_AT = 0.8  # the share of a target's time after which the SLA warns
MAX_PER_PASS = 500
TARGET_FIELDS = {
    SlaTarget.FIRST_RESPONSE: "first_response",
    SlaTarget.NEXT_RESPONSE: "next_response",
    SlaTarget.RESOLUTION: "resolution",
}


def _seconds(policy: SlaPolicy, target: SlaTarget) -> int | None:
    return {
        SlaTarget.FIRST_RESPONSE: policy.first_response_seconds,
        SlaTarget.NEXT_RESPONSE: policy.next_response_seconds,
        SlaTarget.RESOLUTION: policy.resolution_seconds,
    }[target]


def _after(start: datetime, seconds: float, policy: SlaPolicy, inbox: Inbox) -> datetime | None:
    return add_business_seconds(
        start,
        seconds,
        enabled=policy.business_hours_only and inbox.working_hours_enabled,
        hours=inbox.working_hours,
        timezone=inbox.timezone,
    )


def _start(applied: AppliedSla, target: SlaTarget, at: datetime, policy: SlaPolicy, inbox: Inbox) -> None:
    seconds = _seconds(policy, target)
    name = TARGET_FIELDS[target]
    if seconds is None:
        return
    setattr(applied, f"{name}_due_at", _after(at, seconds, policy, inbox))
    setattr(applied, f"{name}_warn_at", _after(at, seconds * WARN_AT, policy, inbox))


def _stop(applied: AppliedSla, target: SlaTarget) -> None:
    name = TARGET_FIELDS[target]
    setattr(applied, f"{name}_due_at", None)
    setattr(applied, f"{name}_warn_at", None)


def _running(applied: AppliedSla, target: SlaTarget) -> bool:
    return getattr(applied, f"{TARGET_FIELDS[target]}_due_at") is not None


def _missed_any(applied: AppliedSla) -> bool:
    return applied.first_response_missed or applied.next_response_missed or applied.resolution_missed


def _settle(applied: AppliedSla, conversation: Conversation) -> None:
    """The derived columns: status, the next deadline (also on the conversation), the next check."""
    dues = [getattr(applied, f"{n}_due_at") for n in TARGET_FIELDS.values()]
    warns = [getattr(applied, f"{n}_warn_at") for n in TARGET_FIELDS.values()]
    pending = [d for d in dues if d is not None]
    applied.check_at = min([*pending, *(w for w in warns if w is not None)], default=None)
    conversation.sla_due_at = min(pending, default=None)
    if conversation.status == ConversationStatus.RESOLVED:
        applied.status = SlaStatus.MISSED if _missed_any(applied) else SlaStatus.HIT
    else:
        applied.status = SlaStatus.ACTIVE_WITH_MISSES if _missed_any(applied) else SlaStatus.ACTIVE


async def _inbox(session: AsyncSession, conversation: Conversation) -> Inbox:
    return await session.get_one(Inbox, conversation.inbox_id)


async def apply(
    session: AsyncSession, conversation: Conversation, policy: SlaPolicy, now: datetime | None = None
) -> AppliedSla:
    """Apply `policy` (of the conversation's account) to the loaded, locked conversation, replacing
    any SLA it had. The clocks run from the conversation's own history, as Chatwoot's: the first
    response and resolution from its creation, the next response from the message that waits."""
    if policy.account_id != conversation.account_id:
        raise NotFound("No such SLA policy")
    now = now or utcnow()
    await repo.remove_applied(session, conversation)
    inbox = await _inbox(session, conversation)
    applied = AppliedSla(
        account_id=conversation.account_id,
        sla_policy_id=policy.id,
        conversation_id=conversation.id,
        first_response_missed=False,
        next_response_missed=False,
        resolution_missed=False,
        created_at=now,
    )
    if conversation.status != ConversationStatus.RESOLVED:
        if conversation.first_reply_created_at is None:
            _start(applied, SlaTarget.FIRST_RESPONSE, conversation.created_at, policy, inbox)
        elif conversation.waiting_since is not None:
            _start(applied, SlaTarget.NEXT_RESPONSE, conversation.waiting_since, policy, inbox)
        _start(applied, SlaTarget.RESOLUTION, conversation.created_at, policy, inbox)
    conversation.sla_policy_id = policy.id
    _settle(applied, conversation)
    session.add(applied)
    await session.flush()
    return applied


async def apply_by_id(
    session: AsyncSession, actor: Actor, conversation_id: int, policy_id: int, field: str = "slaPolicyId"
) -> Conversation:
    """`conversationSlaApply`: a policy of the caller's account on a conversation they may see."""
    from domain.helpdesk.conversations import visible_for_update

    conversation = await visible_for_update(session, actor, conversation_id)
    policy = await repo.policy(session, conversation.account_id, policy_id)
    if policy is None:
        raise ValidationError.single(field, "NOT_FOUND", "No such SLA policy in this account.")
    await apply(session, conversation, policy)
    return conversation


async def remove(session: AsyncSession, actor: Actor, conversation_id: int) -> Conversation:
    from domain.helpdesk.conversations import visible_for_update

    conversation = await visible_for_update(session, actor, conversation_id)
    if conversation.sla_policy_id is None:
        raise ValidationError.single("id", "NO_SLA", "This conversation has no SLA.")
    await repo.remove_applied(session, conversation)
    conversation.sla_policy_id = None
    conversation.sla_due_at = None
    await session.flush()
    return conversation


async def detach_policy(session: AsyncSession, policy: SlaPolicy) -> None:
    await repo.detach_conversations(session, policy.account_id, policy.id)


# --- the conversation changes (domain/helpdesk/conversations.py calls these) -------------------------


async def _loaded(session: AsyncSession, conversation: Conversation) -> tuple[AppliedSla, SlaPolicy, Inbox] | None:
    if conversation.sla_policy_id is None:
        return None  # no statement for conversations without an SLA
    applied = await repo.applied_of(session, conversation)
    if applied is None:
        return None
    policy = await session.get_one(SlaPolicy, applied.sla_policy_id)
    return applied, policy, await _inbox(session, conversation)


async def contact_wrote(session: AsyncSession, conversation: Conversation, now: datetime, reopened: bool) -> None:
    """A contact's message that waits: after the first reply it starts the next response (unless one
    runs); reopening a resolved conversation starts the resolution again."""
    found = await _loaded(session, conversation)
    if found is None:
        return
    applied, policy, inbox = found
    if reopened:
        _start(applied, SlaTarget.RESOLUTION, now, policy, inbox)
    if conversation.first_reply_created_at is not None and not _running(applied, SlaTarget.NEXT_RESPONSE):
        _start(applied, SlaTarget.NEXT_RESPONSE, conversation.waiting_since or now, policy, inbox)
    _settle(applied, conversation)


async def agent_replied(session: AsyncSession, conversation: Conversation) -> None:
    """An agent's public reply meets the first or next response that runs."""
    found = await _loaded(session, conversation)
    if found is None:
        return
    applied, _, _ = found
    _stop(applied, SlaTarget.FIRST_RESPONSE)
    _stop(applied, SlaTarget.NEXT_RESPONSE)
    _settle(applied, conversation)


async def status_changed(
    session: AsyncSession, conversation: Conversation, previous: ConversationStatus, now: datetime
) -> None:
    """Resolving meets the resolution and stops the rest; reopening starts the resolution again."""
    found = await _loaded(session, conversation)
    if found is None:
        return
    applied, policy, inbox = found
    if conversation.status == ConversationStatus.RESOLVED:
        for target in SlaTarget:
            _stop(applied, target)
    elif previous == ConversationStatus.RESOLVED:
        _start(applied, SlaTarget.RESOLUTION, now, policy, inbox)
        if conversation.first_reply_created_at is None:
            _start(applied, SlaTarget.FIRST_RESPONSE, conversation.created_at, policy, inbox)
    _settle(applied, conversation)


# --- the scheduler's pass ------------------------------------------------------------------------------


async def evaluate_due(
    session: AsyncSession, now: datetime | None = None, limit: int = MAX_PER_PASS
) -> tuple[int, int]:
    """Record the warnings and misses due by `now`: (events recorded, rows claimed)."""
    now = now or utcnow()
    claimed = await repo.claim_due(session, now, limit)
    if not claimed:
        return 0, 0
    conversations = await repo.conversations_by_ids(session, {a.conversation_id for a in claimed})
    recorded = 0
    for applied in claimed:
        conversation = conversations.get(applied.conversation_id)
        if conversation is None:
            continue
        for target, name in TARGET_FIELDS.items():
            due = getattr(applied, f"{name}_due_at")
            warn = getattr(applied, f"{name}_warn_at")
            kind = None
            if due is not None and due <= now:
                setattr(applied, f"{name}_missed", True)
                _stop(applied, target)
                kind = EventType.SLA_MISSED
            elif warn is not None and warn <= now:
                setattr(applied, f"{name}_warn_at", None)
                kind = EventType.SLA_WARNING
            if kind is None:
                continue
            events.record(
                session,
                account_id=conversation.account_id,
                type=kind,
                conversation_id=conversation.id,
                contact_id=conversation.contact_id,
                inbox_id=conversation.inbox_id,
                payload={
                    "target": target.value,
                    "sla_policy_id": applied.sla_policy_id,
                    "due_at": due.isoformat() if due else None,
                },
            )
            recorded += 1
        _settle(applied, conversation)
    await session.flush()
    return recorded, len(claimed)
