"""Payload errors of attachments mutations: the error type and its code enum."""

from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum(description="Why an attachment mutation was refused.")
class AttachmentErrorCode(Enum):
    INVALID = "INVALID"
    REQUIRED = "REQUIRED"
    TOO_LARGE = "TOO_LARGE"
    UNSUPPORTED_TYPE = "UNSUPPORTED_TYPE"


@strawberry.type(description="A user error of an attachment mutation.")
class AttachmentError:
    field: str | None = strawberry.field(description="The camelCase input field at fault, or null.")
    code: AttachmentErrorCode = strawberry.field(description="What went wrong.")
    message: str = strawberry.field(description="A human-readable explanation.")
