"""Sending email: SMTP through aiosmtplib when configured, otherwise the message is written to the log
(the embedded default)."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid

from parley.logs import get_logger
from workers.broker import parley_actor
from workers.runtime import resources

log = get_logger("parley.email")


def build_message(sender: str, to: str, subject: str, text: str, html: str | None, message_id: str | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = message_id or make_msgid(domain="parley")
    msg.set_content(text)
    if html:
        msg.add_alternative(html, subtype="html")
    return msg


@parley_actor(name="email.send", queue="email", max_retries=8, time_limit_ms=60_000)
async def email_send(to: str, subject: str, text: str, html: str | None = None, outbox_id: int | None = None) -> None:
    settings = resources().settings
    # A stable Message-ID per outbox job: a retried send is recognisable as the same email.
    message_id = f"<outbox-{outbox_id}@parley>" if outbox_id is not None else None
    msg = build_message(settings.mail_from, to, subject, text, html, message_id)
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
