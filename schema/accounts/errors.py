"""Payload errors of accounts mutations: the error type and its code enum."""

from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum(description="Why an accounts or authentication mutation was refused.")
class AccountErrorCode(Enum):
    OUT_OF_RANGE = "OUT_OF_RANGE"
    INVALID = "INVALID"
    REQUIRED = "REQUIRED"
    TOO_LONG = "TOO_LONG"
    INVALID_EMAIL = "INVALID_EMAIL"
    EMAIL_NOT_VERIFIED = "EMAIL_NOT_VERIFIED"
    SIGN_IN_REQUIRED = "SIGN_IN_REQUIRED"
    INVALID_TIMEZONE = "INVALID_TIMEZONE"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    PASSWORD_TOO_SHORT = "PASSWORD_TOO_SHORT"
    PASSWORD_TOO_LONG = "PASSWORD_TOO_LONG"
    INVALID_TOKEN = "INVALID_TOKEN"
    TOKEN_USED = "TOKEN_USED"
    TOKEN_EXPIRED = "TOKEN_EXPIRED"
    REFRESH_TOKEN_REUSED = "REFRESH_TOKEN_REUSED"
    ALREADY_MEMBER = "ALREADY_MEMBER"
    NOT_FOUND = "NOT_FOUND"
    LAST_ADMINISTRATOR = "LAST_ADMINISTRATOR"
    TAKEN = "TAKEN"
    INVALID_PERMISSION = "INVALID_PERMISSION"
    INVALID_URL = "INVALID_URL"
    FORBIDDEN_TARGET = "FORBIDDEN_TARGET"
    UNRESOLVABLE = "UNRESOLVABLE"
    ACCOUNT_SUSPENDED = "ACCOUNT_SUSPENDED"
    LIMIT_REACHED = "LIMIT_REACHED"


@strawberry.type(description="A user error of an accounts or authentication mutation.")
class AccountError:
    field: str | None = strawberry.field(description="The camelCase input field at fault, or null.")
    code: AccountErrorCode = strawberry.field(description="What went wrong.")
    message: str = strawberry.field(description="A human-readable explanation.")
