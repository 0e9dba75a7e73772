"""Contacts: the customers. Email unique per account (any case), phone in E.164, an external
identifier, attributes, notes, and merging two records of one person."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Contact, ContactLabel, ContactNote
from db.repositories import helpdesk as repo
from domain import audit, events
from domain.accounts.actor import Actor
from domain.audit import RequestMeta
from domain.enums import AttributeModel, ContactType
from domain.errors import FieldError, Forbidden, NotFound, ValidationError
from domain.events.enums import EventType
from domain.validation import is_email, matches, strip_chars

PHONE_RE = re.compile(r"\+[1-9][0-9]{6,14}")
MAX_PHONE_INPUT = 64  # before separators are removed
ADDITIONAL_KEYS = {"company_name", "city", "country", "country_code", "description", "social_profiles"}
MAX_NOTE = 10_000
MAX_LABELS = 100  # titles added and removed in one call


async def _custom_attribute_errors(session: AsyncSession, account_id: int, values: dict[str, Any]) -> list[FieldError]:
    from domain.catalog.custom_attributes import validate_custom_attributes

    return await validate_custom_attributes(session, account_id, AttributeModel.CONTACT, values)


async def _validate(
    session: AsyncSession, actor: Actor, data: dict[str, Any], existing: Contact | None
) -> list[FieldError]:
    errors: list[FieldError] = []
    if "name" in data and data["name"] is not None and len(data["name"]) > 255:
        errors.append(FieldError("name", "TOO_LONG", "At most 255 characters."))
    if data.get("email"):
        data["email"] = data["email"].strip().lower()
        if not is_email(data["email"]):
            errors.append(FieldError("email", "INVALID_EMAIL", "Enter a valid email address."))
        else:
            other = await repo.contact_by_email(session, actor.require_account_id(), data["email"])
            if other is not None and (existing is None or other.id != existing.id):
                errors.append(FieldError("email", "TAKEN", "Another contact has this email."))
    if data.get("phone_number"):
        phone = data["phone_number"]
        if len(phone) <= MAX_PHONE_INPUT:
            phone = strip_chars(phone, " \t\r\n\f\v\u00a0().-")
        data["phone_number"] = phone
        if not matches(PHONE_RE, phone, 16):
            errors.append(
                FieldError("phoneNumber", "INVALID_PHONE", "Use the international E.164 form, e.g. +4930123456.")
            )
    if data.get("identifier"):
        other = await repo.contact_by_identifier(session, actor.require_account_id(), data["identifier"])
        if other is not None and (existing is None or other.id != existing.id):
            errors.append(FieldError("identifier", "TAKEN", "Another contact has this identifier."))
    extra = set((data.get("additional_attributes") or {}).keys()) - ADDITIONAL_KEYS
    if extra:
        errors.append(FieldError("additionalAttributes", "INVALID", f"Unknown keys: {', '.join(sorted(extra))}."))
    if data.get("custom_attributes"):
        errors.extend(await _custom_attribute_errors(session, actor.require_account_id(), data["custom_attributes"]))
    return errors


async def create_contact(session: AsyncSession, actor: Actor, data: dict[str, Any]) -> Contact:
    errors = await _validate(session, actor, data, None)
    if errors:
        raise ValidationError(errors)
    contact = Contact(
        account_id=actor.account_id,
        name=(data.get("name") or "").strip(),
        email=data.get("email") or None,
        phone_number=data.get("phone_number") or None,
        identifier=data.get("identifier") or None,
        additional_attributes=data.get("additional_attributes") or {},
        custom_attributes=data.get("custom_attributes") or {},
        contact_type=data.get("contact_type") or (ContactType.LEAD if data.get("email") else ContactType.VISITOR),
    )
    session.add(contact)
    await session.flush()
    events.record(
        session,
        account_id=actor.require_account_id(),
        type=EventType.CONTACT_CREATED,
        contact_id=contact.id,
        actor_user_id=actor.user_id,
        payload={"name": contact.name},
    )
    return contact


async def update_contact(session: AsyncSession, actor: Actor, contact_id: int, data: dict[str, Any]) -> Contact:
    contact = await repo.contact_in_account(session, actor.require_account_id(), contact_id, lock=True)
    if contact is None:
        raise NotFound("No such contact")
    errors = await _validate(session, actor, data, contact)
    if errors:
        raise ValidationError(errors)
    changed: dict[str, Any] = {}
    for key in ("name", "email", "phone_number", "identifier", "contact_type", "blocked"):
        if key in data and data[key] is not None and getattr(contact, key) != data[key]:
            changed[key] = [_plain(getattr(contact, key)), _plain(data[key])]
            setattr(contact, key, data[key] or None if key in ("email", "phone_number", "identifier") else data[key])
    for key in ("additional_attributes", "custom_attributes"):
        if data.get(key) is not None:
            merged = {**getattr(contact, key), **data[key]}
            merged = {k: v for k, v in merged.items() if v is not None}  # null removes a key
            if merged != getattr(contact, key):
                changed[key] = [getattr(contact, key), merged]
                setattr(contact, key, merged)
    if changed:
        events.record(
            session,
            account_id=actor.require_account_id(),
            type=EventType.CONTACT_UPDATED,
            contact_id=contact.id,
            actor_user_id=actor.user_id,
            payload={"changed_attributes": changed},
        )
    await session.flush()
    return contact


def _plain(value: Any) -> Any:
    return getattr(value, "value", value)


async def delete_contact(session: AsyncSession, actor: Actor, contact_id: int, meta: RequestMeta) -> Contact:
    contact = await repo.contact_in_account(session, actor.require_account_id(), contact_id, lock=True)
    if contact is None:
        raise NotFound("No such contact")
    audit.record(
        session, actor, "contact.delete", "Contact", contact.id, {"name": contact.name, "email": contact.email}, meta
    )
    events.record(
        session,
        account_id=actor.require_account_id(),
        type=EventType.CONTACT_DELETED,
        contact_id=contact.id,
        actor_user_id=actor.user_id,
    )
    from domain import attachments

    await attachments.remove_for_contact(
        session, actor.require_account_id(), contact.id
    )  # stored files: a job after commit
    await session.delete(contact)  # conversations and messages go with it (ON DELETE CASCADE)
    await session.flush()
    return contact


async def merge_contacts(session: AsyncSession, actor: Actor, base_id: int, mergee_id: int) -> Contact:
    """Chatwoot's merge: the mergee's conversations, inbox identities and notes move to the base
    contact, missing attributes are filled from the mergee, and the mergee is gone."""
    if base_id == mergee_id:
        raise ValidationError.single("mergeeContactId", "INVALID", "A contact cannot be merged into itself.")
    base = await repo.contact_in_account(session, actor.require_account_id(), base_id, lock=True)
    mergee = await repo.contact_in_account(session, actor.require_account_id(), mergee_id, lock=True)
    if base is None or mergee is None:
        raise NotFound("No such contact")
    await repo.move_contact_records(session, mergee.id, base.id)
    email, phone, identifier = mergee.email, mergee.phone_number, mergee.identifier
    base.additional_attributes = {**mergee.additional_attributes, **base.additional_attributes}
    base.custom_attributes = {**mergee.custom_attributes, **base.custom_attributes}
    base.name = base.name or mergee.name
    await session.delete(mergee)
    await session.flush()  # free the unique email/identifier before the base takes them
    base.email = base.email or email
    base.phone_number = base.phone_number or phone
    base.identifier = base.identifier or identifier
    events.record(
        session,
        account_id=actor.require_account_id(),
        type=EventType.CONTACT_MERGED,
        contact_id=base.id,
        actor_user_id=actor.user_id,
        payload={"merged_contact_id": mergee_id},
    )
    await session.flush()
    return base


async def add_note(session: AsyncSession, actor: Actor, contact_id: int, content: str) -> ContactNote:
    contact = await repo.contact_in_account(session, actor.require_account_id(), contact_id)
    if contact is None:
        raise NotFound("No such contact")
    content = _note_content(content)
    note = ContactNote(account_id=actor.account_id, contact_id=contact.id, user_id=actor.user_id, content=content)
    session.add(note)
    await session.flush()
    return note


def _note_content(content: str) -> str:
    content = content.strip()
    if not content or len(content) > MAX_NOTE:
        raise ValidationError.single("content", "INVALID", f"Write 1 to {MAX_NOTE} characters.")
    return content


async def _own_note(session: AsyncSession, actor: Actor, note_id: int) -> ContactNote:
    """A note of the caller's account that the caller may change: their own, or any for an administrator."""
    note = await repo.contact_note_in_account(session, actor.require_account_id(), note_id, lock=True)
    if note is None:
        raise NotFound("No such note")
    if not actor.is_administrator and (note.user_id is None or note.user_id != actor.user_id):
        raise Forbidden("Only the note's author or an administrator can change it")
    return note


