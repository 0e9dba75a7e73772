"""The process's open sockets: one watcher and one presence beat for all of them, not a timer each.

* Sessions: revocations arrive on the broadcast (SESSIONS_REVOKED_CHANNEL, one subscription per
  process) and close the sockets of those sessions, memberships or (suspended) accounts at once;
  an access token's expiry is a timer handle on the loop; and every `ws_revalidate_seconds` all sockets are re-checked
  together (sessions, memberships, API tokens: one statement each) in case a broadcast was missed.
* Presence: each agent socket holds an entry in the presence store; one beat renews all of them in
  one Redis pipeline. The first socket of an agent announces them online, the last one offline.
* Shutdown: every socket is closed with 1012 (service restart): clients reconnect elsewhere and
  resume from their cursors."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from db.base import utcnow
from db.repositories import accounts as account_repo
from domain import realtime
from domain.accounts import tokens
from domain.accounts.actor import Actor
from domain.accounts.auth import session_ended
from domain.enums import Availability
from domain.events.channels import SESSIONS_REVOKED_CHANNEL
from infra.logs import get_logger

if TYPE_CHECKING:
    from infra.services import Services

log = get_logger("parley.sockets")

WS_CLOSE_UNAUTHORIZED = 4401


WS_CLOSE_SERVICE_RESTART = 1012
REVALIDATE_SECONDS = 30.0


def socket_account(actor: Actor) -> int | None:
    """The account a socket belongs to: its member's or bot's, or a widget visitor's inbox's."""
    if actor.account_id is not None:
        return actor.account_id
    return getattr(actor, "widget_account_id", None)


def account_revocation(account_id: int) -> str:
    """The revocation key that closes every socket of an account (agents, bots, widget visitors)."""
    return f"account:{account_id}"


def watched(actor: Actor) -> bool:
    """Whether the registry watches this caller's sockets: sessions and tokens are re-checked, and
    every socket of an account (a widget visitor's too) closes with its account's suspension."""
    return actor.session_id is not None or actor.api_token_id is not None or socket_account(actor) is not None


class SocketEntry:
    __slots__ = ("actor", "closed", "issued_at", "presence_id", "timer", "ws")

    def __init__(self, ws: Any, actor: Actor, present: bool, issued_at: datetime | None) -> None:
        self.ws = ws
        self.actor = actor
        self.issued_at = issued_at
        self.presence_id = uuid.uuid4().hex if present else None
        self.timer: asyncio.TimerHandle | None = None
        self.closed = False


class SocketRegistry:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.entries: set[SocketEntry] = set()
        self._by_key: dict[str, set[SocketEntry]] = defaultdict(set)  # session id / membership key → sockets
        self._tasks: list[asyncio.Task] = []
        self._closing: set[asyncio.Task] = set()
        self.shutting_down = False
        # Sockets arriving (or leaving) at the same moment, or while the previous batch is in Redis,
        # share one round trip: "became online" / "went offline" for each.
        self._arrivals = _PresenceBatch(
            lambda entries: services.presence.arrive_many(entries, services.settings.presence_ttl_seconds)  # type: ignore[union-attr]
        )
        self._departures = _PresenceBatch(lambda entries: services.presence.leave_many(entries))  # type: ignore[union-attr]

    @staticmethod
    def _keys(actor: Actor) -> list[str]:
        keys = []
        if actor.session_id:
            keys.append(actor.session_id)
        if actor.account_id is not None and actor.user_id is not None:
            keys.append(f"membership:{actor.account_id}:{actor.user_id}")
        account_id = socket_account(actor)
        if account_id is not None:
            keys.append(account_revocation(account_id))  # the account suspended: every socket of it
        return keys

    def _ensure_started(self) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._listen_revocations(), name="sockets-revocations"),
                asyncio.create_task(self._revalidate_loop(), name="sockets-revalidate"),
                asyncio.create_task(self._presence_beat(), name="sockets-presence"),
            ]

    async def add(self, ws: Any, actor: Actor, token: str | None, present: bool) -> SocketEntry:
        """Watch a socket whose caller signed in (and, when `present`, keep the agent's presence)."""
        self._ensure_started()
        issued_at = None
        expires_in = None
        if token and actor.session_id is not None:
            try:
                claims = tokens.decode_access_token(self.services.settings.secret_key, token)
                issued_at = claims.issued_at
                expires_in = max((claims.expires_at - utcnow()).total_seconds(), 0)
            except tokens.InvalidToken:
                expires_in = 0
        entry = SocketEntry(ws, actor, present, issued_at)
        is_watched = watched(actor)
        if is_watched:
            self.entries.add(entry)
            for key in self._keys(actor):
                self._by_key[key].add(entry)
            if expires_in is not None:
                entry.timer = asyncio.get_running_loop().call_later(
                    expires_in, self.close, entry, WS_CLOSE_UNAUTHORIZED, "access token expired"
                )
        if entry.presence_id is not None:
            if not is_watched:
                self.entries.add(entry)
            await self._arrive(entry)
        return entry

    async def remove(self, entry: SocketEntry) -> None:
        entry.closed = True
        if entry.timer is not None:
            entry.timer.cancel()
        self.entries.discard(entry)
        for key in self._keys(entry.actor):
            sockets = self._by_key.get(key)
            if sockets is not None:
                sockets.discard(entry)
                if not sockets:
                    del self._by_key[key]
        if entry.presence_id is not None:
            await self._depart(entry)

    def close(self, entry: SocketEntry, code: int, reason: str) -> None:
        if entry.closed:
            return
        entry.closed = True
        task = asyncio.get_running_loop().create_task(self._close(entry.ws, code, reason))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    @staticmethod
    async def _close(ws: Any, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await ws.close(code=code, reason=reason)

    # --- sessions ------------------------------------------------------------------------------

    async def _listen_revocations(self) -> None:
        while True:
            try:
                async with self.services.broadcast.subscribe(SESSIONS_REVOKED_CHANNEL) as sub:
                    while True:
                        event = await sub.get()
                        try:
                            ended = json.loads(event.message)
                        except (TypeError, ValueError):
                            continue
                        if not isinstance(ended, list):
                            continue  # a resync marker after a Redis reconnect
                        for key in ended:
                            for entry in list(self._by_key.get(str(key), ())):
                                self.close(entry, WS_CLOSE_UNAUTHORIZED, "session ended")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the periodic re-check still runs; listen again
                log.warning("sockets.revocations_failed", error=type(exc).__name__)
                await asyncio.sleep(1)

    async def _revalidate_loop(self) -> None:
        while True:
            await asyncio.sleep(REVALIDATE_SECONDS)
            try:
                await self.revalidate()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - never keep an unchecked socket
                log.warning("sockets.revalidate_failed", error=type(exc).__name__)
                for entry in list(self.entries):
                    if entry.actor.session_id or entry.actor.api_token_id:
                        self.close(entry, WS_CLOSE_UNAUTHORIZED, "session check failed")

    async def revalidate(self) -> None:
        """Every watched socket re-checked at once: one statement for sessions, one for
        memberships, one for API tokens."""
        entries = [e for e in self.entries if not e.closed and (e.actor.session_id or e.actor.api_token_id)]
        if not entries:
            return
        session_ids = sorted({e.actor.session_id for e in entries if e.actor.session_id})
        token_ids = sorted({e.actor.api_token_id for e in entries if e.actor.api_token_id})
        pairs = sorted(
            {(e.actor.account_id, e.actor.user_id) for e in entries if e.actor.account_id and e.actor.user_id}
        )
        async with self.services.sessions() as session:
            sessions = await account_repo.sessions_with_users(session, session_ids)
            memberships = await account_repo.live_memberships(session, pairs)  # type: ignore[arg-type]
            live_tokens = await account_repo.live_api_tokens(session, token_ids)  # type: ignore[arg-type]
        for entry in entries:
            actor = entry.actor
            ok = True
            if actor.session_id:
                found = sessions.get(actor.session_id)
                ok = (
                    found is not None
                    and entry.issued_at is not None
                    and actor.user_id is not None
                    and not session_ended(found[0], found[1], actor.user_id, entry.issued_at)
                )
            if ok and actor.api_token_id:
                ok = actor.api_token_id in live_tokens
            if ok and actor.account_id and actor.user_id:
                ok = (actor.account_id, actor.user_id) in memberships
            if not ok:
                self.close(entry, WS_CLOSE_UNAUTHORIZED, "session ended")

    # --- presence ------------------------------------------------------------------------------

    async def _arrive(self, entry: SocketEntry) -> None:
        from resolvers.realtime import announce_presence

        actor = entry.actor
        try:
            became_online = await self._arrivals.add(entry)
        except Exception as exc:  # noqa: BLE001
            log.warning("presence.touch_failed", error=type(exc).__name__)
            return
        if not became_online:
            return  # another socket of theirs already announced them: no read for this one
        try:
            async with self.services.sessions() as session:
                user = await account_repo.user_by_id(session, actor.user_id)
        except Exception as exc:  # noqa: BLE001 - presence is best effort
            log.warning("presence.availability_failed", error=type(exc).__name__)
            return
        if user is not None:
            await announce_presence(
                self, actor.account_id, actor.user_id, realtime.effective_status(user.availability, True)
            )

    async def _depart(self, entry: SocketEntry) -> None:
        from resolvers.realtime import announce_presence

        actor = entry.actor
        try:
            gone = await self._departures.add(entry)
        except Exception as exc:  # noqa: BLE001
            log.warning("presence.leave_failed", error=type(exc).__name__)
            return
        if gone:
            await announce_presence(self, actor.account_id, actor.user_id, Availability.OFFLINE)

    @property
    def broadcast(self):  # announce_presence takes anything with a broadcast
        return self.services.broadcast

    async def _presence_beat(self) -> None:
        settings = self.services.settings
        while True:
            await asyncio.sleep(settings.presence_heartbeat_seconds)
            entries = [
                (e.actor.account_id, e.actor.user_id, e.presence_id)
                for e in self.entries
                if e.presence_id is not None and not e.closed
            ]
            try:
                await self.services.presence.touch_many(entries, settings.presence_ttl_seconds)  # type: ignore[union-attr]
            except Exception as exc:  # noqa: BLE001
                log.warning("presence.touch_failed", error=type(exc).__name__, sockets=len(entries))

    # --- shutdown ------------------------------------------------------------------------------

    async def shutdown(self, timeout: float = 3.0) -> None:
        """Close every socket with 1012 and stop the timers."""
        self.shutting_down = True
        for entry in list(self.entries):
            self.close(entry, WS_CLOSE_SERVICE_RESTART, "service restart")
        if self._closing:
            await asyncio.wait(set(self._closing), timeout=timeout)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []


class _PresenceBatch:
    """Entries waiting for one pipelined presence call; the first to wait starts the round trip,
    those that come while it is in Redis go together in the next one."""

    def __init__(self, call: Callable[[list[tuple[int, int, str]]], Awaitable[list[bool]]]) -> None:
        self._call = call
        self._waiting: list[tuple[SocketEntry, asyncio.Future]] = []
        self._task: asyncio.Task | None = None

    async def add(self, entry: SocketEntry) -> bool:
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        self._waiting.append((entry, future))
        if self._task is None:
            self._task = loop.create_task(self._run(), name="sockets-presence-batch")
        return await asyncio.shield(future)

    async def _run(self) -> None:
        try:
            await asyncio.sleep(0)  # the sockets of the same moment join in
            while self._waiting:
                batch, self._waiting = self._waiting, []
                entries = [(e.actor.account_id, e.actor.user_id, e.presence_id) for e, _ in batch]
                try:
                    results = await self._call(entries)  # type: ignore[arg-type]
                except Exception as exc:  # noqa: BLE001 - each waiter logs it and goes on
                    results = None
                    error = exc
                for index, (_, future) in enumerate(batch):
                    if future.done():
                        continue
                    if results is None:
                        future.set_exception(error)
                        future.exception()  # a waiter that went away does not leave it unretrieved
                    else:
                        future.set_result(results[index])
        finally:
            self._task = None
            for _, future in self._waiting:  # cancelled (shutdown): nobody is left waiting
                if not future.done():
                    future.set_exception(RuntimeError("presence not recorded"))
                    future.exception()
            self._waiting = []


def registry_of(services: Services) -> SocketRegistry:
    registry = getattr(services, "sockets", None)
    if registry is None:
        registry = SocketRegistry(services)
        services.sockets = registry
    return registry
