"""Payload errors of installation mutations."""

from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum(description="Why an installation mutation was refused.")
class InstallationErrorCode(Enum):
    INVALID = "INVALID"
    NOT_FOUND = "NOT_FOUND"
    OUT_OF_RANGE = "OUT_OF_RANGE"
    TOO_LONG = "TOO_LONG"


@strawberry.type(description="A user error of an installation mutation.")
class InstallationError:
    field: str | None = strawberry.field(description="The camelCase input field at fault, or null.")
    code: InstallationErrorCode = strawberry.field(description="What went wrong.")
    message: str = strawberry.field(description="A human-readable explanation.")
