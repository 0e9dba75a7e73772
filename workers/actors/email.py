"""Sending email: SMTP through aiosmtplib when configured, otherwise the message is written to the log
(the embedded default)."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from infra.logs import get_logger
from workers.broker import parley_actor
from workers.runtime import resources

log = get_logger("parley.email")


def build_message(
    sender: str,
    to: str,
    subject: str,
    text: str,
    html: str | None,
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
    attachments: list[tuple[str, str, bytes]] | None = None,
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = message_id or make_msgid(domain="parley")
    for name, value in (headers or {}).items():  # threading (In-Reply-To, References), Reply-To
        msg[name] = value
    msg.set_content(text)
    if html:
        msg.add_alternative(html, subtype="html")
    for file_name, content_type, data in attachments or []:
        major, _, minor = content_type.partition("/")
        if not minor:
            major, minor = "application", "octet-stream"
        msg.add_attachment(data, maintype=major, subtype=minor, filename=file_name)
    return msg


async def _read_attachments(files: list[dict[str, Any]]) -> list[tuple[str, str, bytes]]:
    """The message's files, read from storage (a file that is gone is left out, not retried forever)."""
    from domain.storage import StorageError, get_storage

    storage = get_storage(resources().settings)
    out = []
    for f in files:
        try:
            out.append((f["file_name"], f["content_type"], await storage.read_prefix(f["key"], int(f["byte_size"]))))
        except (StorageError, FileNotFoundError):
            log.warning("email.attachment_missing", key=f["key"])
    return out


@parley_actor(name="email.send", queue="email", max_retries=8, time_limit_ms=60_000)
async def email_send(
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    outbox_id: int | None = None,
    sender: str | None = None,
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
    attachments: list[dict[str, Any]] | None = None,
    smtp_inbox_id: int | None = None,
) -> None:
    """`sender`, `message_id` and `headers` let a caller send as an inbox, in a thread; `attachments`
    (storage key, file name, type, size) are read from storage and attached; `smtp_inbox_id` sends
    through that inbox's own SMTP server when it has one (read and decrypted now)."""
    settings = resources().settings
    # A stable Message-ID per outbox job: a retried send is recognisable as the same email.
    if message_id is None and outbox_id is not None:
        message_id = f"<outbox-{outbox_id}@parley>"
    files = await _read_attachments(attachments) if attachments else None
    msg = build_message(sender or settings.mail_from, to, subject, text, html, message_id, headers, files)
    if smtp_inbox_id is not None:
        from domain.inbox_smtp import connection_for

        async with resources().sessions() as session:
            own = await connection_for(session, smtp_inbox_id, settings)
        if own is not None:
            await _send_through(msg, own)
            log.info("email.sent", to=to, subject=subject, outbox_id=outbox_id, inbox_smtp=smtp_inbox_id)
            return
    if not settings.smtp_host:
        log.info("email.logged", to=to, subject=subject, text=text)
        return
    import aiosmtplib

    await aiosmtplib.send(
        msg,
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username or None,
        password=settings.smtp_password or None,
        use_tls=settings.smtp_tls,
        start_tls=None if not settings.smtp_tls and settings.smtp_starttls else False,
        timeout=30,
    )
    log.info("email.sent", to=to, subject=subject, outbox_id=outbox_id)


async def _send_through(msg: EmailMessage, own: Any) -> None:
    """Send through an inbox's own server (domain.inbox_smtp.SmtpConnection)."""
    import aiosmtplib

    from domain.inbox_smtp import TlsMode

    await aiosmtplib.send(
        msg,
        hostname=own.host,
        port=own.port,
        username=own.username or None,
        password=own.password or None,
        use_tls=own.tls_mode == TlsMode.TLS,
        start_tls=own.tls_mode == TlsMode.STARTTLS,
        timeout=30,
    )
