"""Payload errors of notifications mutations: the error type and its code enum."""

from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum(description="Why a notification mutation was refused.")
class NotificationErrorCode(Enum):
    INVALID = "INVALID"
    REQUIRED = "REQUIRED"
    TOO_MANY = "TOO_MANY"
    DUPLICATE = "DUPLICATE"
    NOT_FOUND = "NOT_FOUND"


@strawberry.type(description="A user error of a notification mutation.")
class NotificationError:
    field: str | None = strawberry.field(description="The camelCase input field at fault, or null.")
    code: NotificationErrorCode = strawberry.field(description="What went wrong.")
    message: str = strawberry.field(description="A human-readable explanation.")
