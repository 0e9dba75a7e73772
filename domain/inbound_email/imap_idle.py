"""IMAP IDLE (RFC 2177) where the server offers it: new customer mail is read seconds after it
arrives instead of at the next poll.

One scheduler at a time watches a mailbox: it holds the mailbox's IDLE lease (`inbox_imap.idle_until`,
renewed on every check, given back when the watcher stops), keeps one connection in IDLE on the
folder (it reads and flags nothing) and, when the server announces new mail (`* n EXISTS`), runs the ordinary
poll (`imap.poll_inbox`). The poll stays the one reader: it takes the polling lease and advances the
checkpoint with each email, so pushing changes when mail is read, never what is read. The periodic
poll goes on as the safety net (a push can be lost with its connection). A server without IDLE is
marked `unsupported` and only polled; a failing watcher backs off and tries again."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aioimaplib
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import InboxImap
from domain import crypto
from domain.events.relay import Relay
from domain.inbound_email import imap
from domain.inbound_email.receive import InboundConfig
from domain.webhooks import ssrf
from infra.logs import get_logger

log = get_logger("parley.imap.idle")
REIDLE_SECONDS = 29 * 60  # RFC 2177: re-issue IDLE at least every 29 minutes
RETRY_SECONDS = (5.0, 15.0, 60.0, 300.0)  # a failing watcher waits longer each time
PUSH_IDLE, PUSH_UNSUPPORTED = "idle", "unsupported"
Sessions = Callable[[], AbstractAsyncContextManager[AsyncSession]]


@dataclass(frozen=True)
class _Mailbox:
    """What a watcher connects with; a change (new host, user, folder or password) restarts it."""

    host: str
    port: int
    ssl: bool
    username: str
    password_encrypted: str
    mailbox: str


class IdleWatchers:
    """The IDLE watchers of one scheduler. `check()` (a periodic task) takes the leases of mailboxes
    nobody watches, renews its own and stops watchers whose mailbox went away or changed."""

    def __init__(self, sessions: Sessions, relay: Relay, config: InboundConfig, check_seconds: float) -> None:
        self.sessions, self.relay, self.config = sessions, relay, config
        self.lease = timedelta(seconds=max(3 * check_seconds, 10.0))
        self._watching: dict[int, tuple[_Mailbox, asyncio.Task[None]]] = {}

    @property
    def watching(self) -> set[int]:
        return set(self._watching)

    async def check(self) -> int:
        """One pass; returns how many watchers were started."""
        async with self.sessions() as session:
            rows = (
                await session.execute(
                    select(InboxImap).where(InboxImap.enabled.is_(True), InboxImap.push != PUSH_UNSUPPORTED)
                )
            ).scalars()
            wanted = {
                row.inbox_id: _Mailbox(row.host, row.port, row.ssl, row.username, row.password_encrypted, row.mailbox)
                for row in rows
            }
        for inbox_id, (mailbox, task) in list(self._watching.items()):
            if wanted.get(inbox_id) != mailbox or task.done():
                await self._stop(inbox_id)
        now = utcnow()
        async with self.sessions() as session:
            if self._watching:  # renew what this scheduler watches
                await session.execute(
                    update(InboxImap)
                    .where(InboxImap.inbox_id.in_(list(self._watching)))
                    .values(idle_until=now + self.lease)
                )
            started = 0
            for inbox_id, mailbox in wanted.items():
                if inbox_id in self._watching:
                    continue
                taken = await session.execute(
                    update(InboxImap)
                    .where(
                        InboxImap.inbox_id == inbox_id,
                        or_(InboxImap.idle_until.is_(None), InboxImap.idle_until < now),
                    )
                    .values(idle_until=now + self.lease)
                )
                if getattr(taken, "rowcount", 0):
                    task = asyncio.create_task(self._watch(inbox_id, mailbox), name=f"imap-idle:{inbox_id}")
                    self._watching[inbox_id] = (mailbox, task)
                    started += 1
            await session.commit()
        return started

    async def stop(self) -> None:
        """Stop every watcher and give their leases back (the scheduler is stopping)."""
        for inbox_id in list(self._watching):
            await self._stop(inbox_id)

    async def _stop(self, inbox_id: int) -> None:
        _, task = self._watching.pop(inbox_id)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        with contextlib.suppress(Exception):
            await asyncio.shield(self._set(inbox_id, idle_until=None))

    async def _set(self, inbox_id: int, **values: Any) -> None:
        async with self.sessions() as session:
            await session.execute(update(InboxImap).where(InboxImap.inbox_id == inbox_id).values(**values))
            await session.commit()

    async def _watch(self, inbox_id: int, mailbox: _Mailbox) -> None:
        failures = 0
        while True:
            try:
                if await self._idle(inbox_id, mailbox):
                    return  # the server has no IDLE: polling alone reads this mailbox
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a lost connection or a refusal: try again later
                wait = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
                failures += 1
                log.warning(
                    "imap.idle_failed", inbox_id=inbox_id, error=f"{type(exc).__name__}: {exc}"[:300], retry_in=wait
                )
                await asyncio.sleep(wait)

    async def _idle(self, inbox_id: int, mailbox: _Mailbox) -> bool:
        """Watch until the connection ends (returns False) or the server turns out to have no IDLE
        (returns True)."""
        await ssrf.vet_host(mailbox.host, mailbox.port, allow_private=self.config.settings.mail_allow_private_hosts)
        password = crypto.decrypt(mailbox.password_encrypted, self.config.settings, context=imap.PASSWORD_CONTEXT)
        client: aioimaplib.IMAP4
        if mailbox.ssl:
            client = aioimaplib.IMAP4_SSL(
                mailbox.host, mailbox.port, timeout=imap.TIMEOUT, ssl_context=ssl.create_default_context()
            )
        else:
            client = aioimaplib.IMAP4(mailbox.host, mailbox.port, timeout=imap.TIMEOUT)
        idle: asyncio.Future[Any] | None = None
        try:
            await client.wait_hello_from_server()
            login = await client.login(mailbox.username, password)
            if login.result != "OK":
                raise aioimaplib.Error("the server refused the login")
            if not client.has_capability("IDLE"):
                await self._set(inbox_id, push=PUSH_UNSUPPORTED)
                log.info("imap.idle_unsupported", inbox_id=inbox_id)
                return True
            # SELECT, not EXAMINE: aioimaplib enters the selected state (where IDLE is allowed) only
            # on SELECT. The watcher reads and flags nothing, so nothing in the mailbox changes.
            selected = await client.select(f'"{mailbox.mailbox}"')
            if selected.result != "OK":
                raise aioimaplib.Error(f"cannot open the folder {mailbox.mailbox}")
            await self._set(inbox_id, push=PUSH_IDLE)
            await self._read(inbox_id)  # what arrived before the watch began
            while True:
                idle = await client.idle_start(timeout=REIDLE_SECONDS)
                pushed: list[Any] = []
                with contextlib.suppress(asyncio.TimeoutError):
                    pushed = await client.wait_server_push(timeout=REIDLE_SECONDS)
                client.idle_done()
                await asyncio.wait_for(idle, imap.TIMEOUT)
                if not isinstance(pushed, list):
                    pushed = [pushed]
                if any(isinstance(line, bytes) and line.endswith(b"EXISTS") for line in pushed):
                    await self._read(inbox_id)
                if client.protocol.state == aioimaplib.LOGOUT:
                    return False
        finally:
            if idle is not None and not idle.done():  # stopped while idling: end IDLE, then log out
                with contextlib.suppress(Exception):
                    client.idle_done()
                    await asyncio.wait_for(idle, 5)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.logout(), 5)

    async def _read(self, inbox_id: int) -> None:
        """Run the poll now; while another scheduler's periodic poll holds the mailbox, try again a
        few times (what it reads is not read twice: the checkpoint decides)."""
        for _ in range(5):
            if await imap.poll_inbox(self.sessions, self.relay, self.config, inbox_id) or not await self._busy(
                inbox_id
            ):
                return
            await asyncio.sleep(1.0)

    async def _busy(self, inbox_id: int) -> bool:
        async with self.sessions() as session:
            until = await session.scalar(select(InboxImap.polling_until).where(InboxImap.inbox_id == inbox_id))
        return until is not None and until > utcnow()
