"""IMAP polling per email inbox: an administrator gives the mailbox (host, port, TLS, user, password:
encrypted at rest, never shown again); a periodic task fetches what arrived since the checkpoint and
hands each email to the receiver. The checkpoint (UIDVALIDITY and the last UID) advances in the same
transaction as that email's message, so a restart reads nothing twice and misses nothing; a new
UIDVALIDITY (the mailbox was rebuilt) reads it from the start, Message-ID dedupe keeping the
conversations as they were. Polling uses the standard library's imaplib in a thread (each poll is
one short connection); where the server offers IDLE, `imap_idle` runs the poll as soon as mail arrives."""

from __future__ import annotations

import asyncio
import imaplib
import re
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import InboxImap
from domain import audit, crypto
from domain.accounts.actor import Actor
from domain.audit import RequestMeta
from domain.enums import ChannelType
from domain.errors import FieldError, ValidationError
from domain.events.relay import Relay
from domain.events.unit import unit_of_work
from domain.helpdesk import conversations
from domain.inbound_email.enums import InboundSource
from domain.inbound_email.receive import InboundConfig, receive
from domain.validation import matches
from domain.webhooks import ssrf
from infra.logs import get_logger

log = get_logger("parley.imap")
PASSWORD_CONTEXT = b"inbox-imap-password"
HOST_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?")
BATCH = 50  # emails per poll of one mailbox
LEASE = timedelta(minutes=5)
TIMEOUT = 30.0
UIDVALIDITY_RE = re.compile(rb"UIDVALIDITY (\d+)")


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int
    ssl: bool
    username: str
    password: str | None  # None keeps the stored one
    mailbox: str
    enabled: bool


async def configure(
    session: AsyncSession, actor: Actor, inbox_id: int, data: ImapSettings, app_settings: Any, meta: RequestMeta
) -> InboxImap:
    """Set (or change) the inbox's IMAP mailbox. A new host, user or mailbox starts from a fresh
    checkpoint (the mailbox is read from its start; dedupe keeps what was received)."""
    inbox = await conversations.inbox_for_agent(session, actor, inbox_id, field="inboxId")
    errors: list[FieldError] = []
    if inbox.channel_type != ChannelType.EMAIL:
        errors.append(FieldError("inboxId", "INVALID", "Only email inboxes read a mailbox."))
    host = data.host.strip()
    if not matches(HOST_RE, host, 253):
        errors.append(FieldError("host", "INVALID", "Give the IMAP server's host name."))
    if not 1 <= data.port <= 65535:
        errors.append(FieldError("port", "INVALID", "A port is 1 to 65535."))
    elif matches(HOST_RE, host, 253):
        refusal = await _host_refusal(host, data.port, app_settings)
        if refusal is not None:
            errors.append(refusal)
    if not data.username.strip() or len(data.username) > 320:
        errors.append(FieldError("username", "REQUIRED", "Give the mailbox's user name."))
    mailbox = data.mailbox.strip() or "INBOX"
    if len(mailbox) > 255 or any(c in mailbox for c in '\r\n"'):
        errors.append(FieldError("mailbox", "INVALID", "A folder name of up to 255 characters."))
    row = await session.get(InboxImap, inbox.id, with_for_update=True)
    if data.password is None and row is None:
        errors.append(FieldError("password", "REQUIRED", "Give the mailbox's password."))
    if data.password is not None and not 1 <= len(data.password) <= 1000:
        errors.append(FieldError("password", "INVALID", "A password of 1 to 1,000 characters."))
    if errors:
        raise ValidationError(errors)
    if row is None:
        row = InboxImap(inbox_id=inbox.id, account_id=inbox.account_id, last_uid=0, last_error="", created_at=utcnow())
        session.add(row)
    elif (row.host, row.username.lower(), row.mailbox) != (host, data.username.strip().lower(), mailbox):
        row.uidvalidity, row.last_uid = None, 0
    row.host, row.port, row.ssl = host, data.port, data.ssl
    row.username, row.mailbox, row.enabled = data.username.strip(), mailbox, data.enabled
    row.push = ""  # whether the server pushes new mail (IDLE) is found out again
    if data.password is not None:
        row.password_encrypted = crypto.encrypt(data.password, app_settings, context=PASSWORD_CONTEXT)
        row.password_key_id = crypto.key_id_of(row.password_encrypted) or ""
    audit.record(
        session,
        actor,
        "inbox.imap_set",
        "Inbox",
        inbox.id,
        {"host": host, "port": data.port, "username": row.username, "mailbox": mailbox, "enabled": data.enabled},
        meta,
    )
    await session.flush()
    return row


def _fetch(row: dict[str, Any], batch: int) -> tuple[int, list[tuple[int, bytes]]]:
    """(UIDVALIDITY, [(uid, raw)]) of the emails after the checkpoint, read-only (nothing is marked)."""
    cls = imaplib.IMAP4_SSL if row["ssl"] else imaplib.IMAP4
    client = cls(row["host"], row["port"], timeout=TIMEOUT)
    try:
        client.login(row["username"], row["password"])
        status, data = client.select(f'"{row["mailbox"]}"', readonly=True)
        if status != "OK":
            raise imaplib.IMAP4.error(f"cannot open the folder {row['mailbox']}")
        _, codes = client.response("UIDVALIDITY")
        validity = int(codes[0]) if codes and codes[0] else 0
        last = row["last_uid"] if row["uidvalidity"] == validity else 0
        _, found = client.uid("SEARCH", f"UID {last + 1}:*")
        uids = sorted(int(u) for u in (found[0] or b"").split() if int(u) > last)[:batch]
        out = []
        for uid in uids:
            _, parts = client.uid("FETCH", str(uid), "(BODY.PEEK[])")
            raw = next((p[1] for p in parts if isinstance(p, tuple)), None)
            if raw is not None:
                out.append((uid, bytes(raw)))
        return validity, out
    finally:
        try:
            client.logout()
        except Exception:  # noqa: BLE001 - the connection is going anyway
            pass


