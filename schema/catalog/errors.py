"""Payload errors of catalog mutations: the error type and its code enum."""

from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum(description="Why a catalog mutation (teams, labels, canned responses, custom attributes) was refused.")
class CatalogErrorCode(Enum):
    INVALID = "INVALID"
    REQUIRED = "REQUIRED"
    TOO_LONG = "TOO_LONG"
    TOO_MANY = "TOO_MANY"
    TAKEN = "TAKEN"
    LIMIT_REACHED = "LIMIT_REACHED"
    NOT_A_MEMBER = "NOT_A_MEMBER"
    INVALID_TITLE = "INVALID_TITLE"
    INVALID_COLOR = "INVALID_COLOR"
    INVALID_SHORT_CODE = "INVALID_SHORT_CODE"
    INVALID_KEY = "INVALID_KEY"
    RESERVED_KEY = "RESERVED_KEY"
    INVALID_LIST_VALUES = "INVALID_LIST_VALUES"
    INVALID_REGEX = "INVALID_REGEX"


@strawberry.type(description="A user error of a catalog mutation.")
class CatalogError:
    field: str | None = strawberry.field(description="The camelCase input field at fault, or null.")
    code: CatalogErrorCode = strawberry.field(description="What went wrong.")
    message: str = strawberry.field(description="A human-readable explanation.")
