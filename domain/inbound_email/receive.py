"""One receiver for every door: the raw MIME of an email becomes a message in a conversation, through
the same services as any incoming message (so events, webhooks and notifications fire alike), and
every email received is recorded in `inbound_emails` with what became of it.

Routing: the inbox the door names (IMAP), else the one whose address is among the recipients
(Delivered-To, To, Cc, Bcc, the SMTP envelope), a per-conversation reply address naming its
conversation. Threading: the reply address, else In-Reply-To/References matching a Message-ID sent
or received in the inbox, else a new conversation. Automatic mail (auto-replies, bounces) joins its
conversation without reopening it and never opens one; our own mail coming back is dropped."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from email import policy
from email.parser import BytesHeaderParser
from email.utils import getaddresses
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import Contact, Conversation, InboundEmail, Inbox, Message
from db.repositories import helpdesk as helpdesk_repo
from db.repositories import inbound_email as repo
from domain import events
from domain.accounts.actor import Actor
from domain.attachments import AttachmentConfig, store_received
from domain.enums import ChannelType, ContactType, MessageType
from domain.events.enums import EventType
from domain.events.relay import Relay
from domain.events.unit import unit_of_work
from domain.helpdesk import conversations, opening
from domain.inbound_email.enums import InboundSource, InboundStatus
from domain.inbound_email.parse import MalformedEmail, ParsedEmail, parse
from domain.inbound_email.reply_address import conversation_of
from domain.validation import is_email
from infra.settings import Settings

MAX_HTML = 500_000
HEADER_SCAN = 64 * 1024


@dataclass(frozen=True)
class InboundConfig:
    settings: Settings
    attachments: AttachmentConfig

    @property
    def max_bytes(self) -> int:
        return self.settings.mail_max_bytes


@dataclass(frozen=True)
class Receipt:
    """What became of one email. `refusal` says why a door should refuse it (`TOO_LARGE`,
    `MALFORMED`, `UNKNOWN_RECIPIENT`), with `error` for the sender."""

    inbound_email_id: int | None
    status: InboundStatus
    conversation_id: int | None = None
    message_id: int | None = None
    refusal: str | None = None
    error: str = ""


def _lenient_recipients(raw: bytes) -> list[str]:
    """Recipients read from the headers alone, for a mail the full parser refuses."""
    try:
        headers = BytesHeaderParser(policy=policy.compat32).parsebytes(raw[:HEADER_SCAN])
        values = [str(v) for name in ("Delivered-To", "X-Original-To", "To", "Cc") for v in headers.get_all(name, [])]
        return [a.strip().lower() for _, a in getaddresses(values) if is_email(a.strip().lower())]
    except Exception:  # noqa: BLE001 - a best effort for the record only
        return []


async def _route(
    session: AsyncSession, settings: Settings, addresses: Sequence[str], inbox_id: int | None
) -> tuple[Inbox | None, Conversation | None]:
    """The inbox, and the conversation a reply address names."""
    for address in addresses:
        conversation_id = conversation_of(address, settings)
        if conversation_id is None:
            continue
        conversation = await _merged_home(
            session, await session.get(Conversation, conversation_id, with_for_update=True)
        )
        if conversation is None or (inbox_id is not None and conversation.inbox_id != inbox_id):
            continue
        inbox = await session.get(Inbox, conversation.inbox_id)
        if inbox is not None and inbox.channel_type == ChannelType.EMAIL:
            return inbox, conversation
    if inbox_id is not None:
        return await session.get(Inbox, inbox_id), None
    found = await repo.email_inboxes_by_address(session, addresses)
    by_address = {str((i.channel_config or {}).get("email") or "").lower(): i for i in found}
    inbox = next((by_address[a] for a in addresses if a in by_address), None)
    return inbox, None


def _record(
    session: AsyncSession,
    *,
    source: InboundSource,
    status: InboundStatus,
    raw: bytes,
    inbox: Inbox | None,
    parsed: ParsedEmail | None = None,
    error: str = "",
) -> InboundEmail:
    row = InboundEmail(
        account_id=inbox.account_id if inbox else None,
        inbox_id=inbox.id if inbox else None,
        source=source,
        status=status,
        rfc_message_id=_message_id(parsed, raw) if parsed else "",
        from_address=parsed.from_address[:320] if parsed else "",
        subject=parsed.subject if parsed else "",
        byte_size=len(raw),
        error=error,
        parse_result=parsed.summary() if parsed else {},
        received_at=utcnow(),
    )
    session.add(row)
    return row


def _message_id(parsed: ParsedEmail, raw: bytes) -> str:
    """The mail's Message-ID; without one, a stand-in made of its bytes (a mail delivered twice is
    still recognised)."""
    return parsed.message_id or f"<sha256.{hashlib.sha256(raw).hexdigest()[:40]}@parley.invalid>"


async def _contact(session: AsyncSession, actor: Actor, inbox: Inbox, parsed: ParsedEmail) -> Contact:
    contact = await helpdesk_repo.contact_by_email(session, inbox.account_id, parsed.from_address)
    if contact is not None:
        return contact
    contact = Contact(
        account_id=inbox.account_id,
        name=(parsed.from_name or parsed.from_address.partition("@")[0])[:255],
        email=parsed.from_address,
        contact_type=ContactType.LEAD,
        additional_attributes={},
        custom_attributes={},
    )
    session.add(contact)
    await session.flush()
    events.record(
        session,
        account_id=inbox.account_id,
        type=EventType.CONTACT_CREATED,
        contact_id=contact.id,
        payload={"name": contact.name},
    )
    return contact


async def _thread(session: AsyncSession, inbox: Inbox, parsed: ParsedEmail) -> Conversation | None:
    earlier = await repo.message_by_source_ids(session, inbox.id, parsed.thread_ids)
    if earlier is None:
        return None
    conversation = await session.get(Conversation, earlier.conversation_id, with_for_update=True)
    return await _merged_home(session, conversation)


async def _merged_home(session: AsyncSession, conversation: Conversation | None) -> Conversation | None:
    """A reply to a conversation that was merged joins the one it was merged into (its messages went
    there; a chain of merges is followed) when that one is in an email inbox too, so the merged
    conversation is never reopened by its customer's answer."""
    for _ in range(10):
        if conversation is None or conversation.merged_into_id is None:
            return conversation
        kept = await session.get(Conversation, conversation.merged_into_id, with_for_update=True)
        inbox = await session.get(Inbox, kept.inbox_id) if kept is not None else None
        if kept is None or inbox is None or inbox.channel_type != ChannelType.EMAIL:
            return conversation
        conversation = kept
    return conversation


