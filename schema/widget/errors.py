"""Payload errors of widget mutations: the error type and its code enum."""

from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum(description="Reasons a widget mutation refused its input.")
class WidgetErrorCode(Enum):
    INVALID = "INVALID"
    REQUIRED = "REQUIRED"
    NOT_FOUND = "NOT_FOUND"
    TOO_LONG = "TOO_LONG"
    INVALID_EMAIL = "INVALID_EMAIL"
    TAKEN = "TAKEN"
    INVALID_HASH = "INVALID_HASH"
    WRONG_INBOX = "WRONG_INBOX"
    NOT_RESOLVED = "NOT_RESOLVED"
    ALREADY_ATTACHED = "ALREADY_ATTACHED"
    NOT_UPLOADED = "NOT_UPLOADED"
    SIZE_MISMATCH = "SIZE_MISMATCH"
    TYPE_MISMATCH = "TYPE_MISMATCH"
    TOO_MANY = "TOO_MANY"


@strawberry.type(description="A user error of a widget mutation.")
class WidgetError:
    field: str | None = strawberry.field(description="The input field at fault (camelCase), if any.")
    code: WidgetErrorCode = strawberry.field(description="Machine-readable reason.")
    message: str = strawberry.field(description="Human-readable reason.")
