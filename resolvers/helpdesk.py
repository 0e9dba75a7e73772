"""Resolvers of inboxes, contacts, conversations and messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import strawberry
from sqlalchemy import and_
from strawberry.types import Info

from db.models import Contact as ContactRow
from db.models import Conversation as ConversationRow
from db.models import Message as MessageRow
from db.repositories import catalog as catalog_repo
from db.repositories import helpdesk as repo
from db.repositories import search as search_repo
from db.session import dialect_name
from domain.accounts import bots
from domain.enums import AttributeModel, ChannelType, ContactType, ConversationStatus, MessageType, Priority
from domain.errors import BadUserInput, NotFound, RateLimited, ValidationError
from domain.filters import saved_views
from domain.filters.conditions import Compiler as FilterCompiler
from domain.filters.conditions import Condition
from domain.filters.enums import ConversationTab, SavedViewKind
from domain.helpdesk import contacts, conversations, inboxes, opening, transcript
from domain.sla.enums import SlaStatus
from infra.api_names import camel_case
from resolvers.attachments import config as attachment_config
from resolvers.attachments import decode_attachment_ids
from resolvers.context import Context
from resolvers.mutations import Keyed, mutate
from schema.core.errors import PayloadErrors
from schema.core.ids import decode_id, decode_optional
from schema.core.pagination import (
    Connection,
    build_connection,
    decode_cursor,
    decode_int_cursor,
    encode_cursor,
    page_size,
)
from schema.helpdesk import inputs as i
from schema.helpdesk import saved_views as v
from schema.helpdesk import types as t
from schema.helpdesk.errors import HelpdeskError, HelpdeskErrorCode
from schema.helpdesk.saved_views import ConversationsBulkPayload

Ctx = Info[Context, None]
_errors = PayloadErrors(HelpdeskError, HelpdeskErrorCode)


async def _own_row(session, model, pk: int | None, account_id: int | None):
    """A row an idempotent mutation made before, for replaying its result (same caller and account)."""
    row = await session.get(model, pk) if pk is not None else None
    return row if row is not None and row.account_id == account_id else None


def _unset(value: Any) -> bool:
    return value is strawberry.UNSET


# --- inboxes ----------------------------------------------------------------------------------------


def _config(value: i.ChannelConfigInput | None) -> dict[str, Any]:
    if value is None:
        return {}
    return {
        "widgetColor": value.widget_color,
        "websiteUrl": value.website_url,
        "welcomeTitle": value.welcome_title,
        "welcomeTagline": value.welcome_tagline,
        "replyTime": value.reply_time,
        "allowedDomains": value.allowed_domains,
        "callbackUrl": value.callback_url,
        "email": value.email,
    }


def _settings(value: i.InboxSettingsInput | None) -> dict[str, Any]:
    if value is None:
        return {}
    hours = None
    if value.working_hours is not None:
        hours = [
            {
                "dayOfWeek": h.day_of_week,
                "closedAllDay": h.closed_all_day,
                "openAllDay": h.open_all_day,
                "openTime": h.open_time,
                "closeTime": h.close_time,
            }
            for h in value.working_hours
        ]
    limit = (
        {} if value.auto_assignment_limit is strawberry.UNSET else {"autoAssignmentLimit": value.auto_assignment_limit}
    )
    if value.reassign_offline_after_seconds is not strawberry.UNSET:
        limit["reassignOfflineAfterSeconds"] = value.reassign_offline_after_seconds
    return {
        **limit,
        "autoAssignmentPolicy": value.auto_assignment_policy,
        "greetingEnabled": value.greeting_enabled,
        "greetingMessage": value.greeting_message,
        "outOfOfficeMessage": value.out_of_office_message,
        "workingHoursEnabled": value.working_hours_enabled,
        "csatSurveyEnabled": value.csat_survey_enabled,
        "workingHours": hours,
        "timezone": value.timezone,
        "enableAutoAssignment": value.enable_auto_assignment,
        "hmacMandatory": value.hmac_mandatory,
    }


async def inboxes_list(info: Ctx) -> list[t.Inbox]:
    actor = await info.context.actor()
    async with info.context.db() as session:
        # An agent bot sees the inboxes connected to it, agents those they work, administrators all.
        rows = await repo.inboxes_of_account(
            session,
            actor.account_id,
            None if actor.is_administrator else actor.user_id,
            bot_id=actor.bot_id,
        )
    return [t.Inbox.from_row(r) for r in rows]


async def inbox_create(info: Ctx, input: i.InboxCreateInput) -> i.InboxPayload:
    actor = await info.context.actor()

    async def work(session) -> i.InboxPayload:
        inbox = await inboxes.create_inbox(
            session,
            actor,
            name=input.name,
            channel_type=ChannelType(input.channel_type),
            config=_config(input.channel_config),
            settings=_settings(input.settings),
            meta=info.context.meta,
            app_settings=info.context.settings,
        )
        return i.InboxPayload(inbox=t.Inbox.from_row(inbox), errors=[])

    return await mutate(info, _errors, work, lambda e: i.InboxPayload(inbox=None, errors=e))


async def inbox_update(info: Ctx, id: strawberry.ID, input: i.InboxUpdateInput) -> i.InboxPayload:
    actor = await info.context.actor()
    pk = decode_id(id, "Inbox")

    async def work(session) -> i.InboxPayload:
        inbox = await inboxes.update_inbox(
            session,
            actor,
            pk,
            name=input.name,
            config=_config(input.channel_config) if input.channel_config else None,
            settings=_settings(input.settings),
            meta=info.context.meta,
            app_settings=info.context.settings,
        )
        return i.InboxPayload(inbox=t.Inbox.from_row(inbox), errors=[])

    return await mutate(info, _errors, work, lambda e: i.InboxPayload(inbox=None, errors=e))


async def inbox_bot_set(info: Ctx, id: strawberry.ID, bot_id: strawberry.ID) -> i.InboxPayload:
    actor = await info.context.actor()
    pk = decode_id(id, "Inbox")
    bot_pk = decode_id(bot_id, "Bot")

    async def work(session) -> i.InboxPayload:
        inbox = await bots.set_inbox_bot(session, actor, pk, bot_pk, info.context.meta)
        return i.InboxPayload(inbox=t.Inbox.from_row(inbox), errors=[])

    return await mutate(info, _errors, work, lambda e: i.InboxPayload(inbox=None, errors=e))


async def inbox_bot_unset(info: Ctx, id: strawberry.ID) -> i.InboxPayload:
    actor = await info.context.actor()
    pk = decode_id(id, "Inbox")

    async def work(session) -> i.InboxPayload:
        inbox = await bots.set_inbox_bot(session, actor, pk, None, info.context.meta)
        return i.InboxPayload(inbox=t.Inbox.from_row(inbox), errors=[])

    return await mutate(info, _errors, work, lambda e: i.InboxPayload(inbox=None, errors=e))


async def inbox_members_set(info: Ctx, id: strawberry.ID, user_ids: list[strawberry.ID]) -> i.InboxPayload:
    actor = await info.context.actor()
    pk = decode_id(id, "Inbox")
    users = [decode_id(u, "User") for u in user_ids]

    async def work(session) -> i.InboxPayload:
        inbox = await inboxes.set_inbox_members(session, actor, pk, users, info.context.meta)
        return i.InboxPayload(inbox=t.Inbox.from_row(inbox), errors=[])

    return await mutate(info, _errors, work, lambda e: i.InboxPayload(inbox=None, errors=e))


# --- contacts ------------------------------------------------------------------------------------------


async def contacts_list(
    info: Ctx,
    first: int | None = 25,
    after: str | None = None,
    search: str | None = None,
    label: str | None = None,
    conditions: Annotated[
        list[i.FilterConditionInput] | None,
        strawberry.argument(
            description="Filter conditions on contacts (at most 20; standard attributes name, email, phone_number, "
            "identifier, country_code, city, company_name, created_at, last_activity_at, blocked, labels, or a "
            "contact custom attribute's key), ANDed with `search` and `label`."
        ),
    ] = None,
) -> Connection[t.Contact]:
    actor = await info.context.actor()
    limit = page_size(first)
    if search is not None and not 1 <= len(search.strip()) <= 200:
        raise BadUserInput("Search with 1 to 200 characters", field="search")
    async with info.context.db() as session:
        where = await filter_conditions(session, actor, AttributeModel.CONTACT, conditions, "conditions")
        rows = await repo.contacts_page(
            session,
            actor.account_id,
            search=search and search.strip(),
            after_id=decode_int_cursor(after),
            limit=limit + 1,
            label_title=label.strip().lower() if label is not None else None,  # titles are stored lower-case
            where=where,
        )
    return build_connection(rows, limit, t.Contact.from_row, lambda r: r.id, after is not None)


def _bulk_ids(ids: list[strawberry.ID] | None, filter: v.ContactsFilterInput | None) -> list[int] | None:
    """The contact ids of a bulk call, or None for "what the filter matches"; exactly one of them."""
    if (ids is None) == (filter is None):
        raise ValidationError.single("ids", "REQUIRED", "Give either `ids` or `filter`.")
    if ids is None:
        return None
    out = []
    for raw in ids:
        try:
            out.append(decode_id(raw, "Contact"))
        except NotFound:
            raise ValidationError.single("ids", "NOT_FOUND", "No such contact.") from None
    return out


async def _bulk_targets(session, actor, ids: list[int] | None, filter: v.ContactsFilterInput | None) -> list[int]:
    if ids is not None or filter is None:
        return await contacts.bulk_targets(session, actor, ids=ids)
    search = filter.search.strip() if filter.search is not None else None
    if search is not None and not 1 <= len(search) <= 200:
        raise ValidationError.single("filter.search", "INVALID", "Search with 1 to 200 characters.")
    where = await compile_conditions(session, actor, AttributeModel.CONTACT, filter.conditions, "filter.conditions")
    label = filter.label.strip().lower() if filter.label is not None else None
    return await contacts.bulk_targets(session, actor, ids=None, where=where, search=search, label_title=label)


def _bulk_error(errors) -> v.ContactsBulkPayload:
    return v.ContactsBulkPayload(matched=0, changed=0, errors=errors)


async def contacts_bulk_labels(
    info: Ctx,
    ids: list[strawberry.ID] | None = None,
    filter: v.ContactsFilterInput | None = None,
    labels_add: list[str] | None = None,
    labels_remove: list[str] | None = None,
) -> v.ContactsBulkPayload:
    actor = await info.context.actor()

    async def work(session) -> v.ContactsBulkPayload:
        targets = await _bulk_targets(session, actor, _bulk_ids(ids, filter), filter)
        changed = await contacts.bulk_labels(session, actor, targets, add=labels_add or [], remove=labels_remove or [])
        return v.ContactsBulkPayload(matched=len(targets), changed=changed, errors=[])

    return await mutate(info, _errors, work, _bulk_error)


async def contacts_bulk_delete(
    info: Ctx, ids: list[strawberry.ID] | None = None, filter: v.ContactsFilterInput | None = None
) -> v.ContactsBulkPayload:
    actor = await info.context.actor()

    async def work(session) -> v.ContactsBulkPayload:
        targets = await _bulk_targets(session, actor, _bulk_ids(ids, filter), filter)
        deleted = await contacts.bulk_delete(session, actor, targets, info.context.meta)
        return v.ContactsBulkPayload(matched=len(targets), changed=deleted, errors=[])

    return await mutate(info, _errors, work, _bulk_error)


async def contact(info: Ctx, id: strawberry.ID) -> t.Contact:
    actor = await info.context.actor()
    async with info.context.db() as session:
        row = await repo.contact_in_account(session, actor.account_id, decode_id(id, "Contact"))
    if row is None:
        raise NotFound("No such contact")
    return t.Contact.from_row(row)


def _contact_data(value: i.ContactCreateInput | i.ContactUpdateInput) -> dict[str, Any]:
    data = {
        "name": value.name,
        "email": value.email,
        "phone_number": value.phone_number,
        "identifier": value.identifier,
        "contact_type": ContactType(value.contact_type) if value.contact_type else None,
        "additional_attributes": value.additional_attributes,
        "custom_attributes": value.custom_attributes,
    }
    if isinstance(value, i.ContactUpdateInput):
        data["blocked"] = value.blocked
    for key in ("additional_attributes", "custom_attributes"):
        if data[key] is not None and not isinstance(data[key], dict):
            raise ValidationError.single(camel_case(key), "INVALID", "Give an object.")
    return data


async def contact_create(info: Ctx, input: i.ContactCreateInput) -> i.ContactPayload:
    actor = await info.context.actor()

    async def work(session) -> i.ContactPayload:
        row = await contacts.create_contact(session, actor, _contact_data(input))
        return i.ContactPayload(contact=t.Contact.from_row(row), errors=[])

    async def replay(session, saved) -> i.ContactPayload:
        row = await _own_row(session, ContactRow, saved.get("contact"), actor.account_id)
        return i.ContactPayload(contact=t.Contact.from_row(row) if row else None, errors=[])

    keyed = Keyed("contactCreate", {"input": input}, lambda p: {"contact": p.contact.pk if p.contact else None}, replay)
    return await mutate(info, _errors, work, lambda e: i.ContactPayload(contact=None, errors=e), keyed)


async def contact_update(info: Ctx, id: strawberry.ID, input: i.ContactUpdateInput) -> i.ContactPayload:
    actor = await info.context.actor()
    pk = decode_id(id, "Contact")

    async def work(session) -> i.ContactPayload:
        row = await contacts.update_contact(session, actor, pk, _contact_data(input))
        return i.ContactPayload(contact=t.Contact.from_row(row), errors=[])

    return await mutate(info, _errors, work, lambda e: i.ContactPayload(contact=None, errors=e))


async def contact_delete(info: Ctx, id: strawberry.ID) -> i.ContactPayload:
    actor = await info.context.actor()
    pk = decode_id(id, "Contact")

    async def work(session) -> i.ContactPayload:
        row = await contacts.delete_contact(session, actor, pk, info.context.meta)
        return i.ContactPayload(contact=t.Contact.from_row(row), errors=[])

    return await mutate(info, _errors, work, lambda e: i.ContactPayload(contact=None, errors=e))


async def contact_merge(
    info: Ctx, base_contact_id: strawberry.ID, mergee_contact_id: strawberry.ID
) -> i.ContactPayload:
    actor = await info.context.actor()
    base, mergee = decode_id(base_contact_id, "Contact"), decode_id(mergee_contact_id, "Contact")

    async def work(session) -> i.ContactPayload:
        row = await contacts.merge_contacts(session, actor, base, mergee)
        return i.ContactPayload(contact=t.Contact.from_row(row), errors=[])

    return await mutate(info, _errors, work, lambda e: i.ContactPayload(contact=None, errors=e))


async def contact_note_create(info: Ctx, contact_id: strawberry.ID, content: str) -> i.ContactNotePayload:
    actor = await info.context.actor()
    pk = decode_id(contact_id, "Contact")

    async def work(session) -> i.ContactNotePayload:
        note = await contacts.add_note(session, actor, pk, content)
        return i.ContactNotePayload(note=t.ContactNote.from_row(note), errors=[])

    return await mutate(info, _errors, work, lambda e: i.ContactNotePayload(note=None, errors=e))


async def contact_note_update(info: Ctx, id: strawberry.ID, content: str) -> i.ContactNotePayload:
    actor = await info.context.actor()
    pk = decode_id(id, "ContactNote")

    async def work(session) -> i.ContactNotePayload:
        note = await contacts.update_note(session, actor, pk, content)
        return i.ContactNotePayload(note=t.ContactNote.from_row(note), errors=[])

    return await mutate(info, _errors, work, lambda e: i.ContactNotePayload(note=None, errors=e))


async def contact_note_delete(info: Ctx, id: strawberry.ID) -> i.ContactNotePayload:
    actor = await info.context.actor()
    pk = decode_id(id, "ContactNote")

    async def work(session) -> i.ContactNotePayload:
        note = await contacts.delete_note(session, actor, pk)
        return i.ContactNotePayload(note=t.ContactNote.from_row(note), errors=[])

    return await mutate(info, _errors, work, lambda e: i.ContactNotePayload(note=None, errors=e))


async def contact_labels_update(info: Ctx, id: strawberry.ID, input: i.ConversationLabelsInput) -> i.ContactPayload:
    actor = await info.context.actor()
    pk = decode_id(id, "Contact")

    async def work(session) -> i.ContactPayload:
        row = await contacts.update_labels(
            session, actor, pk, add=input.add, remove=input.remove, replace=input.replace
        )
        return i.ContactPayload(contact=t.Contact.from_row(row), errors=[])

    return await mutate(info, _errors, work, lambda e: i.ContactPayload(contact=None, errors=e))


# --- conversations ---------------------------------------------------------------------------------------


def conversation_filter(f: i.ConversationFilterInput | None) -> repo.ConversationFilter:
    """The repository's filter for a `ConversationFilterInput` (typed errors for bad input)."""
    if f is None:
        return repo.ConversationFilter()
    out = repo.ConversationFilter(
        status=ConversationStatus(f.status) if f.status else None,
        inbox_id=decode_optional(f.inbox_id, "Inbox"),
        assignee_id=decode_optional(f.assignee_id, "User"),
        team_id=decode_optional(f.team_id, "Team"),
        priority=Priority(f.priority).value if f.priority else None,
        contact_id=decode_optional(f.contact_id, "Contact"),
        sla_status=SlaStatus(f.sla_status).value if f.sla_status else None,
        sla_policy_id=decode_optional(f.sla_policy_id, "SlaPolicy"),
    )
    if f.assignee is not None:
        if f.assignee not in ("me", "unassigned", "assigned"):
            raise BadUserInput("assignee is `me`, `unassigned` or `assigned`", field="filter.assignee")
        out.assignee = f.assignee
    if f.search is not None:
        if not 1 <= len(f.search.strip()) <= 200:
            raise BadUserInput("Search with 1 to 200 characters", field="filter.search")
        out.search = f.search.strip()
    if f.label is not None:
        out.label_title = f.label.strip().lower()  # titles are stored lower-case (labels_by_titles)
    if f.tab is not None:
        out.tab = ConversationTab(f.tab).value
    return out


