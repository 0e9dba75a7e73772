"""The API channel's public client API, as Chatwoot has it: a partner's app (or a Chatwoot client SDK)
names the inbox by its public identifier and the customer by a contact identifier (the contact
inbox's `source_id`, a random UUID made here), creates the contact, its conversations and its
messages, and lists them.

Whoever holds a contact identifier acts as that contact in that inbox only: a `ContactActor`, the
same as a widget session, so every read goes through the widget repository's session predicate
(its own contact inbox; an HMAC-verified one: every verified contact inbox of its contact in this
inbox, Chatwoot's continuity) and every write through the services every channel uses
(`domain/helpdesk/opening.py`, `conversations.add_message`), so events, webhooks, notifications and
reports follow. Identity verification is Chatwoot's: `identifier_hash` = HMAC-SHA256(inbox's
secret, identifier), required when the inbox says so."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Contact, ContactInbox, Conversation, Inbox, Message
from db.repositories import helpdesk as helpdesk_repo
from db.repositories import widget as widget_repo
from domain import events
from domain.enums import ChannelType, ContactType, MessageType
from domain.errors import FieldError, NotFound, ValidationError
from domain.events.enums import EventType
from domain.helpdesk import conversations, opening
from domain.helpdesk.contacts import PHONE_RE
from domain.helpdesk.inboxes import hmac_token_of
from domain.validation import matches, strip_chars
from domain.widget.conversations import check_content
from domain.widget.sessions import ContactActor, apply_details, hash_matches, session_actor
from infra.settings import Settings

MAX_IDENTIFIER = 255
MAX_ECHO_ID = 255
MAX_PAGE = 100


@dataclass
class Client:
    """A contact identifier resolved: who acts, and the rows the answers show."""

    actor: ContactActor
    inbox: Inbox
    contact_inbox: ContactInbox
    contact: Contact


def _text(data: dict[str, Any], key: str, field: str, errors: list[FieldError]) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        errors.append(FieldError(field, "INVALID", "Give a string."))
        return None
    return value


async def inbox_for_identifier(session: AsyncSession, inbox_identifier: str) -> Inbox:
    inbox = (
        await session.scalar(
            select(Inbox).where(Inbox.api_identifier == inbox_identifier, Inbox.channel_type == ChannelType.API)
        )
        if inbox_identifier
        else None
    )
    if inbox is None:
        raise NotFound("No API inbox has this identifier")
    return inbox


def _source_id(contact_identifier: str) -> str | None:
    """Contact identifiers are the UUIDs this API hands out; anything else (such as the `contact-<id>`
    an agent's conversation gives a contact, which could be guessed) names no one here."""
    try:
        return str(uuid.UUID(contact_identifier))
    except (ValueError, AttributeError, TypeError):
        return None


async def client_for(
    session: AsyncSession, inbox_identifier: str, contact_identifier: str, *, lock: bool = False
) -> Client:
    """The contact a contact identifier names in the inbox an inbox identifier names (a contact
    identifier of another inbox, or of another account's, is not found)."""
    inbox = await inbox_for_identifier(session, inbox_identifier)
    source_id = _source_id(contact_identifier)
    contact_inbox = (
        await session.scalar(
            select(ContactInbox).where(
                ContactInbox.inbox_id == inbox.id,
                ContactInbox.account_id == inbox.account_id,
                ContactInbox.source_id == source_id,
            )
        )
        if source_id is not None
        else None
    )
    contact = (
        await session.get(Contact, contact_inbox.contact_id, with_for_update=lock)
        if contact_inbox is not None
        else None
    )
    if contact_inbox is None or contact is None or contact.account_id != inbox.account_id:
        raise NotFound("No contact has this identifier in this inbox")
    return Client(session_actor(contact_inbox, inbox), inbox, contact_inbox, contact)


async def _check_identity(
    inbox: Inbox, app_settings: Settings, identifier: str | None, given_hash: str | None
) -> tuple[str | None, bool]:
    """The identifier and whether it is verified; refuses a wrong hash, and a missing one where the
    inbox makes it mandatory."""
    if identifier is not None and len(identifier) > MAX_IDENTIFIER:
        raise ValidationError.single("identifier", "TOO_LONG", f"At most {MAX_IDENTIFIER} characters.")
    if given_hash and identifier is None:
        raise ValidationError.single("identifier", "REQUIRED", "Send the identifier the identifier_hash is of.")
    if given_hash:
        assert identifier is not None
        if not hash_matches(hmac_token_of(inbox, app_settings), identifier, given_hash):
            raise ValidationError.single("identifier_hash", "INVALID_HASH", "The identifier hash does not match.")
        return identifier, True
    if inbox.hmac_mandatory:
        raise ValidationError.single(
            "identifier_hash", "REQUIRED", "This inbox requires an identifier with its identifier_hash."
        )
    return identifier, False


async def _apply(session: AsyncSession, contact: Contact, data: dict[str, Any]) -> None:
    """Name, email (an email another contact has stays unconfirmed, as in the widget), phone number
    and custom attributes; nothing changes when any of them is invalid."""
    errors: list[FieldError] = []
    name = _text(data, "name", "name", errors)
    email = _text(data, "email", "email", errors)
    phone = _text(data, "phone_number", "phone_number", errors)
    custom = data.get("custom_attributes")
    if phone:
        phone = strip_chars(phone, " \t\r\n\f\v\u00a0().-") if len(phone) <= 64 else phone
        if not matches(PHONE_RE, phone, 16):
            errors.append(FieldError("phone_number", "INVALID_PHONE", "Use the E.164 form, e.g. +4930123456."))
    if custom is not None:
        if not isinstance(custom, dict):
            errors.append(FieldError("custom_attributes", "INVALID", "Give an object."))
        else:
            from domain.catalog.custom_attributes import validate_custom_attributes
            from domain.enums import AttributeModel

            errors.extend(
                await validate_custom_attributes(
                    session, contact.account_id, AttributeModel.CONTACT, custom, field="custom_attributes"
                )
            )
    if name is not None and len(name.strip()) > 255:
        errors.append(FieldError("name", "TOO_LONG", "At most 255 characters."))
    if email:
        from domain.validation import is_email

        if not is_email(email.strip().lower()):
            errors.append(FieldError("email", "INVALID_EMAIL", "Enter a valid email address."))
    if errors:
        raise ValidationError(errors)
    await apply_details(session, contact, name, email, strict=True, source="api")
    changed: dict[str, Any] = {}
    if phone and phone != contact.phone_number:
        changed["phone_number"] = [contact.phone_number, phone]
        contact.phone_number = phone
    if isinstance(custom, dict) and custom:
        merged = {**(contact.custom_attributes or {}), **custom}
        if merged != contact.custom_attributes:
            changed["custom_attributes"] = [contact.custom_attributes, merged]
            contact.custom_attributes = merged
    if changed:
        events.record(
            session,
            account_id=contact.account_id,
            type=EventType.CONTACT_UPDATED,
            contact_id=contact.id,
            payload={"changed_attributes": changed, "source": "api"},
        )
    await session.flush()


async def create_contact(
    session: AsyncSession, app_settings: Settings, inbox_identifier: str, data: dict[str, Any]
) -> Client:
    """Chatwoot's `POST …/contacts`: a new contact inbox (a fresh contact identifier) for a new
    contact, or, for a verified identifier an existing contact has, for that contact (another device
    of the same person). An unverified identifier another contact has is refused."""
    inbox = await inbox_for_identifier(session, inbox_identifier)
    errors: list[FieldError] = []
    identifier = _text(data, "identifier", "identifier", errors)
    given_hash = _text(data, "identifier_hash", "identifier_hash", errors)
    if errors:
        raise ValidationError(errors)
    identifier, verified = await _check_identity(inbox, app_settings, (identifier or "").strip() or None, given_hash)
    contact = await helpdesk_repo.contact_by_identifier(session, inbox.account_id, identifier) if identifier else None
    if contact is not None and not verified:
        raise ValidationError.single(
            "identifier_hash", "REQUIRED", "Another contact uses this identifier; send its identifier_hash."
        )
    if contact is None:
        contact = Contact(
            account_id=inbox.account_id,
            name="",
            identifier=identifier,
            contact_type=ContactType.VISITOR,
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
            inbox_id=inbox.id,
            payload={"name": contact.name, "source": "api"},
        )
    contact_inbox = ContactInbox(
        account_id=inbox.account_id,
        contact_id=contact.id,
        inbox_id=inbox.id,
        source_id=str(uuid.uuid4()),
        hmac_verified=verified,
    )
    session.add(contact_inbox)
    await session.flush()
    await _apply(session, contact, data)
    return Client(session_actor(contact_inbox, inbox), inbox, contact_inbox, contact)


async def update_contact(
    session: AsyncSession, inbox_identifier: str, contact_identifier: str, data: dict[str, Any]
) -> Client:
    """Chatwoot's `PATCH …/contacts/:contact_identifier`: name, email, phone number, custom
    attributes. A new identity is a new contact (`POST …/contacts` with the identifier)."""
    if "identifier" in data or "identifier_hash" in data:
        raise ValidationError.single(
            "identifier", "NOT_CHANGEABLE", "Create a contact with this identifier (POST …/contacts) instead."
        )
    client = await client_for(session, inbox_identifier, contact_identifier, lock=True)
    await _apply(session, client.contact, data)
    return client


def _display_id(value: str) -> int:
    if not value.isdigit() or len(value) > 9:
        raise NotFound("No such conversation")
    return int(value)


async def conversation_of(
    session: AsyncSession, client: Client, display_id: str, *, lock: bool = False
) -> Conversation:
    """One of the client's conversations by its display id (the `id` Chatwoot's public API uses)."""
    stmt = select(Conversation).where(
        Conversation.display_id == _display_id(display_id), widget_repo.session_conversations(client.actor)
    )
    if lock:
        stmt = stmt.with_for_update()
    conversation = await session.scalar(stmt)
    if conversation is None:
        raise NotFound("No such conversation")
    return conversation


async def list_conversations(session: AsyncSession, client: Client) -> list[Conversation]:
    return await widget_repo.conversations(session, client.actor, limit=MAX_PAGE)


async def create_conversation(session: AsyncSession, client: Client, data: dict[str, Any]) -> Conversation:
    """Chatwoot's `POST …/conversations`: an open conversation without messages yet (custom
    attributes optional), opened as every channel's are."""
    custom = data.get("custom_attributes")
    if custom is not None and not isinstance(custom, dict):
        raise ValidationError.single("custom_attributes", "INVALID", "Give an object.")
    if custom:
        from domain.catalog.custom_attributes import validate_custom_attributes
        from domain.enums import AttributeModel

        errors = await validate_custom_attributes(
            session, client.inbox.account_id, AttributeModel.CONVERSATION, custom, field="custom_attributes"
        )
        if errors:
            raise ValidationError(errors)
    contact = await session.get_one(Contact, client.contact.id, with_for_update=True)
    conversation, _ = await opening.open_conversation(
        session,
        client.actor,
        inbox=client.inbox,
        contact=contact,
        contact_inbox_id=client.contact_inbox.id,
        additional_attributes={"source": "api"},
    )
    if custom:
        conversation.custom_attributes = dict(custom)
    await session.flush()
    return conversation


async def create_message(
    session: AsyncSession, client: Client, display_id: str, data: dict[str, Any], *, max_chars: int
) -> tuple[Conversation, Message]:
    """Chatwoot's `POST …/messages`: the contact writes (incoming) into one of its conversations,
    which reopens it as any incoming message does; `echo_id` comes back for the client to match."""
    errors: list[FieldError] = []
    content = _text(data, "content", "content", errors) or ""
    echo_id = _text(data, "echo_id", "echo_id", errors)
    if echo_id is not None and len(echo_id) > MAX_ECHO_ID:
        errors.append(FieldError("echo_id", "TOO_LONG", f"At most {MAX_ECHO_ID} characters."))
    if errors:
        raise ValidationError(errors)
    check_content(content, max_chars)
    conversation = await conversation_of(session, client, display_id, lock=True)
    message = await conversations.add_message(
        session,
        client.actor,
        conversation,
        client.inbox,
        content=content,
        private=False,
        message_type=MessageType.INCOMING,
        content_attributes={"echo_id": echo_id} if echo_id else {},
    )
    await session.flush()
    return conversation, message


async def list_messages(
    session: AsyncSession, client: Client, display_id: str, *, before: str | None, after: str | None
) -> tuple[Conversation, list[Message]]:
    """A page of the conversation's messages the contact may see (no private notes, no activity),
    oldest first: the latest ones, or those before / after a message id."""

    def _cursor(value: str | None, name: str) -> int | None:
        if value is None or value == "":
            return None
        if not value.isdigit() or len(value) > 18:
            raise ValidationError.single(name, "INVALID", "Give a message id.")
        return int(value)

    before_id, after_id = _cursor(before, "before"), _cursor(after, "after")
    conversation = await conversation_of(session, client, display_id)
    rows = await widget_repo.messages(
        session, client.actor, conversation.id, before=before_id, after=after_id, limit=MAX_PAGE
    )
    return conversation, rows
