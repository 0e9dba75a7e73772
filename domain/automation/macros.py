"""Macros (Chatwoot's macros): a named list of actions, the same vocabulary and executor as rules,
that an agent runs on conversations they can see. Any agent keeps personal macros; administrators
keep account-wide ones. A run on one conversation or on a list is one unit of work: every action
with its events, or (any action failing) nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Conversation, Macro
from db.repositories import automation as repo
from db.repositories import helpdesk as helpdesk_repo
from domain.accounts.actor import Actor
from domain.automation import actions as action_registry
from domain.automation.actions import Action, RunContext, actions_of, execute
from domain.catalog.checks import required
from domain.errors import FieldError, Forbidden, NotFound, ValidationError
from domain.events.pending import pending
from infra.api_names import encode_global_id

MAX_MACROS_PER_OWNER = 100
MAX_NAME = 100
MAX_CONVERSATIONS = 100
MARK = "macro_id"  # in the payload of every event a macro's actions recorded


@dataclass(frozen=True)
class MacroRun:
    conversations: list[Conversation]
    actions_done: list[str]


async def list_macros(session: AsyncSession, actor: Actor) -> Sequence[Macro]:
    """The caller's own macros and the account-wide ones."""
    return await repo.visible_macros(session, actor.require_account_id(), actor.user_id)


async def _visible(session: AsyncSession, actor: Actor, macro_id: int) -> Macro:
    macro = await repo.visible_macro(session, actor.require_account_id(), actor.user_id, macro_id)
    if macro is None:
        raise NotFound("No such macro")
    return macro


async def _to_change(session: AsyncSession, actor: Actor, macro_id: int) -> Macro:
    macro = await _visible(session, actor, macro_id)
    if macro.owner_user_id is None and not actor.is_administrator:
        raise Forbidden("Only administrators change account-wide macros")
    return macro


async def create_macro(
    session: AsyncSession, actor: Actor, *, name: str, actions: Sequence[Action], account_wide: bool
) -> Macro:
    if account_wide and not actor.is_administrator:
        raise Forbidden("Only administrators save account-wide macros")
    account_id = actor.require_account_id()
    owner = None if account_wide else actor.require_user_id()
    errors: list[FieldError] = []
    name = required(name, "name", errors, MAX_NAME)
    errors.extend(await action_registry.check_actions(session, account_id, actions))
    if errors:
        raise ValidationError(errors)
    if await repo.count_macros(session, account_id, owner) >= MAX_MACROS_PER_OWNER:
        raise ValidationError.single(None, "LIMIT_REACHED", f"At most {MAX_MACROS_PER_OWNER} macros.")
    macro = Macro(account_id=account_id, owner_user_id=owner, name=name, actions=[a.payload() for a in actions])
    session.add(macro)
    await session.flush()
    return macro


async def update_macro(
    session: AsyncSession, actor: Actor, macro_id: int, *, name: str | None, actions: Sequence[Action] | None
) -> Macro:
    macro = await _to_change(session, actor, macro_id)
    errors: list[FieldError] = []
    if name is not None:
        name = required(name, "name", errors, MAX_NAME)
    if actions is not None:
        errors.extend(await action_registry.check_actions(session, macro.account_id, actions))
    if errors:
        raise ValidationError(errors)
    if name is not None:
        macro.name = name
    if actions is not None:
        macro.actions = [a.payload() for a in actions]
    await session.flush()
    return macro


async def delete_macro(session: AsyncSession, actor: Actor, macro_id: int) -> Macro:
    macro = await _to_change(session, actor, macro_id)
    await session.delete(macro)
    await session.flush()
    return macro


async def execute_macro(
    session: AsyncSession, actor: Actor, macro_id: int, conversation_ids: Sequence[int]
) -> MacroRun:
    """Run the macro on each conversation, as the caller: only conversations they can see (NOT_FOUND
    for any other, before anything runs)."""
    macro = await _visible(session, actor, macro_id)
    ids = sorted(set(conversation_ids))
    if not ids or len(ids) > MAX_CONVERSATIONS:
        raise ValidationError.single("conversationIds", "INVALID", f"Give 1 to {MAX_CONVERSATIONS} conversations.")
    conversations = await helpdesk_repo.conversations_visible(session, actor, ids)
    if len(conversations) != len(ids):
        raise ValidationError.single(
            "conversationIds", "NOT_FOUND", "Some conversations do not exist or are not visible to you."
        )
    work = pending(session)
    mark = len(work.events)
    source = {"macro": {"id": encode_global_id("Macro", macro.id), "name": macro.name}}
    done: list[str] = []
    for conversation in conversations:
        ctx = RunContext(session, actor, source=source, event_name="macro.executed")
        done = await execute(ctx, conversation.id, actions_of(macro.actions))
    for event in work.events[mark:]:
        event.payload = {**(event.payload or {}), MARK: macro.id}
    return MacroRun(conversations, done)