async def update_note(session: AsyncSession, actor: Actor, note_id: int, content: str) -> ContactNote:
    note = await _own_note(session, actor, note_id)
    note.content = _note_content(content)
    await session.flush()
    return note


async def delete_note(session: AsyncSession, actor: Actor, note_id: int) -> ContactNote:
    note = await _own_note(session, actor, note_id)
    await session.delete(note)
    await session.flush()
    return note


async def update_labels(
    session: AsyncSession,
    actor: Actor,
    contact_id: int,
    *,
    add: Sequence[str],
    remove: Sequence[str],
    replace: bool,
) -> Contact:
    """Add, remove or replace a contact's labels by title (the account's labels, any case), as a
    conversation's; a change records `contact.updated` with the titles before and after."""
    contact, _ = await _update_labels(session, actor, contact_id, add=add, remove=remove, replace=replace)
    return contact


MAX_BULK = 1000  # contacts one bulk action may change


async def bulk_targets(
    session: AsyncSession,
    actor: Actor,
    *,
    ids: Sequence[int] | None,
    where: Any = None,
    search: str | None = None,
    label_title: str | None = None,
) -> list[int]:
    """The contacts a bulk action works on: the given ids (every one the account's, else NOT_FOUND),
    or every contact of the account the filter matches (TOO_MANY above MAX_BULK); nothing is changed."""
    account_id = actor.require_account_id()
    if ids is not None:
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            raise ValidationError.single("ids", "REQUIRED", "Give at least one contact.")
        if len(wanted) > MAX_BULK:
            raise ValidationError.single("ids", "TOO_MANY", f"At most {MAX_BULK} contacts at once.")
        found = set(await repo.contact_ids_in_account(session, account_id, wanted))
        if len(found) != len(wanted):
            raise ValidationError.single("ids", "NOT_FOUND", "No such contact.")
        return wanted
    rows = await repo.contacts_page(
        session, account_id, search=search, after_id=None, limit=MAX_BULK + 1, label_title=label_title, where=where
    )
    if len(rows) > MAX_BULK:
        raise ValidationError.single("filter", "TOO_MANY", f"More than {MAX_BULK} contacts match; narrow the filter.")
    return [row.id for row in rows]


