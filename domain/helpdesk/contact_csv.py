"""Contact CSV import and export.

An import is a `contact_imports` row and its file in storage; a job reads the file and writes it in
batches, each batch with its progress counts in one commit, so a retried job resumes where it stopped.
Columns: name, email, phone_number, identifier, labels (titles separated by `;`, existing labels
only) and any contact custom attribute by its key. A row matches an existing contact by email, then
phone number, then identifier (as Chatwoot does); a match is changed only where a non-empty cell
differs, so importing the same file again changes nothing. Refused rows are counted and reported
(the first MAX_ERRORS of them) and the rest goes on. A dry run reads and checks everything and
writes no contact.

An export streams the account's contacts (optionally one label's, or a search) to storage; cells that
a spreadsheet would run as a formula are prefixed with `'`, and an import takes that prefix off again."""

from __future__ import annotations

import csv
import io
import math
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import Contact, ContactImport, ContactLabel, CustomAttributeDefinition, Label
from db.repositories import helpdesk as repo
from domain import events
from domain.accounts.actor import Actor
from domain.catalog.custom_attributes import value_problem
from domain.enums import AttributeDisplayType, AttributeModel, ContactImportStatus, ContactType
from domain.errors import FieldError, NotFound, ValidationError
from domain.events import outbox
from domain.events.enums import EventType
from domain.helpdesk.contacts import MAX_PHONE_INPUT, PHONE_RE
from domain.storage import Storage
from domain.validation import is_email, matches, strip_chars

ACTOR = "contacts.import"
CONTENT_TYPE = "text/csv"
MAX_CSV_BYTES = 5 * 1024 * 1024
MAX_ROWS = 50_000
BATCH_ROWS = 500
MAX_ERRORS = 1_000
MAX_NAME = 255
MAX_IDENTIFIER = 255
BASE_COLUMNS = ("name", "email", "phone_number", "identifier", "labels")
KEY_COLUMNS = ("email", "phone_number", "identifier")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
FIELD_NAMES = {"name": "name", "email": "email", "phone_number": "phoneNumber", "identifier": "identifier"}

Sessions = Callable[[], AbstractAsyncContextManager[AsyncSession]]


# --- reading the file -------------------------------------------------------------------------------


def _unescape(value: str) -> str:
    value = value.strip()
    return value[1:] if len(value) > 1 and value[0] == "'" and value[1] in FORMULA_START else value


def read_csv(data: bytes) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header (names stripped, lower-case) and the data rows that are not blank, each with its row
    number as a spreadsheet shows it (the header is row 1)."""
    if len(data) > MAX_CSV_BYTES:
        raise ValidationError.single("csv", "TOO_LONG", f"At most {MAX_CSV_BYTES // (1024 * 1024)} MB of CSV.")
    try:
        text = data.decode("utf-8-sig")
        records = list(csv.reader(io.StringIO(text, newline="")))
    except (UnicodeDecodeError, csv.Error):
        raise ValidationError.single("csv", "INVALID", "The file is not UTF-8 CSV.") from None
    if not records:
        raise ValidationError.single("csv", "REQUIRED", "The file is empty.")
    header = [h.strip().lower() for h in records[0]]
    if not any(h in KEY_COLUMNS for h in header):
        raise ValidationError.single(
            "csv", "INVALID", "The header row needs an email, phone_number or identifier column."
        )
    rows = [(n + 1, r) for n, r in enumerate(records) if n > 0 and any(c.strip() for c in r)]
    if len(rows) > MAX_ROWS:
        raise ValidationError.single("csv", "TOO_MANY", f"At most {MAX_ROWS} rows at once.")
    return header, rows


@dataclass
class Parsed:
    row: int
    values: dict[str, str]  # the non-empty base columns, normalized
    labels: list[int]
    custom: dict[str, Any]


@dataclass
class Plan:
    """What the header means, with the account's labels and contact attribute definitions."""

    header: list[str]
    definitions: dict[str, CustomAttributeDefinition]
    labels: dict[str, int]  # lower-case title → id
    unknown: list[str] = field(default_factory=list)


def _error(row: int, field_name: str | None, code: str, message: str) -> dict[str, Any]:
    return {"row": row, "field": field_name, "code": code, "message": message}


