"""Payload errors of helpdesk mutations: the error type and its code enum."""

from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum(description="Why a helpdesk mutation was refused.")
class HelpdeskErrorCode(Enum):
    INVALID = "INVALID"
    REQUIRED = "REQUIRED"
    TOO_LONG = "TOO_LONG"
    TOO_MANY = "TOO_MANY"
    NOT_FOUND = "NOT_FOUND"
    TAKEN = "TAKEN"
    INVALID_EMAIL = "INVALID_EMAIL"
    INVALID_PHONE = "INVALID_PHONE"
    INVALID_TIMEZONE = "INVALID_TIMEZONE"
    UNKNOWN_LABEL = "UNKNOWN_LABEL"
    UNKNOWN_ATTRIBUTE = "UNKNOWN_ATTRIBUTE"
    INVALID_ATTRIBUTE = "INVALID_ATTRIBUTE"
    ASSIGNEE_NOT_IN_INBOX = "ASSIGNEE_NOT_IN_INBOX"
    SNOOZE_IN_PAST = "SNOOZE_IN_PAST"
    NOT_UPLOADED = "NOT_UPLOADED"
    SIZE_MISMATCH = "SIZE_MISMATCH"
    TYPE_MISMATCH = "TYPE_MISMATCH"
    ALREADY_ATTACHED = "ALREADY_ATTACHED"
    INVALID_URL = "INVALID_URL"
    FORBIDDEN_TARGET = "FORBIDDEN_TARGET"
    UNRESOLVABLE = "UNRESOLVABLE"
    OUT_OF_RANGE = "OUT_OF_RANGE"
    INVALID_OPERATOR = "INVALID_OPERATOR"
    INVALID_VALUE = "INVALID_VALUE"
    LIMIT_REACHED = "LIMIT_REACHED"
    SAME_CONVERSATION = "SAME_CONVERSATION"
    ALREADY_MERGED = "ALREADY_MERGED"
    DIFFERENT_CONTACT = "DIFFERENT_CONTACT"
    NOT_PENDING = "NOT_PENDING"


@strawberry.type(description="A user error of a helpdesk mutation.")
class HelpdeskError:
    field: str | None = strawberry.field(description="The camelCase input field at fault, or null.")
    code: HelpdeskErrorCode = strawberry.field(description="What went wrong.")
    message: str = strawberry.field(description="A human-readable explanation.")