def _reference(value: str, type_name: str) -> int | None:
    try:
        return decode_id(value, type_name)
    except NotFound:
        return None


async def compile_conditions(
    session, actor, model: AttributeModel, conditions: list[i.FilterConditionInput] | None, path: str
):
    """The compiled predicate of filter conditions, or None; the domain's ValidationError (every bad
    condition, each naming its field) for a mutation's payload."""
    if not conditions:
        return None
    definitions = await catalog_repo.attribute_definitions(session, actor.require_account_id(), model)
    compiler = FilterCompiler(
        model,
        definitions,
        account_id=actor.require_account_id(),
        decode_reference=_reference,
        dialect=dialect_name(session),
        path=path,
    )
    return compiler.compile(
        [Condition(c.attribute_key, c.filter_operator, list(c.values), c.query_operator) for c in conditions]
    )


async def filter_conditions(
    session, actor, model: AttributeModel, conditions: list[i.FilterConditionInput] | None, path: str
):
    """The compiled predicate of filter conditions, or None; a bad condition is a BAD_USER_INPUT
    error whose `field` names it (`filter.conditions.2.values`) and whose `errors` lists them all."""
    try:
        return await compile_conditions(session, actor, model, conditions, path)
    except ValidationError as exc:
        first = exc.errors[0]
        raise BadUserInput(
            first.message,
            field=first.field,
            reason=first.code,
            errors=[{"field": e.field, "code": e.code, "message": e.message} for e in exc.errors],
        ) from None