def _custom_value(definition: CustomAttributeDefinition, raw: str) -> Any:
    kind = definition.display_type
    if kind in (AttributeDisplayType.NUMBER, AttributeDisplayType.CURRENCY, AttributeDisplayType.PERCENT):
        try:
            number = float(raw)
        except ValueError:
            return raw
        return int(number) if math.isfinite(number) and number.is_integer() and "." not in raw else number
    if kind == AttributeDisplayType.CHECKBOX:
        return {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}.get(raw.lower(), raw)
    return raw


def parse_row(plan: Plan, number: int, cells: list[str]) -> Parsed | list[dict[str, Any]]:
    """One data row, checked with the contacts' own rules, or its errors."""
    errors: list[dict[str, Any]] = []
    values: dict[str, str] = {}
    labels: list[int] = []
    custom: dict[str, Any] = {}
    for index, column in enumerate(plan.header):
        raw = _unescape(cells[index]) if index < len(cells) else ""
        if not raw:
            continue
        if column == "name":
            if len(raw) > MAX_NAME:
                errors.append(_error(number, "name", "TOO_LONG", f"At most {MAX_NAME} characters."))
            values["name"] = raw
        elif column == "email":
            email = raw.lower()
            if not is_email(email):
                errors.append(_error(number, "email", "INVALID_EMAIL", "Enter a valid email address."))
            values["email"] = email
        elif column == "phone_number":
            phone = strip_chars(raw, " \t\r\n\f\v\u00a0().-") if len(raw) <= MAX_PHONE_INPUT else raw
            if not matches(PHONE_RE, phone, 16):
                errors.append(
                    _error(
                        number, "phoneNumber", "INVALID_PHONE", "Use the international E.164 form, e.g. +4930123456."
                    )
                )
            values["phone_number"] = phone
        elif column == "identifier":
            if len(raw) > MAX_IDENTIFIER:
                errors.append(_error(number, "identifier", "TOO_LONG", f"At most {MAX_IDENTIFIER} characters."))
            values["identifier"] = raw
        elif column == "labels":
            for title in dict.fromkeys(t.strip().lower() for t in raw.split(";")):
                if not title:
                    continue
                if title not in plan.labels:
                    errors.append(_error(number, "labels", "UNKNOWN_LABEL", f"No such label: {title[:100]}."))
                else:
                    labels.append(plan.labels[title])
        elif column in plan.definitions:
            definition = plan.definitions[column]
            value = _custom_value(definition, raw)
            problem = value_problem(definition, value)
            if problem is not None:
                errors.append(_error(number, f"customAttributes.{column}", "INVALID_ATTRIBUTE", problem))
            custom[column] = value
    if not errors and not any(k in values for k in KEY_COLUMNS):
        errors.append(_error(number, None, "REQUIRED", "A row needs an email, phone number or identifier."))
    return errors or Parsed(number, values, labels, custom)


def check_file(plan: Plan, rows: Sequence[tuple[int, list[str]]]) -> list[Parsed | list[dict[str, Any]]]:
    """Every row parsed; a row whose email, phone number or identifier an earlier row of the file
    already has is refused as a duplicate."""
    seen: dict[tuple[str, str], int] = {}
    out: list[Parsed | list[dict[str, Any]]] = []
    for number, cells in rows:
        parsed = parse_row(plan, number, cells)
        if isinstance(parsed, Parsed):
            for key in KEY_COLUMNS:
                value = parsed.values.get(key)
                if value is not None and (key, value) in seen:
                    parsed = [
                        _error(
                            number,
                            FIELD_NAMES[key],
                            "DUPLICATE_IN_FILE",
                            f"Row {seen[(key, value)]} has the same {key.replace('_', ' ')}.",
                        )
                    ]
                    break
            else:
                for key in KEY_COLUMNS:
                    if key in parsed.values:
                        seen[(key, parsed.values[key])] = number
        out.append(parsed)
    return out


