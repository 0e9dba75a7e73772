"""Payload errors of realtime mutations: the error type and its code enum."""

from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum(description="Why a real-time mutation was refused.")
class RealtimeErrorCode(Enum):
    INVALID = "INVALID"
    NOT_FOUND = "NOT_FOUND"


@strawberry.type(description="A user error of a real-time mutation.")
class RealtimeError:
    field: str | None = strawberry.field(description="The input field at fault (camelCase), if any.")
    code: RealtimeErrorCode = strawberry.field(description="Machine-readable reason.")
    message: str = strawberry.field(description="Human-readable reason.")