async def conversation_where(
    session, actor, filter: i.ConversationFilterInput | None, f: repo.ConversationFilter
) -> None:
    """Completes `f` with the compiled conditions of `filter` and of its saved view, ANDed (the
    view's tab applies unless the filter names one); a view the caller may not see is NOT_FOUND."""
    if filter is None:
        return
    where = await filter_conditions(session, actor, AttributeModel.CONVERSATION, filter.conditions, "filter.conditions")
    if filter.view_id is not None:
        view = await saved_views.view_to_apply(
            session, actor, decode_id(filter.view_id, "SavedView"), SavedViewKind.CONVERSATION
        )
        conditions: Any = saved_views.conditions_of(view)
        in_view = await filter_conditions(
            session, actor, AttributeModel.CONVERSATION, conditions, "filter.viewId.conditions"
        )
        where = in_view if where is None else where if in_view is None else and_(in_view, where)
        tab = saved_views.tab_of(view)
        if filter.tab is None and tab is not None:
            f.tab = ConversationTab(tab).value
    f.where = where


@dataclass
class ConversationPage:
    """What a `conversations` call asks for, checked: the stock resolver and the compiled read path
    (resolvers/fast_reads.py) both start from it."""

    filter: repo.ConversationFilter
    sort: str
    after: tuple[str, int] | None
    limit: int
    had_after: bool