async def load_plan(session: AsyncSession, account_id: int, header: list[str]) -> Plan:
    definitions = {
        d.attribute_key: d
        for d in await session.scalars(
            select(CustomAttributeDefinition).where(
                CustomAttributeDefinition.account_id == account_id,
                CustomAttributeDefinition.attribute_model == AttributeModel.CONTACT,
            )
        )
    }
    labels = {
        title: pk
        for pk, title in (await session.execute(select(Label.id, Label.title).where(Label.account_id == account_id)))
    }
    plan = Plan(header, definitions, labels)
    plan.unknown = [h for h in dict.fromkeys(header) if h and h not in BASE_COLUMNS and h not in definitions]
    return plan


# --- the import row ---------------------------------------------------------------------------------


def file_key(account_id: int) -> str:
    return f"accounts/{account_id}/contact-imports/{uuid.uuid4().hex}.csv"


async def _one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def create_import(
    session: AsyncSession,
    *,
    account_id: int,
    user_id: int | None,
    data: bytes,
    dry_run: bool,
    storage: Storage | None,
) -> ContactImport:
    """Check the file's shape, keep it in storage (when given) and queue its job (when stored); the
    caller without storage runs `run_import` itself."""
    _, rows = read_csv(data)
    key = None
    if storage is not None:
        key = file_key(account_id)
        await storage.put_stream(key, _one_chunk(data), content_type=CONTENT_TYPE)
    row = ContactImport(
        account_id=account_id,
        user_id=user_id,
        status=ContactImportStatus.QUEUED,
        dry_run=dry_run,
        file_key=key,
        total=len(rows),
        processed=0,
        created=0,
        updated=0,
        unchanged=0,
        failed=0,
        errors=[],
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    if key is not None:
        outbox.add_job(session, ACTOR, import_id=row.id)
    return row


async def import_visible(session: AsyncSession, actor: Actor, import_id: int) -> ContactImport:
    row = await session.scalar(
        select(ContactImport).where(ContactImport.id == import_id, ContactImport.account_id == actor.account_id)
    )
    if row is None:
        raise NotFound("No ContactImport with this ID")
    return row


async def read_file(storage: Storage, row: ContactImport) -> bytes:
    assert row.file_key is not None
    return await storage.read_prefix(row.file_key, MAX_CSV_BYTES + 1)


# --- running it -------------------------------------------------------------------------------------


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)


async def _existing(session: AsyncSession, account_id: int, rows: Sequence[Parsed]) -> list[Contact]:
    emails = {r.values["email"] for r in rows if "email" in r.values}
    phones = {r.values["phone_number"] for r in rows if "phone_number" in r.values}
    identifiers = {r.values["identifier"] for r in rows if "identifier" in r.values}
    clauses = []
    if emails:
        clauses.append(func.lower(Contact.email).in_(emails))
    if phones:
        clauses.append(Contact.phone_number.in_(phones))
    if identifiers:
        clauses.append(Contact.identifier.in_(identifiers))
    if not clauses:
        return []
    return list(
        (
            await session.scalars(
                select(Contact).where(Contact.account_id == account_id, or_(*clauses)).with_for_update()
            )
        ).all()
    )


