"""Auto-assignment (Chatwoot's, with its v2 capacity rules): an open, unassigned conversation in an
inbox with `enable_auto_assignment` goes to one of the inbox's agents (those of the conversation's
team too, when the team allows auto-assignment) who is online — a socket open and availability
`online` — and under both limits: the inbox's open conversations per agent and the member's
account-wide limit. Round-robin picks the agent whose last automatic assignment in the inbox is
oldest; balanced the one with the fewest open conversations. Waiting conversations go oldest first.

It runs in the worker after commit (the `assignment.consume` consumer of the event log, the
`assignment.run` job and a periodic pass for agents who came online), one account at a time under
a PostgreSQL advisory lock, so API replicas and workers never hand out the same capacity twice."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import Event, InboxMember
from db.repositories import assignment as repo
from db.repositories import events as event_repo
from domain.accounts.actor import Actor
from domain.enums import AssignmentPolicy
from domain.errors import FieldError, ValidationError
from domain.events.enums import Consumer, consumed_by

MAX_PER_RUN = 200
AUTO_ASSIGNER = Actor(label="auto-assignment")


def check_limit(value: int | None, field: str, errors: list[FieldError]) -> None:
    if value is not None and not 0 <= value <= 100_000:
        errors.append(
            FieldError(field, "OUT_OF_RANGE", "A limit is a whole number from 0 to 100,000 (or null for none).")
        )


MIN_GRACE, MAX_GRACE = 1, 86_400


def check_grace(value: int | None, errors: list[FieldError]) -> None:
    if value is not None and not MIN_GRACE <= value <= MAX_GRACE:
        errors.append(
            FieldError(
                "reassignOfflineAfterSeconds",
                "OUT_OF_RANGE",
                f"The grace period is from {MIN_GRACE} to {MAX_GRACE:,} seconds (or null for never).",
            )
        )


async def accounts_of_events(session: AsyncSession, event_ids: Iterable[int]) -> set[int]:
    rows: list[Event] = list(await event_repo.events_by_ids(session, event_ids, consumed_by(Consumer.ASSIGNMENT)))
    return {e.account_id for e in rows}


async def run(session: AsyncSession, account_id: int, online: set[int]) -> int:
    """Assign the account's waiting conversations; returns how many were assigned."""
    from domain.helpdesk.conversations import change_assignee

    await repo.lock_account(session, account_id)
    conversations = await repo.waiting(session, account_id, MAX_PER_RUN)
    if not conversations or not online:
        return 0
    inboxes = await repo.inboxes(session, account_id, {c.inbox_id for c in conversations})
    members = [m for m in await repo.inbox_members(session, account_id, set(inboxes)) if m.user_id in online]
    if not members:
        return 0
    user_ids = {m.user_id for m in members}
    global_limits = await repo.account_limits(session, account_id, user_ids)
    per_inbox = await repo.open_counts(session, account_id, user_ids)
    totals: dict[int, int] = {}
    for (user_id, _), n in per_inbox.items():
        totals[user_id] = totals.get(user_id, 0) + n
    teams = await repo.auto_assigning_teams(session, account_id, {c.team_id for c in conversations if c.team_id})
    by_inbox: dict[int, list[InboxMember]] = {}
    for m in members:
        by_inbox.setdefault(m.inbox_id, []).append(m)
    assigned = 0
    now = utcnow()
    for conversation in conversations:
        inbox = inboxes[conversation.inbox_id]
        candidates = []
        for m in by_inbox.get(inbox.id, []):
            if conversation.team_id in teams and m.user_id not in teams[conversation.team_id]:
                continue
            if (
                inbox.auto_assignment_limit is not None
                and per_inbox.get((m.user_id, inbox.id), 0) >= inbox.auto_assignment_limit
            ):
                continue
            limit = global_limits.get(m.user_id)
            if limit is not None and totals.get(m.user_id, 0) >= limit:
                continue
            candidates.append(m)
        if not candidates:
            continue

        def rr(m: InboxMember) -> tuple[bool, datetime, int]:
            return (m.last_assigned_at is not None, m.last_assigned_at or now, m.id)

        if inbox.auto_assignment_policy == AssignmentPolicy.BALANCED:
            chosen = min(candidates, key=lambda m: (totals.get(m.user_id, 0), *rr(m)))
        else:
            chosen = min(candidates, key=rr)
        await change_assignee(session, AUTO_ASSIGNER, conversation, chosen.user_id, via="auto-assignment")
        repo.touch(chosen, now + timedelta(microseconds=assigned))  # a strict order within one run
        per_inbox[(chosen.user_id, inbox.id)] = per_inbox.get((chosen.user_id, inbox.id), 0) + 1
        totals[chosen.user_id] = totals.get(chosen.user_id, 0) + 1
        assigned += 1
    await session.flush()
    return assigned


async def release_offline(session: AsyncSession, account_id: int, offline_for: dict[int, float]) -> int:
    """Give back to auto-assignment the open conversations of agents offline longer than their inbox's
    grace period (`reassign_offline_after_seconds`); `run` then assigns them to agents online.
    Returns how many were released."""
    from domain.helpdesk.conversations import change_assignee

    await repo.lock_account(session, account_id)
    released = 0
    for conversation in await repo.to_release(session, account_id, offline_for, MAX_PER_RUN):
        await change_assignee(session, AUTO_ASSIGNER, conversation, None)
        released += 1
    await session.flush()
    return released


async def holders_by_presence(session: AsyncSession, account_id: int, online: set[int]) -> tuple[set[int], set[int]]:
    """(offline, online) of the agents holding conversations that an offline agent gives back: offline
    is no socket open, or availability set to offline."""
    holders = await repo.releasing_assignees(session, account_id)
    offline = (holders - online) | await repo.chose_offline(session, account_id, holders & online)
    return offline, holders - offline


def parse_policy(value: str | None) -> AssignmentPolicy | None:
    if value is None:
        return None
    try:
        return AssignmentPolicy(value)
    except ValueError:
        raise ValidationError.single("autoAssignmentPolicy", "INVALID", "Choose round_robin or balanced.") from None