def conversation_page(
    filter: i.ConversationFilterInput | None = None,
    sort: t.ConversationSort = t.ConversationSort.LAST_ACTIVITY,
    first: int | None = 25,
    after: str | None = None,
) -> ConversationPage:
    limit = page_size(first)
    sort_name = t.ConversationSort(sort).value
    f = conversation_filter(filter)
    cursor = None
    if after is not None:
        raw = decode_cursor(after)
        value, _, last_id = raw.rpartition("|")
        if not (last_id.isascii() and last_id.isdigit()) or len(last_id) > 18:
            raise BadUserInput("Invalid cursor", field="after")
        cursor = (value, int(last_id))
        try:
            if sort_name == "PRIORITY" and not (value.isascii() and value.lstrip("-").isdigit() and len(value) <= 18):
                raise ValueError(value)
            int(value) if sort_name == "PRIORITY" else datetime.fromisoformat(value)
        except ValueError:
            raise BadUserInput("Invalid cursor", field="after") from None
    return ConversationPage(f, sort_name, cursor, limit, after is not None)


async def conversations_list(
    info: Ctx,
    filter: i.ConversationFilterInput | None = None,
    sort: t.ConversationSort = t.ConversationSort.LAST_ACTIVITY,
    first: int | None = 25,
    after: str | None = None,
) -> Connection[t.Conversation]:
    actor = await info.context.actor()
    page = conversation_page(filter, sort, first, after)

    def key(row) -> str:
        return f"{repo.sort_key_value(page.sort, row)}|{row.id}"

    async with info.context.db() as session:
        await conversation_where(session, actor, filter, page.filter)
        rows = await repo.conversations_page(
            session, actor, page.filter, sort=page.sort, after=page.after, limit=page.limit + 1
        )
    return build_connection(rows, page.limit, t.Conversation.from_row, key, page.had_after)


