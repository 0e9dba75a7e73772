"""Payload errors of diagnostics mutations: the error type and its code enum."""

from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum(description="Why a diagnostics input was refused.")
class DiagnosticsErrorCode(Enum):
    INVALID = "INVALID"
    TOO_LONG = "TOO_LONG"


@strawberry.type(description="A user error of a diagnostics mutation.")
class DiagnosticsError:
    field: str | None = strawberry.field(description="The camelCase input field at fault, or null.")
    code: DiagnosticsErrorCode = strawberry.field(description="What went wrong.")
    message: str = strawberry.field(description="A human-readable explanation.")
