"""Resolved credentials kept per process, so an authenticated request reads nothing from the database.

What a credential resolves to (an access token's session still open and its user's membership, role
and permissions in the chosen account; an API or partner token's row) is kept for a short while,
keyed by what the client presented. Every transaction that changes a row authentication reads (a
session ended, a membership added, changed or removed, a custom role's permissions, a token revoked,
an account suspended, a partner app's manifest moved) is marked by a flush listener; after it
commits, the relay publishes on `AUTH_CHANGED_CHANNEL` and every process forgets everything it had
(changes to these rows are rare, so forgetting all of it is cheap and leaves no case out).

Never stale for long:
- the writer's own process forgets everything before it answers (domain/events/relay.py);
- before publishing, the relay increments a counter in Redis (`AUTH_EPOCH_KEY`,
  domain/events/channels.py), which requests read in the round trip of their rate limits and cost
  budget (infra/ratelimit.py `check_limits`), at least once per lease of the limits
  (PARLEY_RATE_LIMIT_LEASE_SECONDS: a busy caller's requests in between make no round trip); a
  request that finds the counter moved since this process last saw it empties the cache and, when
  its caller came from the cache, resolves it again from the database, so within one lease after
  the writer's response every instance sees the change even if the announcement never arrives
  (pub/sub after the commit takes milliseconds). A request with neither limits nor a budget (both
  turned off) has no such round trip and relies on the announcement;
- the cache is used only while the broadcast's subscription is connected; a lost connection (or a
  reconnect: messages published meanwhile never arrived) empties it, and until the subscription is
  back every request reads the database;
- a lookup that raced an invalidation is not stored (a generation counter);
- every entry expires after `max_age` seconds, for changes made outside a unit of work (the CLI,
  hand-written SQL).

Token last-used times are written at most once a minute per token and process, off the request's
path (a task of its own)."""

from __future__ import annotations

import asyncio
import random
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, UOWTransaction

from db.models import Account, AccountMembership, ApiToken, Bot, CustomRole, PartnerApp, PartnerToken, User, UserSession
from domain.events.channels import AUTH_CHANGED_CHANNEL, SESSIONS_REVOKED_CHANNEL
from domain.events.pending import pending
from infra.logs import get_logger

log = get_logger("parley.auth")

# Rows authentication reads, and the columns whose change matters (None: any column). Last-used times
# are left out: they change all the time and decide nothing.
_WATCHED: dict[type, frozenset[str] | None] = {
    # Only suspension decides; every logged event bumps the account's event_seq.
    Account: frozenset({"status"}),
    AccountMembership: None,
    CustomRole: None,
    Bot: None,
    PartnerApp: None,
    User: frozenset({"sessions_valid_after", "is_super_admin", "email"}),
    UserSession: frozenset({"revoked_at", "user_id", "expires_at"}),
    ApiToken: frozenset({"revoked_at", "account_id", "user_id", "bot_id", "token_hash"}),
    PartnerToken: frozenset({"revoked_at", "account_id", "app_id", "token_hash"}),
}
# New rows of these change what an existing credential resolves to (a second membership makes a user
# without a chosen account no longer default to the first).
_NEW_MATTERS = (AccountMembership,)
_TABLES = {model.__table__.name: columns for model, columns in _WATCHED.items()}  # type: ignore[attr-defined]


def _changes_auth(instance: object, new: bool, deleted: bool) -> bool:
    columns = _WATCHED.get(type(instance), frozenset())
    if columns == frozenset():
        return False
    if new:
        return isinstance(instance, _NEW_MATTERS)
    if deleted or columns is None:
        return True
    state = inspect(instance)
    return any(state.attrs[name].history.has_changes() for name in columns if name in state.attrs)


@event.listens_for(Session, "before_flush")
def _mark_flushed_changes(session: Session, _flush: UOWTransaction, _instances: Any) -> None:
    if pending(session).auth_changed:  # type: ignore[arg-type]
        return
    if (
        any(_changes_auth(o, False, False) for o in session.dirty)
        or any(_changes_auth(o, False, True) for o in session.deleted)
        or any(_changes_auth(o, True, False) for o in session.new)
    ):
        pending(session).auth_changed = True  # type: ignore[arg-type]