def conversation_lookup(id: strawberry.ID | None = None, display_id: int | None = None) -> dict[str, int]:
    """The key a `conversation` call names (typed errors for a bad or missing one)."""
    if id is not None:
        return {"conversation_id": decode_id(id, "Conversation")}
    if display_id is not None:
        return {"display_id": display_id}
    raise BadUserInput("Give `id` or `displayId`")


async def conversation(info: Ctx, id: strawberry.ID | None = None, display_id: int | None = None) -> t.Conversation:
    actor = await info.context.actor()
    async with info.context.db() as session:
        row = await session.scalar(repo.conversation_select(actor, **conversation_lookup(id, display_id)))
    if row is None:
        raise NotFound("No such conversation")
    return t.Conversation.from_row(row)


async def conversation_counts(info: Ctx, filter: i.ConversationFilterInput | None = None) -> t.ConversationCounts:
    actor = await info.context.actor()
    f = conversation_filter(filter)
    async with info.context.db() as session:
        await conversation_where(session, actor, filter, f)
        counts = await repo.conversation_counts(session, actor, f)
    return t.ConversationCounts(**counts)


def _conversation_payload(row) -> i.ConversationPayload:
    return i.ConversationPayload(conversation=t.Conversation.from_row(row), errors=[])


def _conversation_error(errors) -> i.ConversationPayload:
    return i.ConversationPayload(conversation=None, errors=errors)


