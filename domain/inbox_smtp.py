"""An email inbox's own outgoing SMTP server (Chatwoot's `channel_email.smtp_*`): an administrator
gives host, port, TLS mode and, optionally, a login (the password encrypted at rest with
domain.crypto, never shown again); the inbox's replies are then sent through it instead of the
installation's `PARLEY_SMTP_*` server. The `email.send` job carries only the inbox's id: the worker
reads and decrypts the settings when it sends, so no credential is ever in a job's arguments."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import InboxSmtp
from domain import audit, crypto
from domain.accounts.actor import Actor
from domain.audit import RequestMeta
from domain.enums import ChannelType
from domain.errors import FieldError, ValidationError
from domain.helpdesk import conversations
from domain.validation import matches
from domain.webhooks import ssrf
from infra.settings import Settings

PASSWORD_CONTEXT = b"inbox-smtp-password"
HOST_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?")


class TlsMode(StrEnum):
    NONE = "none"  # plain SMTP (a relay on a private network)
    STARTTLS = "starttls"  # upgrade with STARTTLS, required (port 587)
    TLS = "tls"  # TLS from the first byte (port 465)


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    tls_mode: TlsMode
    username: str
    password: str | None  # None keeps the stored one
    enabled: bool


@dataclass(frozen=True)
class SmtpConnection:
    """What the worker connects with (the password decrypted)."""

    host: str
    port: int
    tls_mode: TlsMode
    username: str
    password: str


async def configure(
    session: AsyncSession,
    actor: Actor,
    inbox_id: int,
    data: SmtpSettings,
    app_settings: Settings,
    meta: RequestMeta,
) -> InboxSmtp:
    """Set (or change) the inbox's outgoing SMTP server; nothing is stored when any field is invalid."""
    inbox = await conversations.inbox_for_agent(session, actor, inbox_id, field="inboxId")
    errors: list[FieldError] = []
    if inbox.channel_type != ChannelType.EMAIL:
        errors.append(FieldError("inboxId", "INVALID", "Only email inboxes send through SMTP."))
    host = data.host.strip()
    if not matches(HOST_RE, host, 253):
        errors.append(FieldError("host", "INVALID", "Give the SMTP server's host name."))
    if not 1 <= data.port <= 65535:
        errors.append(FieldError("port", "INVALID", "A port is 1 to 65535."))
    elif matches(HOST_RE, host, 253):
        refusal = await _host_refusal(host, data.port, app_settings)
        if refusal is not None:
            errors.append(refusal)
    username = data.username.strip()
    if len(username) > 320 or any(c in username for c in "\r\n"):
        errors.append(FieldError("username", "INVALID", "A user name of up to 320 characters."))
    if data.password is not None and len(data.password) > 1000:
        errors.append(FieldError("password", "INVALID", "A password of up to 1,000 characters."))
    row = await session.get(InboxSmtp, inbox.id, with_for_update=True)
    keeps_password = data.password is None and row is not None and bool(row.password_encrypted)
    if username and not (data.password or keeps_password):
        errors.append(FieldError("password", "REQUIRED", "Give the password of this SMTP login."))
    if errors:
        raise ValidationError(errors)
    if row is None:
        row = InboxSmtp(inbox_id=inbox.id, account_id=inbox.account_id, created_at=utcnow())
        session.add(row)
    row.host, row.port, row.tls_mode = host, data.port, TlsMode(data.tls_mode).value
    row.username, row.enabled = username, data.enabled
    if not username:
        row.password_encrypted, row.password_key_id = "", ""
    elif data.password is not None:
        row.password_encrypted = crypto.encrypt(data.password, app_settings, context=PASSWORD_CONTEXT)
        row.password_key_id = crypto.key_id_of(row.password_encrypted) or ""
    row.updated_at = utcnow()
    audit.record(
        session,
        actor,
        "inbox.smtp_set",
        "Inbox",
        inbox.id,
        {"host": host, "port": data.port, "tlsMode": row.tls_mode, "username": username, "enabled": data.enabled},
        meta,
    )
    await session.flush()
    return row


async def connection_for(session: AsyncSession, inbox_id: int, app_settings: Settings) -> SmtpConnection | None:
    """The inbox's own server, when it has one switched on; None: send as the installation does."""
    row = await session.get(InboxSmtp, inbox_id)
    if row is None or not row.enabled:
        return None
    # Vetted before each connection too: the name may resolve elsewhere than when it was saved.
    await ssrf.vet_host(row.host, row.port, allow_private=app_settings.mail_allow_private_hosts)
    password = (
        crypto.decrypt(row.password_encrypted, app_settings, context=PASSWORD_CONTEXT) if row.password_encrypted else ""
    )
    return SmtpConnection(row.host, row.port, TlsMode(row.tls_mode), row.username, password)


async def _host_refusal(host: str, port: int, app_settings: Any) -> FieldError | None:
    """Why the SMTP host may not be used, or None (a name that does not resolve now is checked again
    before each connection)."""
    try:
        await ssrf.vet_host(host, port, allow_private=app_settings.mail_allow_private_hosts)
    except ssrf.TargetRefused as exc:
        if exc.code != "UNRESOLVABLE":
            return FieldError("host", exc.code, exc.message)
    return None
