"""The process's real-time hub: one feed per broadcast channel, shared by every stream on it.

A feed holds the process's only subscription to its channel. When the broadcast says something was
logged (or the process-wide poll, the safety net for missed pub/sub, says the account moved on), the
feed reads the log once, after the smallest cursor among its subscribers (one statement per page of
positions, so a subscriber that is behind has its gap filled by the same read), loads the rows the
events concern once, and decides visibility once per visibility group: subscribers whose access is
decided by the same inputs (account; administrator, or the conversation permissions, the inboxes
and, for "mine"/"participating", the user) share one result, computed by the same authorization
code a single stream uses (`resolvers.realtime._hydrate`). Then every subscriber gets what it may
see in its own bounded queue, each keeping its own cursor. A subscriber whose queue fills is cut
off with an overflow marker; its stream ends with STREAM_OVERFLOW and the last cursor it delivered,
to resume from. Ephemeral signals (typing, presence) are handed to each subscriber's filter."""

from __future__ import annotations

import asyncio
import contextvars
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from db.models import Account, Event, InboxMember
from domain import realtime
from domain.accounts.actor import Actor, ActorKind
from domain.enums import Permission
from infra import metrics
from infra.broadcast import RESYNC_CHANNEL, SubscriberOverflow
from infra.heap import touch
from infra.logs import get_logger
from infra.wakeup import Flag

if TYPE_CHECKING:
    from infra.services import Services

log = get_logger("parley.realtime.hub")
PAGE = 200

# The subscription operation's direct sink (schema.execution.events.DirectSink), set by the transport
# in the operation's task (parley/graphql_view.py); the stream hands it to its subscriber.
DIRECT_SINK: contextvars.ContextVar[Any] = contextvars.ContextVar("parley_direct_sink", default=None)

# The conversation permissions that make what an agent sees depend on who they are, not only on
# their inboxes (db.repositories.helpdesk.visible_conversations).
_PERSONAL_GRANTS = frozenset(
    {Permission.CONVERSATION_UNASSIGNED_MANAGE.value, Permission.CONVERSATION_PARTICIPATING_MANAGE.value}
)

# (session, after) → (events, last position scanned, rows scanned)
Read = Callable[[Any, int], Awaitable[tuple[list[Event], int, int]]]
# (session, representative actor, events, shared rows) → deliveries the actor may see
Hydrate = Callable[[Any, Actor, list[Event], dict[str, Any]], Awaitable[list[Any]]]
Prefetch = Callable[[Any, int, list[Event]], Awaitable[dict[str, Any]]]


class Overflowed:
    """The last item of a subscriber that could not keep up."""


OVERFLOWED = Overflowed()


class Subscriber:
    __slots__ = (
        "actor",
        "cursor",
        "delivered",
        "direct",
        "feed",
        "items",
        "limit",
        "live",
        "on_signal",
        "overflowed",
        "parked",
        "ready",
        "stalled",
    )

    def __init__(self, feed: Feed, actor: Actor, cursor: int, limit: int, on_signal: Any, direct: Any = None) -> None:
        self.feed = feed
        self.actor = actor
        self.cursor = cursor  # everything up to here is in `items` (or was not for this subscriber)
        self.delivered = cursor  # the position of the last event sent (the cursor to resume from)
        # The operation's DirectSink (schema/execution/events.py): while the stream is `parked` —
        # waiting, with everything it took sent — and nothing is queued, the hub sends to it.
        self.direct = direct
        self.parked = False
        self.limit = limit
        self.on_signal = on_signal
        self.items: list[Any] = []  # a list, not a deque: an idle socket holds it empty (56 bytes, not 600)
        self.ready = Flag()  # not an asyncio.Event: no deque per idle socket (infra/wakeup.py)
        self.overflowed = False
        # Catching up (a cursor from the past) is paced by the reader: a full queue pauses it
        # (`stalled`) until it drains. Once caught up (`live`), a full queue means it cannot keep up.
        self.live = False
        self.stalled = False

    @property
    def room(self) -> int:
        return self.limit - 1 - len(self.items)

    def push(self, item: Any) -> None:
        if self.overflowed:
            return
        if len(self.items) >= self.limit - 1:
            self.overflowed = True
            self.items.append(OVERFLOWED)
        else:
            self.items.append(item)
        self.ready.set()

    def drain(self) -> list[Any]:
        items, self.items = self.items, []
        self.ready.clear()
        if self.stalled:
            self.stalled = False
            self.feed.dirty.set()  # read on from its cursor
        return items


