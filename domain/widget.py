"""The website widget's public side (Chatwoot's widget API): contact sessions started with an inbox's
website token, identity verification (HMAC-SHA256 of the identifier with the inbox's secret), the
contact's own conversations and messages, the pre-chat form and CSAT.

A contact session acts as a `ContactActor`: anonymous to every agent rule (no account membership,
no user), carrying only its contact inbox, inbox and account. Every read goes through the widget
repository's predicates (db/repositories/widget.py)."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import Contact, ContactInbox, Conversation, CsatResponse, Inbox, Message
from db.repositories import helpdesk as helpdesk_repo
from db.repositories import widget as repo
from domain import events
from domain.accounts import tokens
from domain.accounts.actor import Actor, ActorKind
from domain.enums import ContactType, ConversationStatus, MessageType
from domain.errors import FieldError, NotAuthenticated, NotFound, ValidationError
from domain.helpdesk import conversations as conversation_service
from domain.helpdesk.inboxes import hmac_token_of
from domain.validation import is_email
from infra.settings import Settings

MAX_NAME = 255


@dataclass(frozen=True)
class ContactActor(Actor):
    """A website visitor's contact session. `kind` stays anonymous, so no agent rule accepts it;
    `Rule.widget` accepts only this."""

    contact_id: int | None = None
    contact_inbox_id: int | None = None
    inbox_id: int | None = None
    widget_account_id: int | None = None
    verified: bool = False
    allowed_domains: tuple[str, ...] = ()


def session_actor(contact_inbox: ContactInbox, inbox: Inbox) -> ContactActor:
    return ContactActor(
        kind=ActorKind.anonymous,
        label=f"contact:{contact_inbox.contact_id}",
        contact_id=contact_inbox.contact_id,
        contact_inbox_id=contact_inbox.id,
        inbox_id=inbox.id,
        widget_account_id=inbox.account_id,
        verified=contact_inbox.hmac_verified,
        allowed_domains=tuple(allowed_domains(inbox)),
    )


# --- origins ------------------------------------------------------------------------------------------


def allowed_domains(inbox: Inbox) -> list[str]:
    return list((inbox.channel_config or {}).get("allowed_domains") or [])


def origin_allowed(domains: list[str] | tuple[str, ...], origin: str | None) -> bool:
    """Whether a page on `origin` may use this inbox's widget: no domains configured = any; else the
    origin's host (with its port, if the entry names one) matches an entry, `*.example.com` also
    matching its subdomains."""
    if not domains or origin is None:
        return True
    parts = urlsplit(origin.strip().lower())
    host = parts.hostname or ""
    with_port = f"{host}:{parts.port}" if parts.port else host
    for entry in domains:
        entry = entry.lower()
        if entry.startswith("*."):
            base = entry[2:]
            if host == base or host.endswith("." + base) or with_port == base or with_port.endswith("." + base):
                return True
        elif entry in (host, with_port):
            return True
    return False


# --- identity verification -------------------------------------------------------------------------------


def identifier_hash(hmac_token: str, identifier: str) -> str:
    return hmac.new(hmac_token.encode(), identifier.encode(), hashlib.sha256).hexdigest()


def hash_matches(hmac_token: str, identifier: str, given: str) -> bool:
    return hmac.compare_digest(identifier_hash(hmac_token, identifier), given.strip().lower())


# --- sessions --------------------------------------------------------------------------------------------


@dataclass
class SessionStart:
    token: str
    contact: Contact
    contact_inbox: ContactInbox
    inbox: Inbox
    created: bool  # a new contact was made


async def inbox_for_website_token(session: AsyncSession, website_token: str) -> Inbox:
    inbox = await repo.widget_inbox(session, website_token) if website_token else None
    if inbox is None:
        raise ValidationError.single("websiteToken", "NOT_FOUND", "No website widget has this token.")
    return inbox


async def actor_for_token(session: AsyncSession, secret_key: str, token: str) -> tuple[ContactActor, Inbox]:
    """The contact session a widget token names, while its contact inbox exists."""
    try:
        claims = tokens.decode_widget_token(secret_key, token)
    except tokens.InvalidToken:
        raise NotAuthenticated("Invalid or expired widget session") from None
    found = await repo.contact_inbox(session, claims.contact_inbox_id, claims.inbox_id, claims.account_id, claims.source_id)
    inbox = await session.get(Inbox, claims.inbox_id) if found is not None else None
    if found is None or inbox is None:
        raise NotAuthenticated("This widget session no longer exists")
    return session_actor(found, inbox), inbox


def _issue(secret_key: str, ttl: timedelta, contact_inbox: ContactInbox) -> str:
    return tokens.issue_widget_token(
        secret_key, contact_inbox_id=contact_inbox.id, inbox_id=contact_inbox.inbox_id,
        account_id=contact_inbox.account_id, source_id=contact_inbox.source_id, now=utcnow(), ttl=ttl,
    )


async def _new_contact(session: AsyncSession, inbox: Inbox, *, identifier: str | None = None) -> Contact:
    contact = Contact(account_id=inbox.account_id, name="", identifier=identifier, contact_type=ContactType.VISITOR,
                      additional_attributes={}, custom_attributes={})
    session.add(contact)
    await session.flush()
    events.record(session, account_id=inbox.account_id, type="contact.created", contact_id=contact.id,
                  inbox_id=inbox.id, payload={"name": contact.name, "source": "widget"})
    return contact


async def _new_contact_inbox(session: AsyncSession, inbox: Inbox, contact: Contact, verified: bool) -> ContactInbox:
    ci = ContactInbox(account_id=inbox.account_id, contact_id=contact.id, inbox_id=inbox.id,
                      source_id=str(uuid.uuid4()), hmac_verified=verified)
    session.add(ci)
    await session.flush()
    return ci


async def start_session(
    session: AsyncSession,
    *,
    secret_key: str,
    app_settings: Settings,
    ttl: timedelta,
    website_token: str,
    session_token: str | None,
    identifier: str | None,
    identifier_hash_: str | None,
    name: str | None,
    email: str | None,
) -> SessionStart:
    """Chatwoot's `widget/config` + `set_user`: the session a previous token names (same inbox only),
    or a new anonymous contact; with `identifier` (+ its HMAC) the known contact of that identifier."""
    inbox = await inbox_for_website_token(session, website_token)
    contact_inbox: ContactInbox | None = None
    contact: Contact | None = None
    if session_token:
        try:
            claims = tokens.decode_widget_token(secret_key, session_token)
        except tokens.InvalidToken:
            claims = None  # expired or garbage: start afresh, as Chatwoot does
        if claims is not None:
            if claims.inbox_id != inbox.id or claims.account_id != inbox.account_id:
                raise ValidationError.single("sessionToken", "WRONG_INBOX", "This session belongs to another widget.")
            contact_inbox = await repo.contact_inbox(session, claims.contact_inbox_id, inbox.id, inbox.account_id,
                                                     claims.source_id)
            if contact_inbox is not None:
                contact = await session.get(Contact, contact_inbox.contact_id)
    identifier = (identifier or "").strip() or None
    if identifier is not None and len(identifier) > 255:
        raise ValidationError.single("identifier", "TOO_LONG", "At most 255 characters.")
    created = False
    if identifier is not None:
        verified = False
        if identifier_hash_:
            if not hash_matches(hmac_token_of(inbox, app_settings), identifier, identifier_hash_):
                raise ValidationError.single("identifierHash", "INVALID_HASH", "The identifier hash does not match.")
            verified = True
        elif inbox.hmac_mandatory:
            raise ValidationError.single("identifierHash", "REQUIRED", "This widget requires a verified identity.")
        known = await helpdesk_repo.contact_by_identifier(session, inbox.account_id, identifier)
        if known is not None and (contact is None or known.id != contact.id):
            if not verified:
                raise ValidationError.single("identifierHash", "REQUIRED",
                                             "Another visitor uses this identifier; send its identifierHash.")
            contact = known  # the verified person: a new session (device) of the known contact
            contact_inbox = await _new_contact_inbox(session, inbox, contact, verified=True)
        elif contact is not None and contact.identifier not in (None, identifier):
            # The session's contact is someone else: a new contact for this identity (Chatwoot).
            contact = await _new_contact(session, inbox, identifier=identifier)
            contact_inbox = await _new_contact_inbox(session, inbox, contact, verified=verified)
            created = True
        else:
            if contact is None:
                contact = await _new_contact(session, inbox, identifier=identifier)
                contact_inbox = await _new_contact_inbox(session, inbox, contact, verified=verified)
                created = True
            else:
                contact.identifier = identifier
                if verified and not contact_inbox.hmac_verified:
                    contact_inbox.hmac_verified = True
    elif inbox.hmac_mandatory and contact_inbox is not None and not contact_inbox.hmac_verified:
        contact_inbox = contact = None  # an unverified session may not continue on a verified-only widget
    if contact is None:
        contact = await _new_contact(session, inbox)
        contact_inbox = await _new_contact_inbox(session, inbox, contact, verified=False)
        created = True
    assert contact_inbox is not None
    if name or email:
        await _apply_details(session, contact, name, email, strict=False)
    await session.flush()
    return SessionStart(_issue(secret_key, ttl, contact_inbox), contact, contact_inbox, inbox, created)


# An email the visitor gave that another contact of the account has: shown back to the visitor, kept
# for agents in the contact's attributes, never linked to that contact.
UNVERIFIED_EMAIL = "unverified_email"


def shown_email(contact: Contact) -> str | None:
    """The email the visitor sees as theirs: the last one they gave."""
    return (contact.additional_attributes or {}).get(UNVERIFIED_EMAIL) or contact.email


async def _apply_details(session: AsyncSession, contact: Contact, name: str | None, email: str | None, *, strict: bool) -> bool:
    errors: list[FieldError] = []
    changed: dict[str, Any] = {}
    if name is not None:
        name = name.strip()
        if len(name) > MAX_NAME:
            errors.append(FieldError("name", "TOO_LONG", "At most 255 characters."))
        elif name and name != contact.name:
            changed["name"] = [contact.name, name]
    if email:
        email = email.strip().lower()
        if not is_email(email):
            errors.append(FieldError("email", "INVALID_EMAIL", "Enter a valid email address."))
        elif email != (contact.email or ""):
            other = await helpdesk_repo.contact_by_email(session, contact.account_id, email)
            if other is not None and other.id != contact.id:
                # Chatwoot merges the visitor into the contact of that email; without a verified identity
                # that is impersonation, and a refusal would tell anyone which emails are known. So the
                # visitor keeps it as an unconfirmed email: the same answer, and nothing is linked.
                if (contact.additional_attributes or {}).get(UNVERIFIED_EMAIL) != email:
                    changed[UNVERIFIED_EMAIL] = [(contact.additional_attributes or {}).get(UNVERIFIED_EMAIL), email]
            else:
                changed["email"] = [contact.email, email]
    if errors and strict:
        raise ValidationError(errors)
    if not changed:
        return False
    if "name" in changed:
        contact.name = changed["name"][1]
    if UNVERIFIED_EMAIL in changed:
        contact.additional_attributes = {**(contact.additional_attributes or {}), UNVERIFIED_EMAIL: changed[UNVERIFIED_EMAIL][1]}
    if "email" in changed and not any(e.field == "email" for e in errors):
        contact.email = changed["email"][1]
        if UNVERIFIED_EMAIL in (contact.additional_attributes or {}):
            contact.additional_attributes = {k: v for k, v in contact.additional_attributes.items() if k != UNVERIFIED_EMAIL}
        if contact.contact_type == ContactType.VISITOR:
            contact.contact_type = ContactType.LEAD
    events.record(session, account_id=contact.account_id, type="contact.updated", contact_id=contact.id,
                  payload={"changed_attributes": changed, "source": "widget"})
    return True


async def update_contact(session: AsyncSession, actor: ContactActor, name: str | None, email: str | None) -> Contact:
    contact = await session.get(Contact, actor.contact_id, with_for_update=True)
    if contact is None or contact.account_id != actor.widget_account_id:
        raise NotAuthenticated("This widget session no longer exists")
    await _apply_details(session, contact, name, email, strict=True)
    await session.flush()
    return contact


async def contact_of(session: AsyncSession, actor: ContactActor) -> Contact | None:
    contact = await session.get(Contact, actor.contact_id)
    return contact if contact is not None and contact.account_id == actor.widget_account_id else None


# --- conversations and messages -------------------------------------------------------------------------


def check_content(content: str, max_chars: int) -> str:
    if len(content) > max_chars:
        raise ValidationError.single("content", "TOO_LONG", f"A message holds at most {max_chars:,} characters.")
    if not content.strip():
        raise ValidationError.single("content", "REQUIRED", "Write a message.")
    return content


async def create_message(
    session: AsyncSession, actor: ContactActor, conversation_id: int | None, content: str, *, max_chars: int,
    attachment_ids: list[int] | None = None, attachment_config: Any = None,
) -> tuple[Conversation, Message, bool]:
    """The visitor writes: into one of its conversations, or (none given) a new one, as Chatwoot's
    widget creates the conversation with its first message. A blocked contact's conversations stay
    resolved (Chatwoot's mute). Attachments are the visitor's own verified uploads."""
    if content or not attachment_ids:  # a message may be its attachments alone
        check_content(content, max_chars)
    files = []
    if attachment_ids:
        from domain import attachments

        files = await attachments.verify(session, attachment_config, actor.widget_account_id, attachment_ids,
                                         uploader_contact_id=actor.contact_id)
    contact = await session.get(Contact, actor.contact_id, with_for_update=True)
    inbox = await session.get(Inbox, actor.inbox_id)
    if contact is None or inbox is None or contact.account_id != actor.widget_account_id:
        raise NotAuthenticated("This widget session no longer exists")
    created = False
    if conversation_id is None:
        now = utcnow()
        conversation = Conversation(
            account_id=inbox.account_id,
            display_id=await helpdesk_repo.next_display_id(session, inbox.account_id),
            inbox_id=inbox.id,
            contact_id=contact.id,
            contact_inbox_id=actor.contact_inbox_id,
            status=ConversationStatus.RESOLVED if contact.blocked else ConversationStatus.OPEN,
            last_activity_at=now,
            waiting_since=now,
            additional_attributes={"source": "widget"},
            custom_attributes={},
            created_at=now,
        )
        session.add(conversation)
        await session.flush()
        conversation_service._event(session, conversation, "conversation.created", actor)
        created = True
    else:
        conversation = await repo.conversation(session, actor, conversation_id, lock=True)
        if conversation is None:
            raise ValidationError.single("conversationId", "NOT_FOUND", "No such conversation.")
    message = await conversation_service._add_message(
        session, actor, conversation, inbox, content=content, private=False, message_type=MessageType.INCOMING,
        content_attributes={},
    )
    if files:
        from domain import attachments

        attachments.link(files, message)
    await session.flush()
    return conversation, message, created


async def create_upload(session: AsyncSession, actor: ContactActor, config: Any, *, file_name: str, content_type: str,
                        byte_size: int):
    """A pending upload of the visitor's (domain/attachments.py), to send with their next message."""
    from domain import attachments

    owner = Actor(account_id=actor.widget_account_id, label=actor.label)  # names the account only
    return await attachments.create_upload(session, config, owner, file_name=file_name, content_type=content_type,
                                           byte_size=byte_size, uploader_contact_id=actor.contact_id)


async def submit_csat(session: AsyncSession, actor: ContactActor, conversation_id: int, rating: int, feedback: str
                      ) -> CsatResponse:
    """A rating (1–5) with feedback for a resolved conversation; submitting again updates it."""
    errors: list[FieldError] = []
    if not 1 <= rating <= 5:
        errors.append(FieldError("rating", "INVALID", "Rate from 1 to 5."))
    feedback = (feedback or "").strip()
    if len(feedback) > 5000:
        errors.append(FieldError("feedback", "TOO_LONG", "At most 5,000 characters."))
    if errors:
        raise ValidationError(errors)
    conversation = await repo.conversation(session, actor, conversation_id, lock=True)
    if conversation is None:
        raise ValidationError.single("conversationId", "NOT_FOUND", "No such conversation.")
    if conversation.status != ConversationStatus.RESOLVED:
        raise ValidationError.single("conversationId", "NOT_RESOLVED", "Rate a conversation once it is resolved.")
    from sqlalchemy import select

    response = await session.scalar(select(CsatResponse).where(CsatResponse.conversation_id == conversation.id))
    if response is None:
        response = CsatResponse(account_id=conversation.account_id, conversation_id=conversation.id,
                                contact_id=conversation.contact_id, assignee_id=conversation.assignee_id,
                                rating=rating, feedback=feedback, created_at=utcnow())
        session.add(response)
    else:
        response.rating, response.feedback = rating, feedback
    await session.flush()
    return response


async def csat_of(session: AsyncSession, conversation_ids: list[int]) -> dict[int, CsatResponse]:
    from sqlalchemy import select

    if not conversation_ids:
        return {}
    rows = await session.scalars(select(CsatResponse).where(CsatResponse.conversation_id.in_(conversation_ids)))
    return {r.conversation_id: r for r in rows}


# --- configuration ---------------------------------------------------------------------------------------


def open_now(inbox: Inbox, now: datetime | None = None) -> bool:
    """Within the inbox's working hours now (always, when working hours are off)."""
    if not inbox.working_hours_enabled:
        return True
    try:
        local = (now or utcnow()).astimezone(ZoneInfo(inbox.timezone or "UTC"))
    except Exception:  # noqa: BLE001 - a bad zone: treat as UTC
        local = (now or utcnow())
    day = (local.weekday() + 1) % 7  # 0 = Sunday, as the inbox stores it
    entry = next((h for h in inbox.working_hours or [] if h.get("day_of_week") == day), None)
    if entry is None or entry.get("closed_all_day"):
        return False
    if entry.get("open_all_day"):
        return True
    clock = local.strftime("%H:%M")
    return (entry.get("open_time") or "00:00") <= clock < (entry.get("close_time") or "00:00")


def public_config(inbox: Inbox) -> dict[str, Any]:
    c = inbox.channel_config or {}
    return {
        "name": inbox.name,
        "widget_color": c.get("widget_color") or "#1f93ff",
        "welcome_title": c.get("welcome_title") or "",
        "welcome_tagline": c.get("welcome_tagline") or "",
        "reply_time": c.get("reply_time") or "in_a_few_minutes",
        "greeting_enabled": inbox.greeting_enabled,
        "greeting_message": inbox.greeting_message or "",
        "working_hours_enabled": inbox.working_hours_enabled,
        "working_hours": list(inbox.working_hours or []),
        "timezone": inbox.timezone,
        "out_of_office_message": inbox.out_of_office_message or "",
        "open_now": open_now(inbox),
        "hmac_mandatory": inbox.hmac_mandatory,
    }


def require_session(actor: Actor) -> ContactActor:
    if not isinstance(actor, ContactActor):
        raise NotFound("No widget session")
    return actor
