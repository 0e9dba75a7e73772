"""`parley mail-in`: an inbound SMTP listener (aiosmtpd) for MX and forwarding setups, feeding the
same receiver as every door (domain/inbound_email/). It refuses a recipient no email inbox has (550,
at RCPT) and a mail over `PARLEY_MAIL_MAX_BYTES` (552: announced with SIZE, enforced during DATA),
answers 554 for MIME it cannot read, 451 (try again later) when the database fails, and 250 once the
email is committed. While it runs it leaves a heartbeat in Redis, which /readyz reports."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from db.repositories import inbound_email as inbound_repo
from db.session import create_engine, create_session_factory
from domain.attachments import AttachmentConfig
from domain.events.relay import Relay
from domain.inbound_email.enums import InboundSource
from domain.inbound_email.receive import InboundConfig, deliver
from domain.inbound_email.reply_address import conversation_of
from infra.logs import get_logger
from infra.settings import Settings

log = get_logger("parley.mail_in")
HEARTBEAT_SECONDS = 10.0
HEARTBEAT_TTL = 30


def heartbeat_key(settings: Settings, ident: str = "*") -> str:
    return f"parley:{settings.dramatiq_namespace}:mail-in:{ident}"


class InboundHandler:
    """aiosmtpd's handler: a recipient is checked at RCPT, the mail received at the end of DATA."""

    def __init__(self, sessions: Any, relay: Relay, config: InboundConfig) -> None:
        self.sessions = sessions
        self.relay = relay
        self.config = config

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        address = address.strip().lower()
        known = conversation_of(address, self.config.settings) is not None
        if not known:
            try:
                async with self.sessions() as db:
                    known = bool(await inbound_repo.email_inboxes_by_address(db, [address]))
            except Exception:
                log.warning("mail_in.rcpt_check_failed", exc_info=True)
                return "451 4.3.0 Temporary failure, try again later"
        if not known:
            return "550 5.1.1 No inbox here has this address"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        try:
            receipt = await deliver(
                self.sessions,
                self.relay,
                self.config,
                raw,
                source=InboundSource.SMTP,
                envelope_recipients=list(envelope.rcpt_tos),
            )
        except Exception:
            log.warning("mail_in.receive_failed", exc_info=True)
            return "451 4.3.0 Temporary failure, try again later"
        log.info("mail.inbound", source="smtp", status=receipt.status.value, inbound_email_id=receipt.inbound_email_id)
        if receipt.refusal == "TOO_LARGE":
            return f"552 5.3.4 {receipt.error}"
        if receipt.refusal == "UNKNOWN_RECIPIENT":
            return f"550 5.1.1 {receipt.error}"
        if receipt.refusal is not None:
            return f"554 5.6.0 {receipt.error}"
        return f"250 OK {receipt.status.value}"


async def _heartbeat(redis: Any, settings: Settings, port: int) -> None:
    ident = f"{socket.gethostname()}:{os.getpid()}:{port}"
    while True:
        value = json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "port": port, "at": time.time()})
        with contextlib.suppress(Exception):
            await redis.set(heartbeat_key(settings, ident), value, ex=HEARTBEAT_TTL)
        await asyncio.sleep(HEARTBEAT_SECONDS)


async def read_heartbeats(redis: Any, settings: Settings) -> list[dict[str, Any]]:
    """The mail-in listeners seen in the last HEARTBEAT_TTL seconds."""
    keys = [key async for key in redis.scan_iter(match=heartbeat_key(settings), count=100)]
    values = await redis.mget(keys) if keys else []
    return [json.loads(v) for v in values if v]


async def serve(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    broker: Any = None,
    started: asyncio.Future[int] | None = None,
) -> None:
    """Listen until cancelled. `broker` is where the jobs the mail causes go (by default the one the
    settings configure; none without Redis: the outbox sweeper of `parley serve` sends them)."""
    from infra.broadcast import PrefixedPublisher, channel_prefix, make_redis

    engine = create_engine(settings.effective_database_url, pool_size=4, max_overflow=4)
    sessions = create_session_factory(engine)
    redis = make_redis(settings.redis_url) if settings.uses_redis else None
    if broker is None and settings.uses_redis:
        from workers.broker import configure_broker

        broker = configure_broker(settings)
    publisher = PrefixedPublisher(redis, channel_prefix(settings.redis_url)) if redis is not None else None
    relay = Relay(sessions, broker, publisher, settings.outbox_lease_seconds)
    handler = InboundHandler(sessions, relay, InboundConfig(settings, AttachmentConfig.from_settings(settings)))
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, data_size_limit=settings.mail_max_bytes, enable_SMTPUTF8=True, hostname="parley"),
        host or settings.mail_in_host,
        port if port is not None else settings.mail_in_port,
    )
    bound = server.sockets[0].getsockname()[1]
    beat = asyncio.create_task(_heartbeat(redis, settings, bound)) if redis is not None else None
    log.info("mail_in.started", host=host or settings.mail_in_host, port=bound, max_bytes=settings.mail_max_bytes)
    if started is not None:
        started.set_result(bound)
    try:
        await asyncio.Event().wait()
    finally:
        server.close()
        await server.wait_closed()
        if beat is not None:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
        if redis is not None:
            with contextlib.suppress(Exception):
                await redis.delete(heartbeat_key(settings, f"{socket.gethostname()}:{os.getpid()}:{bound}"))
                await redis.aclose()
        await engine.dispose()
