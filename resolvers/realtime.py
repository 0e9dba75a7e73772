"""Subscriptions over the event log, typing and presence.

How a stream works (DESIGN.md §3): join the process's feed for the channel (resolvers/hub.py: one
broadcast subscription per channel per process) first, then take the client's cursor (or now); the
feed reads the event log after its subscribers' smallest cursor, page by page, and every broadcast
message is only a wake-up call, answered by reading the log again once for all of them. Positions
of an account become visible in commit order, so reading "after N" can neither skip nor repeat an
event: no gap and no duplicate at the seam between replay and live, and nothing lost while the
broadcast was down (a reconnect wakes every feed, and a process-wide poll is the safety net).
Visibility is decided for every event, with the actor's rights as they are at that moment.
Typing and presence are ephemeral: they travel on the broadcast only."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from typing import Any

from strawberry.types import Info

from db.models import Event
from db.repositories import events as event_repo
from db.repositories import helpdesk as helpdesk_repo
from domain import realtime
from domain.accounts.actor import Actor
from domain.accounts.policy import Rule, require
from domain.enums import Availability
from domain.errors import BadUserInput, CursorExpired, NotFound, StreamOverflow, ValidationError
from domain.events.channels import account_channel, contact_channel, conversation_channel, user_channel
from domain.events.enums import LiveType
from infra.logs import get_logger
from resolvers.context import Context
from resolvers.hub import DIRECT_SINK, OVERFLOWED, PAGE, FeedKind, hub_of
from schema.core.errors import errors_from
from schema.core.ids import decode_id, encode_id
from schema.realtime.errors import RealtimeError, RealtimeErrorCode
from schema.realtime.inputs import AvailabilitySetInput, TypingSetInput
from schema.realtime.types import AgentPresence, AvailabilitySetPayload, TypingSetPayload

log = get_logger("parley.realtime")


def encode_cursor(position: int) -> str:
    return encode_id("Event", position)


def decode_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        return decode_id(cursor, "Event")
    except Exception:  # noqa: BLE001 - decode_id raises NotFound on garbage
        raise BadUserInput("Not a cursor of this stream", field="after") from None


@dataclass
class Delivery:
    """One item a stream yields: a logged event (with its rows) or an ephemeral signal."""

    position: int
    type: str
    event: Event | None = None
    conversation: Any = None
    message: Any = None
    contact: Any = None
    typing: realtime.Typing | None = None
    presence: tuple[int, Availability] | None = None
    # Set by the hub on a delivery a whole visibility group receives: results made from it, per
    # document (schema/execution/events.py).
    shared: dict | None = field(default=None, compare=False, repr=False)


async def _member_actor(info: Info[Context, None], rule: Rule) -> Actor:
    actor = await info.context.actor()
    require(actor, rule)
    return actor


async def _start_position(ctx: Context, account_id: int, after: int | None) -> int:
    async with ctx.db() as session:
        if after is None:
            position = await event_repo.current_position(session, account_id)
        else:
            current = await event_repo.current_position(session, account_id)
            oldest = await event_repo.oldest_position(session, account_id)
            if after > current:
                raise BadUserInput("This cursor is ahead of the stream", field="after")
            if after < current and (oldest is None or after < oldest - 1):  # the missed part was pruned
                raise CursorExpired()
            position = after
    await ctx.release()
    return position


async def _stream(
    info: Info[Context, None],
    *,
    channel: str,
    account_id: int,
    actor: Actor,
    after: int | None,
    kind: FeedKind,
    on_signal: Callable[[dict[str, Any], int], Delivery | None] | None = None,
) -> AsyncGenerator[Delivery, None]:
    """One stream: a subscriber of the process's feed for its channel (resolvers.hub), which reads
    the log once for all of them; here only what this subscriber may see arrives, in order."""
    ctx = info.context
    settings = ctx.settings
    hub = hub_of(ctx.services)
    if hub.closing:
        return
    loop = asyncio.get_running_loop()
    typing_deadlines: dict[str, tuple[float, realtime.Typing]] = {}
    sub = await hub.join(
        channel,
        account_id,
        kind,
        actor,
        lambda: _start_position(ctx, account_id, after),
        on_signal=on_signal,
        from_now=after is None,
        direct=DIRECT_SINK.get(),  # the hub may write this operation's events itself
    )
    try:
        while not hub.closing:
            if not sub.items:
                sub.parked = True  # everything yielded so far is sent: the hub may send the next
                try:
                    if typing_deadlines:
                        timeout = max(min(d for d, _ in typing_deadlines.values()) - loop.time(), 0.01)
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(sub.ready.wait(), timeout)
                    else:
                        await sub.ready.wait()
                finally:
                    sub.parked = False
            if hub.closing:
                return
            last = sub.delivered
            now = loop.time()
            for expired in [k for k, (deadline, _) in typing_deadlines.items() if deadline <= now]:
                _, typing = typing_deadlines.pop(expired)
                off = realtime.Typing(typing.conversation_id, False, typing.private, typing.user_id, typing.contact_id)
                yield Delivery(position=last, type=LiveType.TYPING_OFF, typing=off)
            items = sub.drain()
            for delivery in items:
                if delivery is OVERFLOWED:
                    raise StreamOverflow(cursor=encode_cursor(last))
                if delivery.typing is not None:
                    key = delivery.typing.who
                    if delivery.typing.on:
                        typing_deadlines[key] = (now + settings.typing_timeout_seconds, delivery.typing)
                    elif typing_deadlines.pop(key, None) is None:
                        continue  # already reported off
                if delivery.event is not None:
                    last = max(last, delivery.position)
                    sub.delivered = last
                yield delivery
            if items:
                await ctx.release()  # the fields of what was yielded are resolved by now
    finally:
        await hub.leave(sub)


# --- account events ----------------------------------------------------------------------------------


async def _account_read(session, account_id: int, last: int) -> tuple[list[Event], int, int]:
    events, last_scanned, scanned = await event_repo.account_events_after(
        session, account_id, last, types_prefixes=tuple(sorted(realtime.ACCOUNT_STREAM_TYPES)), limit=PAGE
    )
    return [e for e in events if realtime.in_account_stream(e)], last_scanned, scanned


async def _prefetch(session, account_id: int, events: list[Event]) -> dict[str, Any]:
    """The rows of a batch that do not depend on who looks: read once for every subscriber."""
    return {
        "messages": await event_repo.messages_by_id(
            session, account_id, [e.message_id for e in events if e.message_id]
        ),
        "contacts": await event_repo.contacts_by_id(
            session, account_id, [e.contact_id for e in events if e.contact_id and e.conversation_id is None]
        ),
    }


async def _hydrate(session, actor: Actor, events: list[Event], shared: dict[str, Any] | None = None) -> list[Delivery]:
    """Rows for a page of events in a fixed number of statements; events the actor may not see drop
    out. `shared` holds what `_prefetch` read for everyone (and the inbox sets of the batch's agents)."""
    account_id = actor.require_account_id()
    conversations = await event_repo.visible_conversations_by_id(
        session, actor, [e.conversation_id for e in events if e.conversation_id is not None]
    )
    if shared is None:
        shared = await _prefetch(session, account_id, events)
    messages, contacts = shared["messages"], shared["contacts"]
    known_inboxes: dict[int, set[int]] = shared.get("inboxes") or {}
    member_inboxes: set[int] | None = known_inboxes.get(actor.user_id) if actor.user_id is not None else None
    out: list[Delivery] = []
    for e in events:
        delivery = Delivery(position=e.position, type=realtime.public_type(e), event=e)
        if e.conversation_id is not None:
            conversation = conversations.get(e.conversation_id)
            if conversation is None:
                continue  # not (or no longer) visible to this agent: private notes included
            delivery.conversation = conversation
            delivery.message = messages.get(e.message_id) if e.message_id else None
        elif e.type.startswith("inbox."):
            if not actor.is_administrator:
                if member_inboxes is None:
                    member_inboxes = (
                        await event_repo.inbox_ids_of_member(session, actor.user_id) if actor.user_id else set()
                    )
                if not realtime.inbox_event_visible(actor, e.inbox_id, member_inboxes):
                    continue
        elif e.contact_id is not None:
            delivery.contact = contacts.get(e.contact_id)
        out.append(delivery)
    return out


def _presence_signal(data: dict[str, Any], last: int) -> Delivery | None:
    if data.get(realtime.EPHEMERAL_KEY) != "presence":
        return None
    return Delivery(
        position=last, type=LiveType.PRESENCE_CHANGED, presence=(int(data["user_id"]), Availability(data["status"]))
    )


@functools.lru_cache(maxsize=4096)
def _account_kind(account_id: int) -> FeedKind:
    """One FeedKind per account, shared by its sockets (the feed keeps its first subscriber's)."""
    return FeedKind(
        read=lambda session, last: _account_read(session, account_id, last), hydrate=_hydrate, prefetch=_prefetch
    )


async def account_events(info: Info[Context, None], after: str | None) -> AsyncGenerator[Delivery, None]:
    position = decode_cursor(after)
    actor = await _member_actor(info, Rule.member)
    account_id = actor.require_account_id()
    async for delivery in _stream(
        info,
        channel=account_channel(account_id),
        account_id=account_id,
        actor=actor,
        after=position,
        kind=_account_kind(account_id),
        on_signal=_presence_signal,
    ):
        yield delivery


# --- one conversation ---------------------------------------------------------------------------------


async def conversation_events(info: Info[Context, None], id: str, after: str | None) -> AsyncGenerator[Delivery, None]:
    position = decode_cursor(after)
    actor = await _member_actor(info, Rule.member)
    conversation_id = decode_id(id, "Conversation")
    ctx = info.context
    async with ctx.db() as session:
        visible = await helpdesk_repo.conversation_visible(session, actor, conversation_id)
    await ctx.release()
    if visible is None:
        raise NotFound("No such conversation")

    account_id = actor.require_account_id()

    async def read(session, last: int) -> tuple[list[Event], int, int]:
        events, last_scanned, scanned = await event_repo.conversation_events_after(
            session, account_id, conversation_id, last, limit=PAGE
        )
        return [e for e in events if realtime.in_conversation_stream(e)], last_scanned, scanned

    def typing_signal(data: dict[str, Any], last: int) -> Delivery | None:
        if data.get(realtime.EPHEMERAL_KEY) != "typing":
            return None
        typing = realtime.Typing.from_data(data)
        if typing.conversation_id != conversation_id or (
            typing.user_id is not None and typing.user_id == actor.user_id
        ):
            return None
        return Delivery(position=last, type=LiveType.TYPING_ON if typing.on else LiveType.TYPING_OFF, typing=typing)

    async for delivery in _stream(
        info,
        channel=conversation_channel(conversation_id),
        account_id=account_id,
        actor=actor,
        after=position,
        kind=FeedKind(read=read, hydrate=_hydrate, prefetch=_prefetch),
        on_signal=typing_signal,
    ):
        yield delivery


# --- the current user's notifications ---------------------------------------------------------------


async def notification_events(info: Info[Context, None], after: str | None) -> AsyncGenerator[Delivery, None]:
    position = decode_cursor(after)
    actor = await _member_actor(info, Rule.agent)

    account_id, user_id = actor.require_account_id(), actor.require_user_id()

    async def read(session, last: int) -> tuple[list[Event], int, int]:
        return await event_repo.personal_events_after(session, account_id, user_id, last, limit=PAGE)

    async for delivery in _stream(
        info,
        channel=user_channel(account_id, user_id),
        account_id=account_id,
        actor=actor,
        after=position,
        kind=FeedKind(read=read),
    ):
        yield delivery


# --- typing and presence -------------------------------------------------------------------------------


async def typing_set(info: Info[Context, None], conversation_id: int, on: bool, private: bool) -> None:
    from domain.webhooks import service as webhooks

    actor = await _member_actor(info, Rule.agent)
    ctx = info.context
    async with ctx.transaction() as session:
        conversation = await helpdesk_repo.conversation_visible(session, actor, conversation_id)
        if conversation is None:
            raise ValidationError.single("conversationId", "NOT_FOUND", "No such conversation.")
        # Webhooks that asked for typing events get them (sent after commit, through the outbox).
        await webhooks.queue_typing(
            session, conversation, user_id=actor.user_id, contact_id=None, on=on, private=private
        )
    signal = realtime.Typing(conversation_id=conversation_id, on=on, private=private, user_id=actor.user_id)
    await ctx.broadcast.publish(conversation_channel(conversation_id), signal.message())
    if not private:  # the contact's widget shows a reply being typed, never a note
        await ctx.broadcast.publish(contact_channel(conversation.contact_id), signal.message())


async def presence_of_account(ctx: Context, account_id: int) -> set[int]:
    try:
        return await ctx.services.presence.online_users(account_id)
    except Exception as exc:  # noqa: BLE001 - Redis down: nobody counts as connected
        log.warning("presence.unavailable", error=type(exc).__name__)
        return set()


async def announce_presence(ctx: Context, account_id: int, user_id: int, status: Availability) -> None:
    try:
        await ctx.broadcast.publish(account_channel(account_id), realtime.presence_message(user_id, status))
    except Exception as exc:  # noqa: BLE001 - presence is best effort
        log.warning("presence.announce_failed", error=type(exc).__name__)


# --- queries and mutations --------------------------------------------------------------------------


async def event_cursor(info: Info[Context, None]) -> str:
    actor = await info.context.actor()
    async with info.context.db() as session:
        return encode_cursor(await event_repo.current_position(session, actor.account_id))


async def agent_presence(info: Info[Context, None]) -> list[AgentPresence]:
    actor = await info.context.actor()
    async with info.context.db() as session:
        users = await event_repo.users_of_account(session, actor.account_id)
    online = await presence_of_account(info.context, actor.account_id)
    return [
        AgentPresence(
            user_pk=u.id,
            availability=u.availability,
            connected=u.id in online,
            status=realtime.effective_status(u.availability, u.id in online),
        )
        for u in users
    ]


async def account_statuses(ctx: Context, account_id: int) -> dict[int, str]:
    """What colleagues see of each member right now: user id → online/busy/offline."""
    async with ctx.db() as session:
        users = await event_repo.users_of_account(session, account_id)
    online = await presence_of_account(ctx, account_id)
    return {u.id: realtime.effective_status(u.availability, u.id in online).value for u in users}


async def typing_set_mutation(info: Info[Context, None], input: TypingSetInput) -> TypingSetPayload:
    try:
        conversation_id = decode_id(str(input.conversation_id), "Conversation")
    except NotFound:
        return TypingSetPayload(
            accepted=False,
            errors=[
                RealtimeError(field="conversationId", code=RealtimeErrorCode.NOT_FOUND, message="No such conversation.")
            ],
        )
    try:
        await typing_set(info, conversation_id, input.on, input.private)
    except ValidationError as exc:
        return TypingSetPayload(accepted=False, errors=errors_from(exc, RealtimeError, RealtimeErrorCode))
    return TypingSetPayload(accepted=True, errors=[])


async def availability_set(info: Info[Context, None], input: AvailabilitySetInput) -> AvailabilitySetPayload:
    actor = await info.context.actor()
    availability = Availability(
        input.availability.value if hasattr(input.availability, "value") else input.availability
    )
    async with info.context.transaction() as session:
        user = await realtime.set_availability(session, actor, availability)
        chosen = user.availability
    online = actor.user_id in await presence_of_account(info.context, actor.account_id)
    status = realtime.effective_status(chosen, online)
    if online:
        await announce_presence(info.context, actor.account_id, actor.user_id, status)
    return AvailabilitySetPayload(
        presence=AgentPresence(user_pk=actor.user_id, availability=chosen, connected=online, status=status), errors=[]
    )
