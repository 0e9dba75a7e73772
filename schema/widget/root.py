"""Root fields of the website widget's public API (`widget*`). Two are public (they take an inbox's
public website token); every other one needs a contact-session token (`Rule.widget`), which no agent
field accepts, and reads only that visitor's conversations."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from domain.accounts.policy import Rule
from resolvers import widget as r
from resolvers.realtime import encode_cursor
from schema.attachments.types import AttachmentUploadCreatePayload
from schema.core.access import field, mutation, subscription
from schema.core.pagination import Connection
from schema.widget import types as t


@strawberry.type
class WidgetQuery:
    widget_config: t.WidgetConfig = field(
        r.widget_config,
        Rule.public,
        "A website widget's public settings (colour, welcome texts, reply time, working hours, out-of-office text, "
        "whether agents are online), by the inbox's website token. From another site only one of the inbox's allowed "
        "domains (none configured: any).",
    )
    widget_contact: t.WidgetContact = field(r.widget_contact, Rule.widget, "The visitor of this contact session.")
    widget_conversations: list[t.WidgetConversation] = field(
        r.widget_conversations,
        Rule.widget,
        "The visitor's conversations in this widget, newest first (at most 100).",
    )
    widget_messages: Connection[t.WidgetMessage] = field(
        r.widget_messages,
        Rule.widget,
        "Messages of one of the visitor's conversations, oldest first: the latest page, or those `after` (newer) "
        "or `before` (older) a cursor. Never private notes or activity lines.",
    )


@strawberry.type
class WidgetMutation:
    widget_session_start: t.WidgetSessionStartPayload = mutation(
        r.widget_session_start,
        Rule.public,
        "Start a visitor's contact session on a website widget (a new anonymous contact, or the session a previous "
        "token of the same widget names). With identifier + identifierHash (HMAC-SHA256 of the identifier with the "
        "inbox's secret) the session is verified and joins the known contact. Rate-limited per IP.",
    )
    widget_message_create: t.WidgetMessageCreatePayload = mutation(
        r.widget_message_create,
        Rule.widget,
        "The visitor writes; without conversationId a new conversation starts. Size capped; rate-limited per IP and "
        "per session. A blocked visitor's conversations stay resolved.",
    )
    widget_attachment_upload_create: AttachmentUploadCreatePayload = mutation(
        r.widget_attachment_upload_create,
        Rule.widget,
        "The visitor asks to upload a file: a pending attachment and a short-lived presigned upload straight to "
        "storage; send it with widgetMessageCreate's attachmentIds. Same types and size cap as agents' uploads.",
    )
    widget_contact_update: t.WidgetContactUpdatePayload = mutation(
        r.widget_contact_update,
        Rule.widget,
        "The pre-chat form: the visitor's name and email.",
    )
    widget_typing_set: t.WidgetTypingSetPayload = mutation(
        r.widget_typing_set,
        Rule.widget,
        "Show the agents that the visitor is (or stopped) typing.",
    )
    widget_csat_submit: t.WidgetCsatSubmitPayload = mutation(
        r.widget_csat_submit,
        Rule.widget,
        "Rate a resolved conversation from 1 to 5 with optional feedback; rating again replaces the rating.",
    )


@strawberry.type
class WidgetSubscription:
    @subscription(
        Rule.widget,
        (
            "The visitor's conversations as they change: replies and their own messages (never private notes or activity "
            "lines), new conversations, status changes and agents typing. With `after`, first everything missed since "
            "that cursor, then live, with no gap and no duplicate."
        ),
    )
    async def widget_events(
        self, info: strawberry.Info, after: str | None = None
    ) -> AsyncGenerator[t.WidgetEvent, None]:
        async for d in r.widget_events(info, after):
            conversation = message = typing = None
            if d.conversation is not None:
                conversation = t.WidgetConversation.from_row(d.conversation, getattr(d, "csat", None))
            if d.message is not None:
                message = t.WidgetMessage.from_row(d.message, getattr(d, "names", {}))
            if d.typing is not None:
                typing = t.WidgetTyping(
                    pk=d.typing.conversation_id, on=d.typing.on, agent_name=await r.agent_name(info, d.typing.user_id)
                )
            yield t.WidgetEvent(
                cursor=encode_cursor(d.position),
                type=d.type,
                occurred_at=d.event.created_at if d.event is not None else None,
                conversation=conversation,
                message=message,
                typing=typing,
            )
