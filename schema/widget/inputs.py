"""Inputs of widget mutations and queries."""

from __future__ import annotations

import strawberry


@strawberry.input(description="Start (or resume) a visitor's session on a website widget.")
class WidgetSessionStartInput:
    website_token: str = strawberry.field(description="The inbox's public website token.")
    session_token: str | None = strawberry.field(
        default=None, description="A token from an earlier session on this widget."
    )
    identifier: str | None = strawberry.field(default=None, description="Your site's ID of the signed-in visitor.")
    identifier_hash: str | None = strawberry.field(
        default=None,
        description="HMAC-SHA256 (hex) of the identifier with the inbox's secret, computed by your server.",
    )
    name: str | None = strawberry.field(default=None, description="The visitor's name.")
    email: str | None = strawberry.field(default=None, description="The visitor's email.")


@strawberry.input(description="The visitor writes.")
class WidgetMessageCreateInput:
    conversation_id: strawberry.ID | None = strawberry.field(
        default=None, description="Their conversation; none starts a new one."
    )
    content: str = strawberry.field(default="", description="Text (size capped); may be empty with attachments.")
    attachment_ids: list[strawberry.ID] = strawberry.field(
        default_factory=list, description="The visitor's uploads from widgetAttachmentUploadCreate (at most 15)."
    )


@strawberry.input(description="The pre-chat form: the visitor's name and email.")
class WidgetContactUpdateInput:
    name: str | None = strawberry.field(default=None, description="Their name.")
    email: str | None = strawberry.field(default=None, description="Their email.")


@strawberry.input(description="The visitor is (or stopped) typing.")
class WidgetTypingSetInput:
    conversation_id: strawberry.ID = strawberry.field(description="Their conversation.")
    on: bool = strawberry.field(description="True while typing.")


@strawberry.input(description="Rate a resolved conversation.")
class WidgetCsatSubmitInput:
    conversation_id: strawberry.ID = strawberry.field(description="Their resolved conversation.")
    rating: int = strawberry.field(description="1 (bad) to 5 (great).")
    feedback: str = strawberry.field(default="", description="Optional words.")