async def apply_batch(
    session: AsyncSession,
    row: ContactImport,
    batch: Sequence[Parsed | list[dict[str, Any]]],
    touched: set[int],
) -> Counts:
    """Match, create and change the batch's contacts (nothing is written on a dry run)."""
    counts = Counts()
    good = [p for p in batch if isinstance(p, Parsed)]
    for p in batch:
        if not isinstance(p, Parsed):
            counts.failed += 1
            counts.errors.extend(p)
    found = await _existing(session, row.account_id, good)
    by_email = {c.email.lower(): c for c in found if c.email}
    by_phone: dict[str, Contact] = {}
    for c in sorted(found, key=lambda c: c.id):
        if c.phone_number:
            by_phone.setdefault(c.phone_number, c)
    by_identifier = {c.identifier: c for c in found if c.identifier}
    current_labels: dict[int, set[int]] = {}
    if found:
        for contact_id, label_id in await session.execute(
            select(ContactLabel.contact_id, ContactLabel.label_id).where(
                ContactLabel.contact_id.in_([c.id for c in found])
            )
        ):
            current_labels.setdefault(contact_id, set()).add(label_id)
    created: list[tuple[Contact, Parsed]] = []
    for p in good:
        v = p.values
        match = (
            by_email.get(v.get("email", ""))
            or by_phone.get(v.get("phone_number", ""))
            or by_identifier.get(v.get("identifier", ""))
        )
        other = by_identifier.get(v.get("identifier", ""))
        if other is not None and other is not match:
            counts.failed += 1
            counts.errors.append(_error(p.row, "identifier", "TAKEN", "Another contact has this identifier."))
            continue
        if match is not None and match.id in touched:
            counts.failed += 1
            counts.errors.append(
                _error(p.row, None, "DUPLICATE_IN_FILE", "An earlier row of the file matches the same contact.")
            )
            continue
        if match is None:
            counts.created += 1
            contact = Contact(
                account_id=row.account_id,
                name=v.get("name", ""),
                email=v.get("email"),
                phone_number=v.get("phone_number"),
                identifier=v.get("identifier"),
                additional_attributes={},
                custom_attributes=p.custom,
                contact_type=ContactType.LEAD if v.get("email") else ContactType.VISITOR,
            )
            created.append((contact, p))
            continue
        touched.add(match.id)
        changed: dict[str, Any] = {}
        for key, value in v.items():
            if getattr(match, key) != value and not (key == "email" and (match.email or "").lower() == value):
                changed[key] = [getattr(match, key), value]
        merged = {**match.custom_attributes, **p.custom}
        if merged != match.custom_attributes:
            changed["custom_attributes"] = [match.custom_attributes, merged]
        new_labels = [i for i in p.labels if i not in current_labels.get(match.id, set())]
        if new_labels:
            changed["labels"] = {"added": len(new_labels)}
        if not changed:
            counts.unchanged += 1
            continue
        counts.updated += 1
        if row.dry_run:
            continue
        for key in v:
            if key in changed:
                setattr(match, key, v[key])
        if "custom_attributes" in changed:
            match.custom_attributes = merged
        session.add_all(ContactLabel(contact_id=match.id, label_id=i, account_id=row.account_id) for i in new_labels)
        events.record(
            session,
            account_id=row.account_id,
            type=EventType.CONTACT_UPDATED,
            contact_id=match.id,
            actor_user_id=row.user_id,
            payload={"changed_attributes": {k: c for k, c in changed.items() if k != "labels"}},
        )
    if created and not row.dry_run:
        session.add_all(c for c, _ in created)
        await session.flush()
        for contact, p in created:
            touched.add(contact.id)
            session.add_all(
                ContactLabel(contact_id=contact.id, label_id=i, account_id=row.account_id) for i in p.labels
            )
            events.record(
                session,
                account_id=row.account_id,
                type=EventType.CONTACT_CREATED,
                contact_id=contact.id,
                actor_user_id=row.user_id,
                payload={"name": contact.name},
            )
    await session.flush()
    return counts


def _add(row: ContactImport, counts: Counts, processed: int) -> None:
    row.processed += processed
    row.created += counts.created
    row.updated += counts.updated
    row.unchanged += counts.unchanged
    row.failed += counts.failed
    room = MAX_ERRORS - len(row.errors)
    if room > 0 and counts.errors:
        row.errors = [*row.errors, *counts.errors[:room]]


async def run_import(
    unit: Sessions,
    import_id: int,
    data: bytes,
    *,
    batch_rows: int = BATCH_ROWS,
    on_progress: Callable[[ContactImport], None] | None = None,
) -> ContactImport | None:
    """Process the import from where it stopped, one batch (and its counts) per commit; None when it is
    gone or already done."""
    async with unit() as session:
        row = await session.get(ContactImport, import_id, with_for_update=True)
        if row is None or row.status == ContactImportStatus.DONE:
            return None
        row.status = ContactImportStatus.RUNNING
        row.started_at = row.started_at or utcnow()
        header, rows = read_csv(data)
        plan = await load_plan(session, row.account_id, header)
        if row.processed == 0 and plan.unknown:
            row.errors = [
                _error(1, column, "UNKNOWN_COLUMN", "No contact field or custom attribute has this key; ignored.")
                for column in plan.unknown
            ][:MAX_ERRORS]
        start = row.processed
    checked = check_file(plan, rows)
    touched: set[int] = set()
    for offset in range(start, len(checked), batch_rows):
        batch = checked[offset : offset + batch_rows]
        async with unit() as session:
            row = await session.get_one(ContactImport, import_id, with_for_update=True)
            counts = await apply_batch(session, row, batch, touched)
            _add(row, counts, len(batch))
        if on_progress is not None:
            on_progress(row)
    async with unit() as session:
        row = await session.get_one(ContactImport, import_id, with_for_update=True)
        row.status = ContactImportStatus.DONE
        row.finished_at = utcnow()
    return row