@dataclass
class FeedKind:
    """How a feed reads its part of the log and what it loads for it."""

    read: Read
    hydrate: Hydrate | None = None
    prefetch: Prefetch | None = None
    group: Callable[[Actor], Any] | None = None  # who sees the same (default: EventHub.group_of)


@dataclass
class Feed:
    hub: EventHub
    channel: str
    account_id: int
    kind: FeedKind
    subscribers: set[Subscriber] = field(default_factory=set)
    dirty: asyncio.Event = field(default_factory=asyncio.Event)
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task] = field(default_factory=list)
    seen_seq: int | None = None  # the account's position at the last poll
    joining: int = 0
    reads: int = 0
    read_to: int | None = None  # the log was read to its end up to here (a cursor "from now" may borrow)
    reading: bool = False  # a read of the log is under way

    def start(self) -> None:
        # Started from the first stream's operation task: not with that operation's sink.
        context = contextvars.copy_context()
        context.run(DIRECT_SINK.set, None)
        self.tasks = [
            asyncio.create_task(self._listen(), name=f"hub-listen:{self.channel}", context=context),
            asyncio.create_task(self._read_loop(), name=f"hub-read:{self.channel}", context=context),
        ]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _listen(self) -> None:
        try:
            async with self.hub.services.broadcast.subscribe(self.channel) as sub:
                self.subscribed.set()
                while True:
                    try:
                        received = await sub.get()
                    except SubscriberOverflow:
                        self.dirty.set()  # signals are lost; the log is not
                        continue
                    self._on_message(received.channel, received.message)
        finally:
            self.subscribed.set()  # never leave a joining stream waiting

    def _on_message(self, channel: str, message: Any) -> None:
        touch()  # infra/heap.py settles the heap only when nothing arrives
        try:
            data = json.loads(message)
        except (TypeError, ValueError):
            return
        if not isinstance(data, dict):
            return
        if data.get("resync") or channel == RESYNC_CHANNEL:
            self.dirty.set()
        elif realtime.EPHEMERAL_KEY in data:
            for sub in list(self.subscribers):
                if sub.on_signal is not None and (sub.live or sub.room > 0):
                    delivery = sub.on_signal(data, sub.cursor)
                    if delivery is not None:
                        sub.push(delivery)
        else:
            # An event committed on PostgreSQL is announced without its position (its COMMIT took
            # it, domain/events/log.py): read on. One with a position nobody is behind of is skipped.
            position = data.get("position")
            if position is None or int(position) > min((s.cursor for s in self.subscribers), default=0):
                self.dirty.set()

    async def _read_loop(self) -> None:
        while True:
            await self.dirty.wait()
            self.dirty.clear()
            self.reading = True
            try:
                await self.catch_up()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the next wake-up (or poll) reads again
                log.warning("hub.read_failed", channel=self.channel, error=type(exc).__name__)
                await asyncio.sleep(0.5)
                self.dirty.set()
            finally:
                self.reading = False

    async def catch_up(self) -> None:
        """Read the log after the smallest cursor, page by page, and hand each subscriber its part."""
        while True:
            subs = [s for s in self.subscribers if not s.overflowed and not s.stalled]
            if not subs:
                return
            start = min(s.cursor for s in subs)
            async with self.hub.services.sessions() as session:
                events, last_scanned, scanned = await self.kind.read(session, start)
                self.reads += 1
                behind = [s for s in subs if s.cursor < last_scanned]
                by_group: dict[Any, list[Any]] = {}
                if events and behind:
                    by_group = await self._deliveries(session, events, behind)
            direct: list[tuple[Subscriber, Any]] = []
            sending = self.hub.direct
            for sub in behind:
                for delivery in by_group.get(self.group_of(sub.actor), ()):
                    if delivery.position <= sub.cursor:
                        continue
                    if sub.room <= 0 and not sub.live:
                        sub.stalled = True
                        break
                    if sending and sub.parked and sub.live and not sub.items and sub.direct is not None:
                        direct.append((sub, delivery))  # sent below, in one loop
                    else:
                        sub.push(delivery)  # a live subscriber with no room left is cut off here
                        if sub.overflowed:
                            break
                    sub.cursor = delivery.position
                else:
                    sub.cursor = max(sub.cursor, last_scanned)
                    if scanned < PAGE:
                        sub.live = True
            if direct:
                await self._send_direct(direct)
            if scanned < PAGE:
                # The log is read to its end: the next socket joining "from now" borrows this
                # position instead of reading its own, and a subscriber that was not behind (it
                # joined at the account's position, nothing was logged since) is caught up too.
                self.read_to = max(self.read_to or 0, last_scanned)
                for sub in subs:
                    if sub.cursor >= last_scanned and not sub.overflowed and not sub.stalled:
                        sub.live = True
                return

    async def _send_direct(self, pending: list[tuple[Subscriber, Any]]) -> None:
        """The plain loop: each delivery written to its socket by the sink. One the sink cannot send
        goes to the subscriber's queue, and so does the rest of that subscriber's (its order kept)."""
        sent = 0
        for sub, delivery in pending:
            if not sub.items and sub.parked and sub in self.subscribers:
                try:
                    done = await sub.direct.deliver(delivery)
                except Exception as exc:  # noqa: BLE001 - a socket gone mid-write: its stream ends it
                    log.debug("hub.direct_send_failed", error=type(exc).__name__)
                    sub.direct = None
                    done = False
                if done:
                    sub.delivered = delivery.position
                    sent += 1
                    continue
            sub.push(delivery)
        self.hub.direct_sent += sent

    def group_of(self, actor: Actor) -> Any:
        if self.kind.hydrate is None:
            return None
        return self.kind.group(actor) if self.kind.group is not None else self.hub.group_of(actor)

    async def _deliveries(self, session, events: list[Event], subs: list[Subscriber]) -> dict[Any, list[Any]]:
        if self.kind.hydrate is None:
            return {None: [realtime_delivery(e) for e in events]}
        groups: dict[Any, Actor] = {}
        for sub in subs:
            groups.setdefault(self.group_of(sub.actor), sub.actor)
        inboxes = await _inboxes_of(
            session, [a.user_id for k, a in groups.items() if isinstance(k, tuple) and k[0] == "inboxes"]
        )
        # Agents who differ only by user but have the same inboxes and no personal grant see the same.
        merged: dict[Any, Actor] = {}
        alias: dict[Any, Any] = {}
        for key, actor in groups.items():
            if isinstance(key, tuple) and key[0] == "inboxes":
                visibility = ("inbox-set", actor.account_id, key[2], frozenset(inboxes.get(actor.user_id, ())))
            else:
                visibility = key
            merged.setdefault(visibility, actor)
            alias[key] = visibility
        shared = await self.kind.prefetch(session, self.account_id, events) if self.kind.prefetch else {}
        shared["inboxes"] = inboxes
        results: dict[Any, list[Any]] = {}
        for visibility, actor in merged.items():
            deliveries = await self.kind.hydrate(session, actor, events, shared)
            for delivery in deliveries:
                # Every subscriber of the group gets this object: its result is computed once
                # (schema/execution/events.py).
                delivery.shared = {}
            results[visibility] = deliveries
        return {key: results[visibility] for key, visibility in alias.items()}


