"""Payload errors of partners mutations: the error type and its code enum."""

from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum(description="Why a partner app mutation was refused.")
class PartnerErrorCode(Enum):
    INVALID = "INVALID"
    REQUIRED = "REQUIRED"
    TOO_LONG = "TOO_LONG"
    NOT_FOUND = "NOT_FOUND"
    INVALID_MANIFEST = "INVALID_MANIFEST"
    INVALID_OPERATIONS = "INVALID_OPERATIONS"


@strawberry.type(description="A user error of a partner app mutation.")
class PartnerError:
    field: str | None = strawberry.field(description="The camelCase input field at fault, or null.")
    code: PartnerErrorCode = strawberry.field(description="What went wrong.")
    message: str = strawberry.field(description="A human-readable explanation.")
