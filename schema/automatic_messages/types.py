"""Types of the account's automatic-message settings (auto-resolve); the inbox's greeting, out-of-office
and CSAT survey settings are fields of the inbox."""

from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.type(
    description="Auto-resolve: open conversations idle this long are resolved (Chatwoot's auto_resolve_after)."
)
class AutoResolveSettings:
    after_minutes: int | None = strawberry.field(description="Minutes of inactivity; null: never.")
    message: str = strawberry.field(
        description="Sent to the contact when a conversation is auto-resolved (empty: none)."
    )


@strawberry.input(description="Auto-resolve settings; omitted `message` stays as it is.")
class AutoResolveSettingsUpdateInput:
    after_minutes: int | None = strawberry.field(
        description="Minutes of inactivity, 10 to 1,438,560 (999 days); null turns auto-resolve off."
    )
    message: str | None = strawberry.field(
        default=None, description="Message sent on auto-resolve (at most 2,000 characters; empty: none)."
    )


@strawberry.enum(description="Why an automatic-message settings mutation was refused.")
class AutomaticMessagesErrorCode(Enum):
    INVALID = "INVALID"
    OUT_OF_RANGE = "OUT_OF_RANGE"
    TOO_LONG = "TOO_LONG"


@strawberry.type(description="A user error of an automatic-message settings mutation.")
class AutomaticMessagesError:
    field: str | None = strawberry.field(description="The camelCase input field at fault, or null.")
    code: AutomaticMessagesErrorCode = strawberry.field(description="What went wrong.")
    message: str = strawberry.field(description="A human-readable explanation.")


@strawberry.type(description="Result of autoResolveSettingsUpdate.")
class AutoResolveSettingsUpdatePayload:
    settings: AutoResolveSettings | None = strawberry.field(description="The settings now.")
    errors: list[AutomaticMessagesError] = strawberry.field(description="User errors; empty on success.")