async def conversation_create(info: Ctx, input: i.ConversationCreateInput) -> i.ConversationPayload:
    actor = await info.context.actor()
    inbox_pk, contact_pk = decode_id(input.inbox_id, "Inbox"), decode_id(input.contact_id, "Contact")
    assignee_pk = decode_optional(input.assignee_id, "User")

    async def work(session) -> i.ConversationPayload:
        row = await opening.create_conversation(
            session, actor, inbox_id=inbox_pk, contact_id=contact_pk, content=input.message, assignee_id=assignee_pk
        )
        return _conversation_payload(row)

    async def replay(session, saved) -> i.ConversationPayload:
        row = await _own_row(session, ConversationRow, saved.get("conversation"), actor.account_id)
        return _conversation_payload(row) if row else i.ConversationPayload(conversation=None, errors=[])

    keyed = Keyed(
        "conversationCreate",
        {"input": input},
        lambda p: {"conversation": p.conversation.pk if p.conversation else None},
        replay,
    )
    return await mutate(info, _errors, work, _conversation_error, keyed)


async def message_create(info: Ctx, input: i.MessageCreateInput) -> i.MessagePayload:
    actor = await info.context.actor()
    conversation_pk = decode_id(input.conversation_id, "Conversation")
    reply_pk = decode_optional(input.in_reply_to, "Message")
    attachment_pks = decode_attachment_ids(input.attachment_ids)

    async def work(session) -> i.MessagePayload:
        row = await conversations.create_message(
            session,
            actor,
            conversation_pk,
            content=input.content,
            private=input.private,
            message_type=MessageType(input.message_type),
            in_reply_to=reply_pk,
            attachment_ids=attachment_pks,
            attachment_config=attachment_config(info) if attachment_pks else None,
        )
        return i.MessagePayload(message=t.Message.from_row(row), errors=[])

    async def replay(session, saved) -> i.MessagePayload:
        row = await _own_row(session, MessageRow, saved.get("message"), actor.account_id)
        return i.MessagePayload(message=t.Message.from_row(row) if row else None, errors=[])

    keyed = Keyed("messageCreate", {"input": input}, lambda p: {"message": p.message.pk if p.message else None}, replay)
    return await mutate(info, _errors, work, lambda e: i.MessagePayload(message=None, errors=e), keyed)


async def message_update(info: Ctx, id: strawberry.ID, content: str) -> i.MessagePayload:
    actor = await info.context.actor()
    pk = decode_id(id, "Message")

    async def work(session) -> i.MessagePayload:
        row = await conversations.edit_message(session, actor, pk, content)
        return i.MessagePayload(message=t.Message.from_row(row), errors=[])

    return await mutate(info, _errors, work, lambda e: i.MessagePayload(message=None, errors=e))


async def message_delete(info: Ctx, id: strawberry.ID) -> i.MessagePayload:
    actor = await info.context.actor()
    pk = decode_id(id, "Message")

    async def work(session) -> i.MessagePayload:
        row = await conversations.delete_message(session, actor, pk)
        return i.MessagePayload(message=t.Message.from_row(row), errors=[])

    return await mutate(info, _errors, work, lambda e: i.MessagePayload(message=None, errors=e))


async def conversation_assign(info: Ctx, id: strawberry.ID, input: i.ConversationAssignInput) -> i.ConversationPayload:
    actor = await info.context.actor()
    pk = decode_id(id, "Conversation")
    set_assignee, set_team = not _unset(input.assignee_id), not _unset(input.team_id)
    assignee_pk = decode_optional(input.assignee_id, "User") if set_assignee else None
    team_pk = decode_optional(input.team_id, "Team") if set_team else None

    async def work(session) -> i.ConversationPayload:
        row = await conversations.assign(
            session, actor, pk, assignee_id=assignee_pk, set_assignee=set_assignee, team_id=team_pk, set_team=set_team
        )
        return _conversation_payload(row)

    return await mutate(info, _errors, work, _conversation_error)


