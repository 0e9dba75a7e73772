"""Resolvers of the website widget's public API: contact sessions, the visitor's conversations and
messages, typing, CSAT, and the `widgetEvents` stream over the event log."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import strawberry
from strawberry.types import Info

from db.base import utcnow
from db.models import Event
from db.repositories import helpdesk as helpdesk_repo
from db.repositories import widget as repo
from domain import realtime
from domain.accounts.policy import Rule, require
from domain.errors import Forbidden, RateLimited, ValidationError
from domain.events.channels import contact_channel, conversation_channel
from domain.events.enums import LiveType, Stream, shown_in
from domain.widget import config as widget_inbox
from domain.widget import conversations as visitor_conversations
from domain.widget import sessions as contact_sessions
from infra.logs import get_logger
from resolvers.attachments import config as attachments_config
from resolvers.context import Context
from resolvers.hub import FeedKind
from resolvers.mutations import Keyed, keyed_transaction
from resolvers.realtime import PAGE, Delivery, _stream, account_statuses, decode_cursor
from schema.attachments.errors import AttachmentError, AttachmentErrorCode
from schema.attachments.inputs import AttachmentUploadCreateInput
from schema.attachments.types import (
    Attachment,
    AttachmentUploadCreatePayload,
    PresignedUpload,
    UploadParameter,
)
from schema.core.errors import PayloadErrors
from schema.core.ids import decode_id
from schema.core.pagination import Connection, Edge, PageInfo, decode_int_cursor, encode_cursor, page_size
from schema.widget import inputs as i
from schema.widget import types as t
from schema.widget.errors import WidgetError, WidgetErrorCode

log = get_logger("parley.widget")
Ctx = Info[Context, None]
EVENT_TYPES = tuple(sorted(shown_in(Stream.CONTACT)))


_errors = PayloadErrors(WidgetError, WidgetErrorCode)
_attachment_errors = PayloadErrors(AttachmentError, AttachmentErrorCode)


async def _session(info: Ctx) -> contact_sessions.ContactActor:
    actor = await info.context.actor()
    require(actor, Rule.widget)
    return contact_sessions.require_session(actor)


def _ip(ctx: Context) -> str:
    return ctx.meta.ip or "unknown"


async def _limit(ctx: Context, checks: list[tuple[str, int]]) -> None:
    """Refuse (RATE_LIMITED) when any of the (key, per minute) buckets is spent; 0 turns one off."""
    limiter = ctx.services.rate_limiter
    if limiter is None:
        return
    for key, per_minute in checks:
        if per_minute <= 0:
            continue
        # Never fails open: when Redis does not answer, the limiter counts in this process.
        decision = await limiter.hit("widget:" + key, per_minute)
        if not decision.allowed:
            raise RateLimited(
                "Too many requests from this visitor; try again later", retryAfter=decision.retry_after_seconds
            )


def _check_origin(ctx: Context, inbox) -> None:
    origin = ctx.widget_origin()
    if origin is not None and not widget_inbox.origin_allowed(widget_inbox.allowed_domains(inbox), origin):
        raise Forbidden("This site may not use this widget")


def _contact(contact, verified: bool) -> t.WidgetContact:
    return t.WidgetContact(name=contact.name or "", email=contact_sessions.shown_email(contact), verified=verified)


# --- sessions and configuration -----------------------------------------------------------------------


async def widget_session_start(info: Ctx, input: i.WidgetSessionStartInput) -> t.WidgetSessionStartPayload:
    ctx = info.context
    settings = ctx.settings
    await _limit(ctx, [(f"session:ip:{_ip(ctx)}", settings.widget_sessions_per_ip_per_minute)])
    try:
        async with ctx.transaction() as session:
            inbox = await contact_sessions.inbox_for_website_token(session, input.website_token)
            _check_origin(ctx, inbox)
            started = await contact_sessions.start_session(
                session,
                secret_key=settings.secret_key,
                app_settings=settings,
                ttl=timedelta(days=settings.widget_session_days),
                website_token=input.website_token,
                session_token=input.session_token,
                identifier=input.identifier,
                identifier_hash_=input.identifier_hash,
                name=input.name,
                email=input.email,
            )
            contact = _contact(started.contact, started.contact_inbox.hmac_verified)
    except ValidationError as exc:
        return t.WidgetSessionStartPayload(token=None, contact=None, errors=_errors(exc))
    return t.WidgetSessionStartPayload(token=started.token, contact=contact, errors=[])


async def widget_config(info: Ctx, website_token: str) -> t.WidgetConfig:
    ctx = info.context
    async with ctx.db() as session:
        try:
            inbox = await contact_sessions.inbox_for_website_token(session, website_token)
        except ValidationError:
            from domain.errors import NotFound

            raise NotFound("No website widget has this token") from None
        _check_origin(ctx, inbox)
        members = set(await helpdesk_repo.inbox_member_ids(session, inbox.id))
        config = widget_inbox.public_config(inbox)
        account_id = inbox.account_id
    statuses = await account_statuses(ctx, account_id)
    online = any(statuses.get(u) == "online" for u in members)
    return t.WidgetConfig(**config, agents_online=online)


async def widget_contact(info: Ctx) -> t.WidgetContact:
    actor = await _session(info)
    async with info.context.db() as session:
        contact = await contact_sessions.contact_of(session, actor)
    return _contact(contact, actor.verified)


async def widget_contact_update(info: Ctx, input: i.WidgetContactUpdateInput) -> t.WidgetContactUpdatePayload:
    actor = await _session(info)
    try:
        async with info.context.transaction() as session:
            contact = await contact_sessions.update_contact(session, actor, input.name, input.email)
            out = _contact(contact, actor.verified)
    except ValidationError as exc:
        return t.WidgetContactUpdatePayload(contact=None, errors=_errors(exc))
    return t.WidgetContactUpdatePayload(contact=out, errors=[])


# --- conversations and messages -----------------------------------------------------------------------


async def _conversation_views(session, rows) -> list[t.WidgetConversation]:
    csat = await visitor_conversations.csat_of(session, [r.id for r in rows])
    return [t.WidgetConversation.from_row(r, csat[r.id].rating if r.id in csat else None) for r in rows]


async def widget_conversations(info: Ctx) -> list[t.WidgetConversation]:
    actor = await _session(info)
    async with info.context.db() as session:
        rows = await repo.conversations(session, actor)
        return await _conversation_views(session, rows)


def _conversation_pk(value: str | None, field_name: str = "conversationId") -> int | None:
    if value is None:
        return None
    try:
        return decode_id(str(value), "Conversation")
    except Exception:  # noqa: BLE001 - garbage is simply not found
        raise ValidationError.single(field_name, "NOT_FOUND", "No such conversation.") from None


async def widget_messages(
    info: Ctx,
    conversation_id: strawberry.ID,
    first: int | None = None,
    after: str | None = None,
    before: str | None = None,
) -> Connection[t.WidgetMessage]:
    actor = await _session(info)
    limit = page_size(first)
    after_id, before_id = decode_int_cursor(after), decode_int_cursor(before)
    try:
        conversation_pk = decode_id(str(conversation_id), "Conversation")
    except Exception:  # noqa: BLE001
        conversation_pk = 0
    async with info.context.db() as session:
        rows = await repo.messages(session, actor, conversation_pk, before=before_id, after=after_id, limit=limit + 1)
        names = await repo.sender_names(session, rows)
    if after_id is not None:
        more_after, more_before = len(rows) > limit, True
        rows = rows[:limit]
    else:
        more_after, more_before = False, len(rows) > limit
        rows = rows[-limit:] if limit else []
    edges = [Edge(cursor=encode_cursor(r.id), node=t.WidgetMessage.from_row(r, names)) for r in rows]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=more_after,
            has_previous_page=more_before,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )


async def widget_message_create(info: Ctx, input: i.WidgetMessageCreateInput) -> t.WidgetMessageCreatePayload:
    actor = await _session(info)
    ctx = info.context
    s = ctx.settings
    ip = _ip(ctx)
    checks = [
        (f"message:ip:{ip}", s.widget_messages_per_ip_per_minute),
        (f"message:session:{actor.contact_inbox_id}", s.widget_messages_per_session_per_minute),
    ]
    if input.conversation_id is None:
        checks += [
            (f"conversation:ip:{ip}", s.widget_conversations_per_ip_per_minute),
            (f"conversation:session:{actor.contact_inbox_id}", s.widget_conversations_per_session_per_minute),
        ]
    try:
        conversation_pk = _conversation_pk(input.conversation_id)
        attachment_ids = _attachment_pks(input.attachment_ids)
        if input.content or not attachment_ids:
            visitor_conversations.check_content(input.content, s.widget_max_message_chars)

        async def work(session) -> t.WidgetMessageCreatePayload:
            await _limit(ctx, checks)  # here: a retry that replays its first result spends nothing
            conversation, message, _ = await visitor_conversations.create_message(
                session,
                actor,
                conversation_pk,
                input.content,
                max_chars=s.widget_max_message_chars,
                attachment_ids=attachment_ids,
                attachment_config=attachments_config(info) if attachment_ids else None,
            )
            return t.WidgetMessageCreatePayload(
                message=t.WidgetMessage.from_row(message, {}),
                conversation=t.WidgetConversation.from_row(conversation),
                errors=[],
            )

        return await keyed_transaction(
            info,
            work,
            Keyed(
                "widgetMessageCreate",
                {"input": input},
                lambda p: {"message": p.message.pk, "conversation": p.conversation.pk},
                lambda session, saved: _replay_widget_message(session, actor, saved),
            ),
        )
    except ValidationError as exc:
        return t.WidgetMessageCreatePayload(message=None, conversation=None, errors=_errors(exc))


async def _replay_widget_message(
    session, actor: contact_sessions.ContactActor, saved: dict
) -> t.WidgetMessageCreatePayload:
    """The result of a widgetMessageCreate this contact session sent before with the same key."""
    from db.models import Conversation, Message

    conversation = await session.get(Conversation, saved.get("conversation"))
    message = await session.get(Message, saved.get("message"))
    if (
        conversation is None
        or conversation.contact_id != actor.contact_id
        or message is None
        or message.conversation_id != conversation.id
    ):
        return t.WidgetMessageCreatePayload(message=None, conversation=None, errors=[])
    return t.WidgetMessageCreatePayload(
        message=t.WidgetMessage.from_row(message, {}),
        conversation=t.WidgetConversation.from_row(conversation),
        errors=[],
    )


def _attachment_pks(ids) -> list[int]:
    out = []
    for index, value in enumerate(ids or []):
        try:
            out.append(decode_id(str(value), "Attachment"))
        except Exception:  # noqa: BLE001
            raise ValidationError.single(f"attachmentIds.{index}", "NOT_FOUND", "No such upload.") from None
    return out


async def widget_attachment_upload_create(
    info: Ctx, input: AttachmentUploadCreateInput
) -> AttachmentUploadCreatePayload:
    """The visitor asks to upload a file (presigned, straight to storage); rate-limited like messages."""
    actor = await _session(info)
    ctx = info.context
    s = ctx.settings
    await _limit(
        ctx,
        [
            (f"upload:ip:{_ip(ctx)}", s.widget_messages_per_ip_per_minute),
            (f"upload:session:{actor.contact_inbox_id}", s.widget_messages_per_session_per_minute),
        ],
    )
    try:
        async with ctx.transaction() as session:
            row, upload = await visitor_conversations.create_upload(
                session,
                actor,
                attachments_config(info),
                file_name=input.file_name,
                content_type=input.content_type,
                byte_size=input.byte_size,
            )
    except ValidationError as exc:
        return AttachmentUploadCreatePayload(attachment=None, upload=None, errors=_attachment_errors(exc))
    return AttachmentUploadCreatePayload(
        attachment=Attachment.from_row(row),
        upload=PresignedUpload(
            url=upload.url,
            method=upload.method,
            fields=[UploadParameter(name=k, value=v) for k, v in upload.fields.items()],
            headers=[UploadParameter(name=k, value=v) for k, v in upload.headers.items()],
            expires_at=utcnow() + timedelta(seconds=upload.expires_in),
        ),
        errors=[],
    )


async def widget_typing_set(info: Ctx, input: i.WidgetTypingSetInput) -> t.WidgetTypingSetPayload:
    actor = await _session(info)
    ctx = info.context
    try:
        conversation_pk = _conversation_pk(input.conversation_id)
        async with ctx.db() as session:
            found = await repo.conversation(session, actor, conversation_pk)
        await ctx.close()
        if found is None:
            raise ValidationError.single("conversationId", "NOT_FOUND", "No such conversation.")
    except ValidationError as exc:
        return t.WidgetTypingSetPayload(accepted=False, errors=_errors(exc))
    signal = realtime.Typing(conversation_id=conversation_pk, on=input.on, private=False, contact_id=actor.contact_id)
    await ctx.broadcast.publish(conversation_channel(conversation_pk), signal.message())
    return t.WidgetTypingSetPayload(accepted=True, errors=[])


async def widget_csat_submit(info: Ctx, input: i.WidgetCsatSubmitInput) -> t.WidgetCsatSubmitPayload:
    actor = await _session(info)
    try:
        conversation_pk = _conversation_pk(input.conversation_id)
        async with info.context.transaction() as session:
            response = await visitor_conversations.submit_csat(
                session, actor, conversation_pk, input.rating, input.feedback
            )
            conversation = await repo.conversation(session, actor, conversation_pk)
            out = t.WidgetConversation.from_row(conversation, response.rating)
    except ValidationError as exc:
        return t.WidgetCsatSubmitPayload(conversation=None, errors=_errors(exc))
    return t.WidgetCsatSubmitPayload(conversation=out, errors=[])


# --- the visitor's event stream ---------------------------------------------------------------------------


@dataclass
class WidgetDelivery(Delivery):
    names: dict = field(default_factory=dict)
    csat: int | None = None


async def widget_events(info: Ctx, after: str | None) -> AsyncGenerator[Delivery, None]:
    """The session's own conversations: messages a contact may see, new conversations, status changes
    (from the event log, resumable by cursor) and agents typing replies (ephemeral)."""
    position = decode_cursor(after)
    actor = await _session(info)
    ctx = info.context
    async with ctx.db() as session:
        visible: set[int] = await repo.conversation_ids(session, actor)
    await ctx.release()

    async def read(session, last: int) -> tuple[list[Event], int, int]:
        return await repo.events_after(session, actor, last, types=EVENT_TYPES, limit=PAGE)

    async def hydrate(session, _actor: Any, events: list[Event], _shared: dict[str, Any]) -> list[Delivery]:
        conversations = await repo.conversations_by_id(session, actor, [e.conversation_id for e in events])
        visible.update(conversations)
        messages = await repo.visible_messages_by_id(session, actor, [e.message_id for e in events if e.message_id])
        names = await repo.sender_names(session, messages.values())
        csat = await visitor_conversations.csat_of(session, list(conversations))
        out: list[Delivery] = []
        for e in events:
            conversation = conversations.get(e.conversation_id)
            if conversation is None:
                continue
            message = None
            if e.type.startswith("message."):
                message = messages.get(e.message_id) if e.message_id else None
                if message is None:
                    continue  # a private note, an activity line: not the visitor's business
            out.append(
                WidgetDelivery(
                    position=e.position,
                    type=realtime.public_type(e),
                    event=e,
                    conversation=conversation,
                    message=message,
                    names=names,
                    csat=csat[conversation.id].rating if conversation.id in csat else None,
                )
            )
        return out

    def typing_signal(data: dict[str, Any], last: int) -> Delivery | None:
        if data.get(realtime.EPHEMERAL_KEY) != "typing":
            return None
        typing = realtime.Typing.from_data(data)
        if typing.private or typing.user_id is None or typing.conversation_id not in visible:
            return None
        return Delivery(position=last, type=LiveType.TYPING_ON if typing.on else LiveType.TYPING_OFF, typing=typing)

    async for delivery in _stream(
        info,
        channel=contact_channel(actor.contact_id),
        account_id=actor.widget_account_id,
        actor=actor,
        after=position,
        # Every subscriber of a contact's channel is that contact: one visibility group.
        kind=FeedKind(read=read, hydrate=hydrate, group=lambda _: "contact"),
        on_signal=typing_signal,
    ):
        yield delivery


async def agent_name(info: Ctx, user_id: int | None) -> str | None:
    if user_id is None:
        return None
    row = await info.context.loaders.user_by_id.load(user_id)
    return (row.display_name or row.name) if row is not None else None
