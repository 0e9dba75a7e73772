"""Payload errors of webhooks mutations: the error type and its code enum."""

from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum(description="Why a webhook or dead-job mutation was refused.")
class WebhookErrorCode(Enum):
    INVALID = "INVALID"
    REQUIRED = "REQUIRED"
    TOO_LONG = "TOO_LONG"
    NOT_FOUND = "NOT_FOUND"
    INVALID_URL = "INVALID_URL"
    FORBIDDEN_TARGET = "FORBIDDEN_TARGET"
    UNRESOLVABLE = "UNRESOLVABLE"
    LIMIT_REACHED = "LIMIT_REACHED"
    NOT_RETRYABLE = "NOT_RETRYABLE"
    ALREADY_RETRIED = "ALREADY_RETRIED"
    INBOX_CALLBACK = "INBOX_CALLBACK"


@strawberry.type(description="A user error of a webhook or dead-job mutation.")
class WebhookError:
    field: str | None = strawberry.field(description="The camelCase input field at fault, or null.")
    code: WebhookErrorCode = strawberry.field(description="What went wrong.")
    message: str = strawberry.field(description="A human-readable explanation.")
