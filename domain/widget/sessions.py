"""Contact sessions of the website widget: started with an inbox's website token, optionally for a
verified identity (`identifier` with its HMAC-SHA256 under the inbox's secret), and the details
(name, email) the visitor gives in the pre-chat form.

A contact session acts as a `ContactActor`: anonymous to every agent rule (no account membership,
no user), carrying only its contact inbox, inbox and account."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import Contact, ContactInbox, Inbox
from db.repositories import helpdesk as helpdesk_repo
from db.repositories import widget as repo
from domain import events
from domain.accounts import tokens
from domain.accounts.actor import Actor, ActorKind
from domain.enums import ContactType
from domain.errors import FieldError, NotAuthenticated, NotFound, ValidationError
from domain.events.enums import EventType
from domain.helpdesk.inboxes import hmac_token_of
from domain.validation import is_email
from domain.widget.config import allowed_domains
from infra.settings import Settings

MAX_NAME = 255


@dataclass(frozen=True, kw_only=True)
class ContactActor(Actor):
    """A website visitor's contact session. `kind` stays anonymous, so no agent rule accepts it;
    `Rule.widget` accepts only this."""

    contact_id: int
    contact_inbox_id: int
    inbox_id: int
    widget_account_id: int
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


def require_session(actor: Actor) -> ContactActor:
    if not isinstance(actor, ContactActor):
        raise NotFound("No widget session")
    return actor


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
    found = await repo.contact_inbox(
        session, claims.contact_inbox_id, claims.inbox_id, claims.account_id, claims.source_id
    )
    inbox = await session.get(Inbox, claims.inbox_id) if found is not None else None
    if found is None or inbox is None:
        raise NotAuthenticated("This widget session no longer exists")
    return session_actor(found, inbox), inbox


def _issue(secret_key: str, ttl: timedelta, contact_inbox: ContactInbox) -> str:
    return tokens.issue_widget_token(
        secret_key,
        contact_inbox_id=contact_inbox.id,
        inbox_id=contact_inbox.inbox_id,
        account_id=contact_inbox.account_id,
        source_id=contact_inbox.source_id,
        now=utcnow(),
        ttl=ttl,
    )


async def _new_contact(session: AsyncSession, inbox: Inbox, *, identifier: str | None = None) -> Contact:
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
        payload={"name": contact.name, "source": "widget"},
    )
    return contact


async def _new_contact_inbox(session: AsyncSession, inbox: Inbox, contact: Contact, verified: bool) -> ContactInbox:
    ci = ContactInbox(
        account_id=inbox.account_id,
        contact_id=contact.id,
        inbox_id=inbox.id,
        source_id=str(uuid.uuid4()),
        hmac_verified=verified,
    )
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
            contact_inbox = await repo.contact_inbox(
                session, claims.contact_inbox_id, inbox.id, inbox.account_id, claims.source_id
            )
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
                raise ValidationError.single(
                    "identifierHash", "REQUIRED", "Another visitor uses this identifier; send its identifierHash."
                )
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
                assert contact_inbox is not None  # the session's contact came with its contact inbox
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
        await apply_details(session, contact, name, email, strict=False)
    await session.flush()
    return SessionStart(_issue(secret_key, ttl, contact_inbox), contact, contact_inbox, inbox, created)


# An email the visitor gave that another contact of the account has: shown back to the visitor, kept
# for agents in the contact's attributes, never linked to that contact.
UNVERIFIED_EMAIL = "unverified_email"


def shown_email(contact: Contact) -> str | None:
    """The email the visitor sees as theirs: the last one they gave."""
    return (contact.additional_attributes or {}).get(UNVERIFIED_EMAIL) or contact.email


async def apply_details(
    session: AsyncSession,
    contact: Contact,
    name: str | None,
    email: str | None,
    *,
    strict: bool,
    source: str = "widget",
) -> bool:
    """A visitor's (or an API channel client's) name and email; an email another contact has is kept
    unconfirmed, never linked."""
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
        contact.additional_attributes = {
            **(contact.additional_attributes or {}),
            UNVERIFIED_EMAIL: changed[UNVERIFIED_EMAIL][1],
        }
    if "email" in changed and not any(e.field == "email" for e in errors):
        contact.email = changed["email"][1]
        if UNVERIFIED_EMAIL in (contact.additional_attributes or {}):
            contact.additional_attributes = {
                k: v for k, v in contact.additional_attributes.items() if k != UNVERIFIED_EMAIL
            }
        if contact.contact_type == ContactType.VISITOR:
            contact.contact_type = ContactType.LEAD
    events.record(
        session,
        account_id=contact.account_id,
        type=EventType.CONTACT_UPDATED,
        contact_id=contact.id,
        payload={"changed_attributes": changed, "source": source},
    )
    return True


async def update_contact(session: AsyncSession, actor: ContactActor, name: str | None, email: str | None) -> Contact:
    contact = await session.get(Contact, actor.contact_id, with_for_update=True)
    if contact is None or contact.account_id != actor.widget_account_id:
        raise NotAuthenticated("This widget session no longer exists")
    await apply_details(session, contact, name, email, strict=True)
    await session.flush()
    return contact


async def contact_of(session: AsyncSession, actor: ContactActor) -> Contact | None:
    contact = await session.get(Contact, actor.contact_id)
    return contact if contact is not None and contact.account_id == actor.widget_account_id else None
