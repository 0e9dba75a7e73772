"""Subscriptions over the event log, typing and presence.

How a stream works (DESIGN.md §3): subscribe to the broadcast channel first, then read the event
log after the client's cursor (or from now), page by page; afterwards every broadcast message is
only a wake-up call, answered by reading the log again after the last position delivered. Positions
of an account become visible in commit order, so reading "after N" can neither skip nor repeat an
event: no gap and no duplicate at the seam between replay and live, and nothing lost while the
broadcast was down (a reconnect wakes every stream, and streams also re-read on a timer).
Visibility is decided for every event, with the actor's rights as they are at that moment.
Typing and presence are ephemeral: they travel on the broadcast only."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
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
from infra.broadcast import SubscriberOverflow
from infra.logs import get_logger
from resolvers.context import Context
from schema.core.errors import errors_from
from schema.core.ids import decode_id, encode_id
from schema.realtime.errors import RealtimeError, RealtimeErrorCode
from schema.realtime.inputs import AvailabilitySetInput, TypingSetInput
from schema.realtime.types import AgentPresence, AvailabilitySetPayload, TypingSetPayload

log = get_logger("parley.realtime")
PAGE = 200


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


Page = Callable[[Any, int], Awaitable[tuple[list[Delivery], int, int]]]


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
    after: int | None,
    page: Page,
    on_signal: Callable[[dict[str, Any], int], Delivery | None] | None = None,
) -> AsyncGenerator[Delivery, None]:
    ctx = info.context
    settings = ctx.settings
    loop = asyncio.get_running_loop()
    typing_deadlines: dict[str, tuple[float, realtime.Typing]] = {}
    async with ctx.broadcast.subscribe(channel) as sub:
        last = await _start_position(ctx, account_id, after)
        need_read = after is not None
        next_poll = loop.time() + settings.realtime_poll_seconds
        while True:
            while need_read:
                async with ctx.db() as session:
                    deliveries, last_scanned, scanned = await page(session, last)
                await ctx.release()
                for delivery in deliveries:
                    yield delivery
                await ctx.release()  # the fields of what was yielded are resolved by now
                last = last_scanned
                need_read = scanned >= PAGE
            # Wait for a wake-up, the poll timer or the end of a typing indicator.
            now = loop.time()
            wake = next_poll
            if typing_deadlines:
                wake = min(wake, min(deadline for deadline, _ in typing_deadlines.values()))
            try:
                item = await asyncio.wait_for(sub.get(), max(wake - now, 0.01))
            except TimeoutError:
                item = None
            except SubscriberOverflow:
                raise StreamOverflow(cursor=encode_cursor(last)) from None
            items = [item] if item is not None else []
            try:
                while (more := sub.get_nowait()) is not None:  # coalesce a burst into one read
                    items.append(more)
            except SubscriberOverflow:
                raise StreamOverflow(cursor=encode_cursor(last)) from None
            now = loop.time()
            if now >= next_poll:
                need_read = True
                next_poll = now + settings.realtime_poll_seconds
            for expired in [k for k, (deadline, _) in typing_deadlines.items() if deadline <= now]:
                _, typing = typing_deadlines.pop(expired)
                off = realtime.Typing(typing.conversation_id, False, typing.private, typing.user_id, typing.contact_id)
                yield Delivery(position=last, type=LiveType.TYPING_OFF, typing=off)
            for received in items:
                try:
                    data = json.loads(received.message)
                except (TypeError, ValueError):
                    continue
                if data.get("resync"):
                    need_read = True
                elif realtime.EPHEMERAL_KEY in data:
                    if on_signal is None:
                        continue
                    delivery = on_signal(data, last)
                    if delivery is None:
                        continue
                    if delivery.typing is not None:
                        key = delivery.typing.who
                        if delivery.typing.on:
                            typing_deadlines[key] = (now + settings.typing_timeout_seconds, delivery.typing)
                        elif typing_deadlines.pop(key, None) is None:
                            continue  # already reported off
                    yield delivery
                elif int(data.get("position", 0)) > last:
                    need_read = True


# --- account events ----------------------------------------------------------------------------------


def _account_page(actor: Actor) -> Page:
    async def page(session, last: int) -> tuple[list[Delivery], int, int]:
        events, last_scanned, scanned = await event_repo.account_events_after(
            session, actor.account_id, last, types_prefixes=tuple(sorted(realtime.ACCOUNT_STREAM_TYPES)), limit=PAGE
        )
        events = [e for e in events if realtime.in_account_stream(e)]
        return await _hydrate(session, actor, events), last_scanned, scanned

    return page


async def _hydrate(session, actor: Actor, events: list[Event]) -> list[Delivery]:
    """Rows for a page of events in a fixed number of statements; events the actor may not see drop out."""
    conversations = await event_repo.visible_conversations_by_id(
        session, actor, [e.conversation_id for e in events if e.conversation_id is not None]
    )
    messages = await event_repo.messages_by_id(
        session, actor.account_id, [e.message_id for e in events if e.message_id]
    )
    contacts = await event_repo.contacts_by_id(
        session, actor.account_id, [e.contact_id for e in events if e.contact_id and e.conversation_id is None]
    )
    member_inboxes: set[int] | None = None
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
                    member_inboxes = await event_repo.inbox_ids_of_member(session, actor.user_id)
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


async def account_events(info: Info[Context, None], after: str | None) -> AsyncGenerator[Delivery, None]:
    position = decode_cursor(after)
    actor = await _member_actor(info, Rule.member)
    async for delivery in _stream(
        info,
        channel=account_channel(actor.account_id),
        account_id=actor.account_id,
        after=position,
        page=_account_page(actor),
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

    async def page(session, last: int) -> tuple[list[Delivery], int, int]:
        events, last_scanned, scanned = await event_repo.conversation_events_after(
            session, actor.account_id, conversation_id, last, limit=PAGE
        )
        events = [e for e in events if realtime.in_conversation_stream(e)]
        return await _hydrate(session, actor, events), last_scanned, scanned

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
        account_id=actor.account_id,
        after=position,
        page=page,
        on_signal=typing_signal,
    ):
        yield delivery


# --- the current user's notifications ---------------------------------------------------------------


async def notification_events(info: Info[Context, None], after: str | None) -> AsyncGenerator[Delivery, None]:
    position = decode_cursor(after)
    actor = await _member_actor(info, Rule.agent)

    async def page(session, last: int) -> tuple[list[Delivery], int, int]:
        events, last_scanned, scanned = await event_repo.personal_events_after(
            session, actor.account_id, actor.user_id, last, limit=PAGE
        )
        return [Delivery(position=e.position, type=e.type, event=e) for e in events], last_scanned, scanned

    async for delivery in _stream(
        info,
        channel=user_channel(actor.account_id, actor.user_id),
        account_id=actor.account_id,
        after=position,
        page=page,
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


class SocketPresence:
    """Keeps one socket's presence entry alive; announces the agent online on their first socket and
    offline when their last one closes."""

    def __init__(self, ctx: Context, actor: Actor, availability: Availability) -> None:
        self.ctx = ctx
        self.account_id = actor.account_id
        self.user_id = actor.user_id
        self.availability = availability
        self.socket_id = uuid.uuid4().hex
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        await self._touch(first=True)
        self._task = asyncio.create_task(self._heartbeat(), name="ws-presence")

    async def _touch(self, first: bool = False) -> None:
        settings = self.ctx.settings
        try:
            became_online = await self.ctx.services.presence.touch(
                self.account_id, self.user_id, self.socket_id, settings.presence_ttl_seconds
            )
        except Exception as exc:  # noqa: BLE001
            log.warning("presence.touch_failed", error=type(exc).__name__)
            return
        if became_online:
            await announce_presence(
                self.ctx, self.account_id, self.user_id, realtime.effective_status(self.availability, True)
            )

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.ctx.settings.presence_heartbeat_seconds)
            await self._touch()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        try:
            gone = await self.ctx.services.presence.leave(self.account_id, self.user_id, self.socket_id)
        except Exception as exc:  # noqa: BLE001
            log.warning("presence.leave_failed", error=type(exc).__name__)
            return
        if gone:
            await announce_presence(self.ctx, self.account_id, self.user_id, Availability.OFFLINE)


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
