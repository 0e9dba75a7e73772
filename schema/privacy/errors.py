"""Payload errors of privacy mutations."""

from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum(description="Why a privacy mutation was refused.")
class PrivacyErrorCode(Enum):
    INVALID = "INVALID"
    NOT_FOUND = "NOT_FOUND"
    ALREADY_ERASED = "ALREADY_ERASED"
    OUT_OF_RANGE = "OUT_OF_RANGE"


@strawberry.type(description="A user error of a privacy mutation.")
class PrivacyError:
    field: str | None = strawberry.field(description="The camelCase input field at fault, or null.")
    code: PrivacyErrorCode = strawberry.field(description="What went wrong.")
    message: str = strawberry.field(description="A human-readable explanation.")