async def conversation_status_update(
    info: Ctx, id: strawberry.ID, input: i.ConversationStatusInput
) -> i.ConversationPayload:
    actor = await info.context.actor()
    pk = decode_id(id, "Conversation")

    async def work(session) -> i.ConversationPayload:
        row = await conversations.set_status(session, actor, pk, ConversationStatus(input.status), input.snoozed_until)
        return _conversation_payload(row)

    return await mutate(info, _errors, work, _conversation_error)


async def conversation_handoff(info: Ctx, id: strawberry.ID) -> i.ConversationPayload:
    actor = await info.context.actor()
    pk = decode_id(id, "Conversation")

    async def work(session) -> i.ConversationPayload:
        return _conversation_payload(await conversations.handoff(session, actor, pk))

    return await mutate(info, _errors, work, _conversation_error)


async def conversation_priority_update(
    info: Ctx, id: strawberry.ID, priority: t.PriorityEnum | None = None
) -> i.ConversationPayload:
    actor = await info.context.actor()
    pk = decode_id(id, "Conversation")

    async def work(session) -> i.ConversationPayload:
        row = await conversations.set_priority(session, actor, pk, Priority(priority) if priority else None)
        return _conversation_payload(row)

    return await mutate(info, _errors, work, _conversation_error)


async def conversation_labels_update(
    info: Ctx, id: strawberry.ID, input: i.ConversationLabelsInput
) -> i.ConversationPayload:
    actor = await info.context.actor()
    pk = decode_id(id, "Conversation")

    async def work(session) -> i.ConversationPayload:
        row = await conversations.update_labels(
            session, actor, pk, add=input.add, remove=input.remove, replace=input.replace
        )
        return _conversation_payload(row)

    return await mutate(info, _errors, work, _conversation_error)


async def conversation_custom_attributes_update(
    info: Ctx, id: strawberry.ID, values: strawberry.scalars.JSON
) -> i.ConversationPayload:
    actor = await info.context.actor()
    pk = decode_id(id, "Conversation")
    if not isinstance(values, dict):
        raise BadUserInput("values must be an object", field="values")

    async def work(session) -> i.ConversationPayload:
        return _conversation_payload(await conversations.update_custom_attributes(session, actor, pk, values))

    return await mutate(info, _errors, work, _conversation_error)


async def conversation_merge(info: Ctx, keep_id: strawberry.ID, merge_id: strawberry.ID) -> i.ConversationPayload:
    actor = await info.context.actor()
    keep, merged = decode_id(keep_id, "Conversation"), decode_id(merge_id, "Conversation")

    async def work(session) -> i.ConversationPayload:
        return _conversation_payload(await conversations.merge(session, actor, keep, merged))

    return await mutate(info, _errors, work, _conversation_error)


async def conversation_mark_read(info: Ctx, id: strawberry.ID) -> i.ConversationPayload:
    actor = await info.context.actor()
    pk = decode_id(id, "Conversation")

    async def work(session) -> i.ConversationPayload:
        return _conversation_payload(await conversations.mark_read(session, actor, pk))

    return await mutate(info, _errors, work, _conversation_error)


async def conversation_mute(info: Ctx, id: strawberry.ID, muted: bool = True) -> i.ConversationPayload:
    actor = await info.context.actor()
    pk = decode_id(id, "Conversation")

    async def work(session) -> i.ConversationPayload:
        return _conversation_payload(await conversations.mute(session, actor, pk, muted))

    return await mutate(info, _errors, work, _conversation_error)


TRANSCRIPTS_PER_USER_PER_MINUTE = 10


async def conversation_transcript_send(
    info: Ctx,
    conversation_id: Annotated[strawberry.ID, strawberry.argument(description="The conversation.")],
    email: Annotated[str, strawberry.argument(description="Where to send its transcript.")],
) -> i.ConversationPayload:
    actor = await info.context.actor()
    pk = decode_id(conversation_id, "Conversation")
    limiter = info.context.services.rate_limiter
    if limiter is not None:
        decision = await limiter.hit(f"transcript:user:{actor.user_id or actor.label}", TRANSCRIPTS_PER_USER_PER_MINUTE)
        if not decision.allowed:
            raise RateLimited("Too many transcripts; try again later", retryAfter=decision.retry_after_seconds)

    async def work(session) -> i.ConversationPayload:
        return _conversation_payload(await transcript.send_transcript(session, actor, pk, email, info.context.meta))

    return await mutate(info, _errors, work, _conversation_error)


