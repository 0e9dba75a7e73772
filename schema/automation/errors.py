"""Payload errors of automation rule and macro mutations: the error type and its code enum."""

from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum(description="Why an automation rule or macro mutation was refused.")
class AutomationErrorCode(Enum):
    INVALID = "INVALID"
    REQUIRED = "REQUIRED"
    TOO_LONG = "TOO_LONG"
    TOO_MANY = "TOO_MANY"
    NOT_FOUND = "NOT_FOUND"
    TAKEN = "TAKEN"
    LIMIT_REACHED = "LIMIT_REACHED"
    UNKNOWN_ATTRIBUTE = "UNKNOWN_ATTRIBUTE"
    INVALID_OPERATOR = "INVALID_OPERATOR"
    INVALID_VALUE = "INVALID_VALUE"
    UNKNOWN_ACTION = "UNKNOWN_ACTION"
    UNKNOWN_LABEL = "UNKNOWN_LABEL"
    ASSIGNEE_NOT_IN_INBOX = "ASSIGNEE_NOT_IN_INBOX"
    SNOOZE_IN_PAST = "SNOOZE_IN_PAST"
    CYCLE = "CYCLE"


@strawberry.type(description="A user error of an automation rule or macro mutation.")
class AutomationError:
    field: str | None = strawberry.field(description="The camelCase input field at fault, or null.")
    code: AutomationErrorCode = strawberry.field(description="What went wrong.")
    message: str = strawberry.field(description="A human-readable explanation.")