def _attributes(parsed: ParsedEmail, message_id: str) -> dict[str, object]:
    return {
        "email": {
            "message_id": message_id,
            "in_reply_to": parsed.in_reply_to,
            "references": parsed.references,
            "from": parsed.from_address,
            "to": parsed.to,
            "cc": parsed.cc,
            "bcc": parsed.bcc,
            "subject": parsed.subject,
            "html": parsed.html[:MAX_HTML] if parsed.html else None,
            "automatic": parsed.automatic,
        }
    }


async def receive(
    session: AsyncSession,
    config: InboundConfig,
    raw: bytes,
    *,
    source: InboundSource,
    envelope_recipients: Sequence[str] = (),
    inbox_id: int | None = None,
) -> Receipt:
    """Receive one email; the caller commits (a unit of work). Nothing but the record is written for
    a mail that is refused, a duplicate, a loop or an automatic mail without a conversation."""
    settings = config.settings
    envelope = [a.strip().lower() for a in envelope_recipients if a.strip()]
    if len(raw) > config.max_bytes:
        inbox, _ = await _route(session, settings, [*envelope, *_lenient_recipients(raw)], inbox_id)
        error = f"The email has {len(raw):,} bytes; at most {config.max_bytes:,} are accepted."
        row = _record(session, source=source, status=InboundStatus.REJECTED, raw=b"", inbox=inbox, error=error)
        row.byte_size = len(raw)
        await session.flush()
        return Receipt(row.id, row.status, refusal="TOO_LARGE", error=error)
    try:
        parsed = parse(raw)
    except MalformedEmail as exc:
        inbox, _ = await _route(session, settings, [*envelope, *_lenient_recipients(raw)], inbox_id)
        row = _record(session, source=source, status=InboundStatus.FAILED, raw=raw, inbox=inbox, error=str(exc))
        await session.flush()
        return Receipt(row.id, row.status, refusal="MALFORMED", error=str(exc))
    recipients = list(dict.fromkeys([*envelope, *parsed.recipients]))
    inbox, conversation = await _route(session, settings, recipients, inbox_id)
    if inbox is None or inbox.channel_type != ChannelType.EMAIL:
        error = "No email inbox has any of this email's recipients."
        row = _record(
            session, source=source, status=InboundStatus.REJECTED, raw=raw, inbox=None, parsed=parsed, error=error
        )
        await session.flush()
        return Receipt(row.id, row.status, refusal="UNKNOWN_RECIPIENT", error=error)
    message_id = _message_id(parsed, raw)

    async def done(status: InboundStatus, error: str = "") -> Receipt:
        row = _record(session, source=source, status=status, raw=raw, inbox=inbox, parsed=parsed, error=error)
        await session.flush()
        return Receipt(row.id, status, error=error)

    own = str((inbox.channel_config or {}).get("email") or "").lower()
    if own and own in (parsed.parley_loop, parsed.from_address):  # the inbox's own email came back
        return await done(InboundStatus.LOOP, "One of this inbox's own emails came back; dropped.")
    if await repo.processed(session, inbox.id, message_id) is not None:
        return await done(InboundStatus.DUPLICATE, "This Message-ID was received before.")
    sent = await repo.message_by_source_ids(session, inbox.id, [message_id])
    if sent is not None:
        looped = sent.message_type != MessageType.INCOMING
        return await done(
            InboundStatus.LOOP if looped else InboundStatus.DUPLICATE,
            "One of Parley's own emails came back; dropped." if looped else "This Message-ID was received before.",
        )
    if conversation is None:
        conversation = await _thread(session, inbox, parsed)
    automatic = parsed.automatic
    status = (
        InboundStatus.BOUNCE
        if automatic == "bounce"
        else InboundStatus.AUTO_REPLY
        if automatic
        else InboundStatus.PROCESSED
    )
    if automatic and conversation is None:
        return await done(status, "An automatic email that answers no conversation; not opened as one.")
    # Claim the Message-ID first: of two deliveries racing, one commits the message, the other is a duplicate.
    # (The savepoint comes first: begin_nested flushes what is pending, so the row is added inside it.)
    await session.flush()
    try:
        async with session.begin_nested():
            row = _record(session, source=source, status=InboundStatus.PROCESSED, raw=raw, inbox=inbox, parsed=parsed)
            await session.flush()
    except IntegrityError:
        return await done(InboundStatus.DUPLICATE, "This Message-ID was received before.")
    actor = Actor(account_id=inbox.account_id, label="email")
    contact = await _contact(session, actor, inbox, parsed)
    content = parsed.text[: conversations.MAX_CONTENT]
    attributes = _attributes(parsed, message_id)
    message: Message | None
    if conversation is None:
        contact_inbox = await opening.contact_inbox_for(session, inbox, contact)
        conversation, _ = await opening.open_conversation(
            session,
            actor,
            inbox=inbox,
            contact=contact,
            contact_inbox_id=contact_inbox.id,
            additional_attributes={"source": "email", "mail_subject": parsed.subject},
        )
    message = await conversations.add_message(
        session,
        actor,
        conversation,
        inbox,
        content=content,
        private=False,
        message_type=MessageType.INCOMING,
        content_attributes=attributes,
        source_id=message_id[:255],
        automatic=automatic is not None,
        sender_contact_id=contact.id,
    )
    for part in parsed.attachments:
        await store_received(
            session,
            config.attachments,
            message,
            file_name=part.file_name,
            content_type=part.content_type,
            data=part.data,
            uploader_contact_id=contact.id,
        )
    row.status = status
    row.conversation_id = conversation.id
    row.message_id = message.id
    await session.flush()
    return Receipt(row.id, status, conversation.id, message.id)


async def deliver(
    open_session: Callable[[], AbstractAsyncContextManager[AsyncSession]],
    relay: Relay,
    config: InboundConfig,
    raw: bytes,
    **kw: Any,
) -> Receipt:
    """Receive one email in its own unit of work (what every door calls): the record and the message
    commit together, or nothing does."""
    async with unit_of_work(open_session, relay) as session:
        return await receive(session, config, raw, **kw)