async def fail(unit: Sessions, import_id: int) -> None:
    async with unit() as session:
        row = await session.get(ContactImport, import_id, with_for_update=True)
        if row is not None and row.status != ContactImportStatus.DONE:
            row.status = ContactImportStatus.FAILED
            row.finished_at = utcnow()


# --- export -----------------------------------------------------------------------------------------


def escape_cell(value: str) -> str:
    """A cell a spreadsheet would evaluate as a formula gets a leading `'` (OWASP CSV injection)."""
    return "'" + value if value.startswith(FORMULA_START) else value


def _csv_line(cells: Sequence[str]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([escape_cell(c) for c in cells])
    return buf.getvalue().encode()


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass
class ExportCounter:
    rows: int = 0


async def export_chunks(
    session: AsyncSession,
    account_id: int,
    *,
    label_title: str | None,
    search: str | None,
    counter: ExportCounter,
    batch_rows: int = 1000,
) -> AsyncIterator[bytes]:
    """The CSV of the account's contacts (newest first) in batches: two queries per batch."""
    keys = [
        k
        for k in await session.scalars(
            select(CustomAttributeDefinition.attribute_key)
            .where(
                CustomAttributeDefinition.account_id == account_id,
                CustomAttributeDefinition.attribute_model == AttributeModel.CONTACT,
            )
            .order_by(CustomAttributeDefinition.id)
        )
        if k not in BASE_COLUMNS
    ]
    yield _csv_line([*BASE_COLUMNS, *keys])
    after: int | None = None
    while True:
        contacts = await repo.contacts_page(
            session, account_id, search=search, after_id=after, limit=batch_rows, label_title=label_title
        )
        if not contacts:
            return
        after = contacts[-1].id
        titles: dict[int, list[str]] = {}
        for contact_id, title in await session.execute(
            select(ContactLabel.contact_id, Label.title)
            .join(Label, Label.id == ContactLabel.label_id)
            .where(ContactLabel.contact_id.in_([c.id for c in contacts]))
            .order_by(Label.title)
        ):
            titles.setdefault(contact_id, []).append(title)
        counter.rows += len(contacts)
        yield b"".join(
            _csv_line(
                [
                    c.name or "",
                    c.email or "",
                    c.phone_number or "",
                    c.identifier or "",
                    ";".join(titles.get(c.id, [])),
                    *(_plain(c.custom_attributes.get(k)) for k in keys),
                ]
            )
            for c in contacts
        )
        if len(contacts) < batch_rows:
            return


def export_key(account_id: int) -> str:
    return f"accounts/{account_id}/contact-exports/{uuid.uuid4().hex}.csv"


async def export_contacts(
    session: AsyncSession,
    storage: Storage,
    actor: Actor,
    *,
    label: str | None,
    search: str | None,
    expires_in: int,
) -> tuple[int, str]:
    """Write the CSV to storage; the number of contacts and a short-lived download link."""
    if search is not None and not 1 <= len(search.strip()) <= 200:
        raise ValidationError([FieldError("search", "INVALID", "Search with 1 to 200 characters.")])
    account_id = actor.require_account_id()
    key = export_key(account_id)
    counter = ExportCounter()
    await storage.put_stream(
        key,
        export_chunks(
            session,
            account_id,
            label_title=label.strip().lower() if label else None,
            search=search.strip() if search else None,
            counter=counter,
        ),
        content_type=CONTENT_TYPE,
    )
    url = await storage.download_url(key, file_name="contacts.csv", content_type=CONTENT_TYPE, expires_in=expires_in)
    return counter.rows, url
