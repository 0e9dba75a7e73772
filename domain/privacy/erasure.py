"""Erasure: a contact is anonymised, their conversations and reporting rows kept.

The rule, in one place:
- the contact row stays (conversations and reports point at it) with no name, email, phone,
  identifier, avatar or other additional attributes (IP, user agent, social profiles), no custom
  attributes, and `erased_at` set; their inbox identities get a meaningless source id;
- messages the contact sent keep their row (counts and reports stay) with empty content and
  attributes, so the search vector (`messages.content_tsv`, computed from the content) is empty too;
  what agents, bots and the system wrote in their conversations is the account's record and stays;
- every file of their conversations and every file they uploaded is deleted, rows now and stored
  objects through a job after commit;
- earlier data exports of them (rows and ZIPs) go; notes and labels about them go; inbound emails of their conversations lose sender, subject and
  headers; CSAT answers keep the rating (reports) and lose the comment; the payloads of their own
  `contact.*` events (name, changed attributes) are blanked.
It is audited with counts only (nothing of the person)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import Contact
from db.repositories import privacy as repo
from domain import attachments, audit, events
from domain.accounts.actor import Actor
from domain.audit import RequestMeta
from domain.errors import NotFound, ValidationError
from domain.events import outbox
from domain.events.enums import EventType


async def erase_contact(session: AsyncSession, actor: Actor, contact_id: int, meta: RequestMeta) -> Contact:
    account_id = actor.require_account_id()
    contact = await repo.contact_for_erasure(session, account_id, contact_id)
    if contact is None:
        raise NotFound("No such contact")
    if contact.erased_at is not None:
        raise ValidationError.single("contactId", "ALREADY_ERASED", "This contact was erased already.")
    now = utcnow()
    files = await attachments.remove_for_contact(session, account_id, contact.id)
    zips = await repo.remove_exports_of_contact(session, account_id, contact.id)
    if zips:  # earlier exports of their data go too
        outbox.add_job(session, "attachments.delete_objects", keys=zips)
    counts = await repo.erase_rows(session, account_id, contact.id, now)
    contact.name = ""
    contact.email = None
    contact.phone_number = None
    contact.identifier = None
    contact.additional_attributes = {}
    contact.custom_attributes = {}
    contact.erased_at = now
    audit.record(
        session,
        actor,
        "contact.erase",
        "Contact",
        contact.id,
        {**counts, "attachments": files, "dataExports": len(zips)},
        meta,
    )
    events.record(
        session,
        account_id=account_id,
        type=EventType.CONTACT_ERASED,
        contact_id=contact.id,
        actor_user_id=actor.user_id,
    )
    await session.flush()
    return contact