async def _claim(sessions: Callable[[], AbstractAsyncContextManager[AsyncSession]], inbox_id: int) -> bool:
    """Take the mailbox's lease, so two schedulers never poll it at once."""
    now = utcnow()
    async with sessions() as session:
        result = await session.execute(
            update(InboxImap)
            .where(
                InboxImap.inbox_id == inbox_id,
                or_(InboxImap.polling_until.is_(None), InboxImap.polling_until < now),
            )
            .values(polling_until=now + LEASE)
        )
        await session.commit()
        return bool(getattr(result, "rowcount", 0))


async def poll_inbox(
    sessions: Callable[[], AbstractAsyncContextManager[AsyncSession]],
    relay: Relay,
    config: InboundConfig,
    inbox_id: int,
    batch: int = BATCH,
) -> int:
    """Read one mailbox's new emails into the inbox; returns how many were received."""
    # The lease is given back however the poll ends, a scheduler stopping (cancelling it) included:
    # otherwise the mailbox would wait for the lease to run out before anyone reads it again.
    claim = asyncio.ensure_future(_claim(sessions, inbox_id))
    try:
        claimed = await asyncio.shield(claim)
    except asyncio.CancelledError:
        claim.add_done_callback(lambda done: _release_later(sessions, inbox_id, done))
        raise
    if not claimed:
        return 0
    received = 0
    error = ""
    try:
        async with sessions() as session:
            row = await session.get(InboxImap, inbox_id)
            if row is None or not row.enabled:
                return 0
            host, port = row.host, row.port
            plain = {
                "host": row.host,
                "port": row.port,
                "ssl": row.ssl,
                "username": row.username,
                "password": crypto.decrypt(row.password_encrypted, config.settings, context=PASSWORD_CONTEXT),
                "mailbox": row.mailbox,
                "uidvalidity": row.uidvalidity,
                "last_uid": row.last_uid,
            }
        await ssrf.vet_host(host, port, allow_private=config.settings.mail_allow_private_hosts)
        validity, emails = await asyncio.to_thread(_fetch, plain, batch)
        for uid, raw in emails:
            async with unit_of_work(sessions, relay) as session:
                await receive(session, config, raw, source=InboundSource.IMAP, inbox_id=inbox_id)
                checkpoint = await session.get_one(InboxImap, inbox_id, with_for_update=True)
                checkpoint.uidvalidity, checkpoint.last_uid = validity, uid
            received += 1
        if not emails and plain["uidvalidity"] != validity:
            async with sessions() as session:
                await session.execute(
                    update(InboxImap).where(InboxImap.inbox_id == inbox_id).values(uidvalidity=validity, last_uid=0)
                )
                await session.commit()
    except Exception as exc:  # noqa: BLE001 - recorded on the mailbox, tried again next time
        error = f"{type(exc).__name__}: {exc}"[:500]
        log.warning("imap.poll_failed", inbox_id=inbox_id, error=error)
    finally:
        await asyncio.shield(_release(sessions, inbox_id, error))
    return received


async def _release(
    sessions: Callable[[], AbstractAsyncContextManager[AsyncSession]], inbox_id: int, error: str
) -> None:
    async with sessions() as session:
        await session.execute(
            update(InboxImap)
            .where(InboxImap.inbox_id == inbox_id)
            .values(polling_until=None, last_polled_at=utcnow(), last_error=error)
        )
        await session.commit()


_RELEASING: set[asyncio.Task[None]] = set()


def _release_later(
    sessions: Callable[[], AbstractAsyncContextManager[AsyncSession]], inbox_id: int, claim: asyncio.Future[bool]
) -> None:
    """A poll cancelled while it claimed the lease: give the lease back if the claim went through."""
    if claim.cancelled() or claim.exception() is not None or not claim.result():
        return
    task = asyncio.ensure_future(_release(sessions, inbox_id, ""))
    _RELEASING.add(task)
    task.add_done_callback(_RELEASING.discard)


async def poll_all(
    sessions: Callable[[], AbstractAsyncContextManager[AsyncSession]], relay: Relay, config: InboundConfig
) -> int:
    """One poll of every enabled mailbox (the scheduler's task)."""
    async with sessions() as session:
        ids = list((await session.scalars(select(InboxImap.inbox_id).where(InboxImap.enabled))).all())
    total = 0
    for inbox_id in ids:
        total += await poll_inbox(sessions, relay, config, inbox_id)
    return total


async def _host_refusal(host: str, port: int, app_settings: Any) -> FieldError | None:
    """Why the IMAP host may not be used, or None (a name that does not resolve now is checked again
    before each connection)."""
    try:
        await ssrf.vet_host(host, port, allow_private=app_settings.mail_allow_private_hosts)
    except ssrf.TargetRefused as exc:
        if exc.code != "UNRESOLVABLE":
            return FieldError("host", exc.code, exc.message)
    return None
