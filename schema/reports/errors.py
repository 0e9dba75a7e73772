"""Payload errors of reports mutations: the error type and its code enum."""

from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum(description="Why a report mutation was refused.")
class ReportErrorCode(Enum):
    INVALID = "INVALID"
    REQUIRED = "REQUIRED"
    INVALID_RANGE = "INVALID_RANGE"
    RANGE_TOO_LONG = "RANGE_TOO_LONG"


@strawberry.type(description="A user error of a report mutation.")
class ReportError:
    field: str | None = strawberry.field(description="The camelCase input field at fault, or null.")
    code: ReportErrorCode = strawberry.field(description="What went wrong.")
    message: str = strawberry.field(description="A human-readable explanation.")