def realtime_delivery(event: Event) -> Any:
    from resolvers.realtime import Delivery

    return Delivery(position=event.position, type=event.type, event=event)


def _needs_inboxes(actor: Actor) -> bool:
    return not (actor.is_administrator or actor.kind == ActorKind.bot) and actor.user_id is not None


async def _inboxes_of(session, user_ids: Iterable[int | None]) -> dict[int, set[int]]:
    ids = sorted({u for u in user_ids if u is not None})
    if not ids:
        return {}
    out: dict[int, set[int]] = {u: set() for u in ids}
    rows = await session.execute(select(InboxMember.user_id, InboxMember.inbox_id).where(InboxMember.user_id.in_(ids)))
    for user_id, inbox_id in rows:
        out[user_id].add(inbox_id)
    return out


class EventHub:
    """Feeds by channel, the process-wide poll, and their shutdown."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.feeds: dict[str, Feed] = {}
        self._poll: asyncio.Task | None = None
        self._lock = asyncio.Lock()
        self.closing = False
        self.direct = services.settings.realtime_direct_send  # see schema.execution.events.DirectSink
        self.direct_sent = 0  # deliveries written by the sinks (tests and the benchmark read it)

    @staticmethod
    def group_of(actor: Actor) -> tuple:
        """What decides what a subscriber may see (db.repositories.helpdesk.visible_conversations)."""
        if actor.kind == ActorKind.bot and actor.bot_id is not None:
            return ("bot", actor.account_id, actor.bot_id)  # the inboxes connected to it
        if actor.is_administrator or actor.kind == ActorKind.bot:
            return ("account", actor.account_id)
        grants = actor.permissions & {
            Permission.CONVERSATION_MANAGE.value,
            *_PERSONAL_GRANTS,
        }
        if grants & _PERSONAL_GRANTS:
            return ("user", actor.account_id, frozenset(grants), actor.user_id)
        # Same inboxes, same result: the inbox sets are read with each batch and such groups merge.
        return ("inboxes", actor.account_id, frozenset(grants), actor.user_id)

    async def join(
        self, channel: str, account_id: int, kind: FeedKind, actor: Actor, start: Callable[[], Awaitable[int]], **kw
    ) -> Subscriber:
        """Subscribe to the channel (once per process), then take the starting position: whatever
        is logged after it reaches the feed's subscription. `from_now` (no cursor given): a feed
        that is already live lends its position instead of a read of the account's."""
        async with self._lock:
            feed = self.feeds.get(channel)
            if feed is None:
                feed = Feed(self, channel, account_id, kind)
                self.feeds[channel] = feed
                feed.start()
                self._ensure_poll()
        feed.joining += 1
        borrowed = False
        try:
            await feed.subscribed.wait()
            if kw.get("from_now") and feed.read_to is not None and feed.subscribers:
                # "From now" without a read per socket: the feed has read everything up to here, so
                # whatever is logged after this subscription is beyond it.
                cursor = feed.read_to
                borrowed = True
            else:
                cursor = await start()
        except BaseException:
            feed.joining -= 1
            await self._drop_if_unused(feed)
            raise
        feed.joining -= 1
        direct = kw.get("direct")
        sub = Subscriber(
            feed,
            actor,
            cursor,
            self.services.settings.broadcast_queue_size,
            kw.get("on_signal"),
            direct if direct is not None and direct.usable else None,
        )
        feed.subscribers.add(sub)
        metrics.active_subscriptions.inc()
        if borrowed and not feed.reading:
            # Its cursor is where the feed has read to, taken with no wait since: caught up. What is
            # logged next is announced (or polled) and read for it, as for the others; an
            # announcement that came before is still marked dirty, and its read includes it. (A
            # read under way may end beyond the cursor: then it reads once more, below.) No read
            # per joining socket — with 1,000 sockets connecting, one read of the log per join.
            sub.live = True
        else:
            feed.dirty.set()  # a broadcast that came while the position was read is not lost
        return sub

    async def leave(self, sub: Subscriber) -> None:
        feed = sub.feed
        if sub in feed.subscribers:
            metrics.active_subscriptions.dec()
        feed.subscribers.discard(sub)
        await self._drop_if_unused(feed)

    async def _drop_if_unused(self, feed: Feed) -> None:
        if not feed.subscribers and not feed.joining and self.feeds.get(feed.channel) is feed:
            del self.feeds[feed.channel]
            await feed.stop()

    def _ensure_poll(self) -> None:
        if self._poll is None or self._poll.done():
            self._poll = asyncio.create_task(self._poll_loop(), name="hub-poll")

    async def _poll_loop(self) -> None:
        """The safety net for a missed broadcast: one statement for every account with a feed; a
        feed reads again when its account moved since the last poll."""
        while self.feeds:
            await asyncio.sleep(self.services.settings.realtime_poll_seconds)
            feeds = list(self.feeds.values())
            accounts = sorted({f.account_id for f in feeds})
            try:
                async with self.services.sessions() as session:
                    rows = await session.execute(select(Account.id, Account.event_seq).where(Account.id.in_(accounts)))
                    seqs = {account_id: seq for account_id, seq in rows}
            except Exception as exc:  # noqa: BLE001
                log.warning("hub.poll_failed", error=type(exc).__name__)
                for feed in feeds:
                    feed.dirty.set()
                continue
            for feed in feeds:
                seq = seqs.get(feed.account_id)
                if seq != feed.seen_seq:
                    feed.seen_seq = seq
                    feed.dirty.set()

    def queue_sizes(self) -> list[int]:
        return [len(s.items) for f in self.feeds.values() for s in f.subscribers]

    async def close(self) -> None:
        """Shutdown: every stream ends (its generator is woken and sees `closing`)."""
        self.closing = True
        if self._poll is not None:
            self._poll.cancel()
            await asyncio.gather(self._poll, return_exceptions=True)
        feeds = list(self.feeds.values())
        self.feeds.clear()
        for feed in feeds:
            for sub in feed.subscribers:
                sub.ready.set()
        await asyncio.gather(*(f.stop() for f in feeds), return_exceptions=True)


def hub_of(services: Services) -> EventHub:
    hub = getattr(services, "hub", None)
    if hub is None:
        hub = EventHub(services)
        services.hub = hub
    return hub
