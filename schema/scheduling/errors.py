"""Payload errors of scheduled-message mutations."""

from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum(description="Why a scheduled-message mutation was refused.")
class ScheduledMessageErrorCode(Enum):
    INVALID = "INVALID"
    REQUIRED = "REQUIRED"
    TOO_LONG = "TOO_LONG"
    NOT_FOUND = "NOT_FOUND"
    IN_PAST = "IN_PAST"
    TOO_FAR_AHEAD = "TOO_FAR_AHEAD"
    LIMIT_REACHED = "LIMIT_REACHED"
    ALREADY_SENT = "ALREADY_SENT"
    ALREADY_CANCELLED = "ALREADY_CANCELLED"


@strawberry.type(description="A user error of a scheduled-message mutation.")
class ScheduledMessageError:
    field: str | None = strawberry.field(description="The camelCase input field at fault, or null.")
    code: ScheduledMessageErrorCode = strawberry.field(description="What went wrong.")
    message: str = strawberry.field(description="A human-readable explanation.")