async def conversation_bulk_update(info: Ctx, input: i.ConversationBulkInput) -> i.ConversationBulkPayload:
    actor = await info.context.actor()
    if len(input.ids) > conversations.MAX_BULK:
        return i.ConversationBulkPayload(
            conversations=[],
            errors=[
                HelpdeskError(
                    field="ids",
                    code=HelpdeskErrorCode.TOO_MANY,
                    message=f"At most {conversations.MAX_BULK} conversations.",
                )
            ],
        )
    ids = [decode_id(x, "Conversation") for x in input.ids]
    set_assignee = not _unset(input.assignee_id)
    assignee_pk = decode_optional(input.assignee_id, "User") if set_assignee else None
    status = ConversationStatus(input.status) if input.status else None
    if status == ConversationStatus.SNOOZED:
        return i.ConversationBulkPayload(
            conversations=[],
            errors=[
                HelpdeskError(
                    field="status", code=HelpdeskErrorCode.INVALID, message="Snooze conversations one at a time."
                )
            ],
        )

    async def work(session) -> i.ConversationBulkPayload:
        rows = await conversations.bulk(
            session,
            actor,
            ids,
            status=status,
            assignee_id=assignee_pk,
            set_assignee=set_assignee,
            add_labels=input.add_labels,
        )
        return i.ConversationBulkPayload(conversations=[t.Conversation.from_row(r) for r in rows], errors=[])

    return await mutate(info, _errors, work, lambda e: i.ConversationBulkPayload(conversations=[], errors=e))


async def conversations_bulk_update(
    info: Ctx,
    filter: i.ConversationFilterInput,
    status: t.ConversationStatusEnum | None = None,
    assignee_id: strawberry.ID | None = strawberry.UNSET,
    priority: t.PriorityEnum | None = strawberry.UNSET,
    labels_add: list[str] | None = None,
) -> ConversationsBulkPayload:
    actor = await info.context.actor()
    f = conversation_filter(filter)
    change = conversations.BulkChange(
        status=ConversationStatus(status) if status else None,
        assignee_id=decode_optional(assignee_id, "User") if not _unset(assignee_id) else None,
        set_assignee=not _unset(assignee_id),
        priority=Priority(priority) if priority and not _unset(priority) else None,
        set_priority=not _unset(priority),
        add_labels=tuple(labels_add or ()),
    )

    async def work(session) -> ConversationsBulkPayload:
        await conversation_where(session, actor, filter, f)
        matched, changed = await conversations.bulk_matching(session, actor, f, change)
        return ConversationsBulkPayload(matched=matched, changed=changed, errors=[])

    return await mutate(info, _errors, work, lambda e: ConversationsBulkPayload(matched=0, changed=0, errors=e))


# --- search ----------------------------------------------------------------------------------------

SEARCH_PAGE = 25


def search_page(query: str, first: int | None = 10, after: str | None = None) -> tuple[str, int, int]:
    """(term, first, offset) of a `search` call, checked (typed errors); the stock resolver and the
    compiled read path (resolvers/fast_reads.py) both start from it."""
    term = query.strip()
    if not 1 <= len(term) <= 200:
        raise BadUserInput("Search with 1 to 200 characters", field="query")
    if first is None or not 0 <= first <= SEARCH_PAGE:
        raise BadUserInput(f"`first` must be between 0 and {SEARCH_PAGE}", field="first")
    offset = decode_int_cursor(after) or 0
    if offset > 10_000:
        raise BadUserInput("Search pages end after 10,000 results", field="after")
    return term, first, offset


async def search(info: Ctx, query: str, first: int | None = 10, after: str | None = None) -> t.SearchResults:
    actor = await info.context.actor()
    term, first, offset = search_page(query, first, after)
    async with info.context.db() as session:
        found_conversations = await search_repo.conversations(session, actor, term, offset=offset, limit=first + 1)
        found_messages = await search_repo.messages(session, actor, term, offset=offset, limit=first + 1)
        found_contacts = await search_repo.contacts(session, actor.account_id, term, offset=offset, limit=first + 1)
    more = any(len(rows) > first for rows in (found_conversations, found_messages, found_contacts))
    return t.SearchResults(
        conversations=[t.Conversation.from_row(r) for r in found_conversations[:first]],
        messages=[
            t.MessageHit(
                message=t.Message.from_row(h.message),
                conversation=t.Conversation.from_row(h.conversation),
                snippet=h.snippet,
            )
            for h in found_messages[:first]
        ],
        contacts=[t.Contact.from_row(r) for r in found_contacts[:first]],
        end_cursor=encode_cursor(offset + first) if more else None,
        has_next_page=more,
    )