@event.listens_for(Session, "do_orm_execute")
def _mark_bulk_changes(state: Any) -> None:
    if not (state.is_update or state.is_delete):
        return
    table = getattr(getattr(state.statement, "table", None), "name", None)
    if table not in _TABLES:
        return
    columns = _TABLES[table]
    if state.is_update and columns is not None:
        values = getattr(state.statement, "_values", None) or {}
        names = {getattr(k, "key", k) for k in values}
        if names and not names & columns:
            return
    pending(state.session).auth_changed = True


class AuthCache:
    """Resolved actors by credential, for as long as the broadcast can tell this process that they
    changed (and at most `max_age` seconds)."""

    def __init__(self, broadcast: Any, *, max_age: float = 60.0, max_entries: int = 50_000) -> None:
        self.broadcast = broadcast
        self.max_age = max_age
        self.max_entries = max_entries
        self.generation = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[tuple[Any, ...], tuple[Any, float]] = OrderedDict()
        self._watching = False
        self._reconnects = 0
        self._touched: OrderedDict[str, float] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        self._epoch: int | None = None  # the last value of AUTH_EPOCH_KEY a request read

    async def start(self) -> None:
        await self.broadcast.watch(AUTH_CHANGED_CHANNEL, self._heard)
        await self.broadcast.watch(SESSIONS_REVOKED_CHANNEL, self._heard)
        self._reconnects = self.broadcast.reconnects
        self._watching = True

    async def stop(self) -> None:
        self._watching = False
        self.invalidate()
        tasks = list(self._tasks)
        if tasks:
            await asyncio.wait(tasks, timeout=5)

    def _heard(self, _event: Any) -> None:
        self.invalidate()

    def invalidate(self) -> None:
        self.generation += 1
        self._entries.clear()

    def observe(self, epoch: int) -> bool:
        """A request read `epoch` from Redis: when it moved since the last one (or is the first one
        read while entries are held), forget everything and say so — the request's own credential
        may have come from what was forgotten."""
        last, self._epoch = self._epoch, epoch
        if last == epoch or (last is None and not self._entries):
            return False
        self.invalidate()
        return True

    def usable(self) -> bool:
        """True while invalidations reach this process; otherwise forget everything and say no."""
        if not self._watching:
            return False
        reconnects = self.broadcast.reconnects
        if reconnects != self._reconnects:
            self._reconnects = reconnects
            self.invalidate()
        if not self.broadcast.live:
            if self._entries:
                self.invalidate()
            return False
        return True

    def get(self, key: tuple[Any, ...]) -> Any | None:
        if not self.usable():
            return None
        found = self._entries.get(key)
        if found is None:
            self.misses += 1
            return None
        value, stored_at = found
        if time.monotonic() - stored_at > self.max_age:
            self._entries.pop(key, None)
            self.misses += 1
            return None
        self.hits += 1
        return value

    def put(self, key: tuple[Any, ...], value: Any, generation: int) -> None:
        """Keep what was read, unless an invalidation arrived since the read began."""
        if generation != self.generation or not self.usable():
            return
        # Aged by up to a fifth of max_age at random: callers first seen together (a deploy, a
        # benchmark's warm-up) would otherwise all be read again in the same second a minute later.
        self._entries[key] = (value, time.monotonic() - random.random() * self.max_age / 5)
        if len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    # --- last-used times -------------------------------------------------------------------------------

    def touch(self, key: str, write: Callable[[datetime], Any], now: datetime) -> None:
        """Record that a token (by its hash) was used: at most once a minute per token in this
        process, in a task of its own so the request does not wait for the write."""
        clock = time.monotonic()
        last = self._touched.get(key)
        if last is not None and clock - last < 60:
            return
        self._touched[key] = clock
        self._touched.move_to_end(key)
        if len(self._touched) > self.max_entries:
            self._touched.popitem(last=False)
        task = asyncio.get_running_loop().create_task(self._write(write, now), name="token-touch")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _write(write: Callable[[datetime], Any], now: datetime) -> None:
        try:
            await write(now)
        except Exception as exc:  # noqa: BLE001 - a last-used time is informational
            log.warning("auth.touch_failed", error=type(exc).__name__)