async def bulk_labels(
    session: AsyncSession, actor: Actor, contact_ids: Sequence[int], *, add: Sequence[str], remove: Sequence[str]
) -> int:
    """Add and remove labels on each contact, one `contact.updated` per contact that changed; how
    many changed. All or nothing: an unknown label fails before any row is written."""
    if not add and not remove:
        raise ValidationError.single("labelsAdd", "REQUIRED", "Give labels to add or remove.")
    changed = 0
    for contact_id in contact_ids:
        _, did = await _update_labels(session, actor, contact_id, add=add, remove=remove, replace=False)
        changed += did
    return changed


async def bulk_delete(session: AsyncSession, actor: Actor, contact_ids: Sequence[int], meta: RequestMeta) -> int:
    """Delete each contact as `delete_contact` does (audit line and `contact.deleted` each)."""
    for contact_id in contact_ids:
        await delete_contact(session, actor, contact_id, meta)
    return len(contact_ids)


async def _update_labels(
    session: AsyncSession,
    actor: Actor,
    contact_id: int,
    *,
    add: Sequence[str],
    remove: Sequence[str],
    replace: bool,
) -> tuple[Contact, bool]:
    from domain.catalog.labels import labels_by_titles

    account_id = actor.require_account_id()
    contact = await repo.contact_in_account(session, account_id, contact_id, lock=True)
    if contact is None:
        raise NotFound("No such contact")
    if len(add) + len(remove) > MAX_LABELS:
        raise ValidationError.single("labels", "TOO_MANY", f"At most {MAX_LABELS} labels at once.")
    found, missing = await labels_by_titles(session, account_id, list(add))
    if missing:
        raise ValidationError.single("labels", "UNKNOWN_LABEL", f"No such label: {', '.join(missing)}.")
    removing, _ = await labels_by_titles(session, account_id, list(remove))
    current = await repo.contact_label_ids_of(session, contact.id)
    wanted = (
        {label.id for label in found}
        if replace
        else (current | {label.id for label in found}) - {label.id for label in removing}
    )
    added, dropped = wanted - current, current - wanted
    if not added and not dropped:
        return contact, False
    session.add_all(ContactLabel(contact_id=contact.id, label_id=i, account_id=account_id) for i in sorted(added))
    if dropped:
        await repo.remove_contact_labels(session, contact.id, dropped)
    titles = {
        i: label.title
        for i, label in (await repo.labels_of_account(session, account_id, list(current | wanted))).items()
    }
    events.record(
        session,
        account_id=account_id,
        type=EventType.CONTACT_UPDATED,
        contact_id=contact.id,
        actor_user_id=actor.user_id,
        payload={
            "changed_attributes": {
                "labels": [
                    sorted(titles.get(i, str(i)) for i in current),
                    sorted(titles.get(i, str(i)) for i in wanted),
                ]
            }
        },
    )
    await session.flush()
    return contact, True
