"""Payload errors of the SLA mutations: the error type and its code enum."""

from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum(description="Why an SLA mutation was refused.")
class SlaErrorCode(Enum):
    INVALID = "INVALID"
    REQUIRED = "REQUIRED"
    TOO_LONG = "TOO_LONG"
    TAKEN = "TAKEN"
    OUT_OF_RANGE = "OUT_OF_RANGE"
    NO_TARGET = "NO_TARGET"
    LIMIT_REACHED = "LIMIT_REACHED"
    NOT_FOUND = "NOT_FOUND"
    NO_SLA = "NO_SLA"


@strawberry.type(description="A user error of an SLA mutation.")
class SlaError:
    field: str | None = strawberry.field(description="The camelCase input field at fault, or null.")
    code: SlaErrorCode = strawberry.field(description="What went wrong.")
    message: str = strawberry.field(description="A human-readable explanation.")
