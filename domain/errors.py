"""Errors the domain raises. The GraphQL layer turns them into typed payload errors or top-level
errors with `extensions.code`; anything else is a bug and is masked."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ErrorCode(StrEnum):
    """Codes of top-level GraphQL errors (`extensions.code`)."""

    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    RATE_LIMITED = "RATE_LIMITED"
    QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
    PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
    PERSISTED_QUERY_NOT_ALLOWED = "PERSISTED_QUERY_NOT_ALLOWED"
    STREAM_OVERFLOW = "STREAM_OVERFLOW"
    CURSOR_EXPIRED = "CURSOR_EXPIRED"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    ACCOUNT_SUSPENDED = "ACCOUNT_SUSPENDED"  # the account was suspended by a super admin
    OVERLOADED = "OVERLOADED"  # refused under load before anything ran (HTTP 503 with Retry-After)
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"


class ParleyError(Exception):
    """An expected failure that ends the whole operation (authentication, authorization, limits)."""

    code: ErrorCode = ErrorCode.INTERNAL_SERVER_ERROR
    default_message = "Internal server error"

    def __init__(self, message: str | None = None, **extensions: object) -> None:
        super().__init__(message or self.default_message)
        self.message = message or self.default_message
        self.extensions = extensions


class NotAuthenticated(ParleyError):
    code = ErrorCode.UNAUTHENTICATED
    default_message = "Authentication required"


class Forbidden(ParleyError):
    code = ErrorCode.FORBIDDEN
    default_message = "You are not allowed to do this"


class AccountSuspended(ParleyError):
    """The account the request acts on is suspended: its users, bots and tokens are refused."""

    code = ErrorCode.ACCOUNT_SUSPENDED
    default_message = "This account is suspended"


class NotFound(ParleyError):
    code = ErrorCode.NOT_FOUND
    default_message = "Not found"


class BadUserInput(ParleyError):
    code = ErrorCode.BAD_USER_INPUT
    default_message = "Invalid input"


class StreamOverflow(ParleyError):
    """A subscriber fell too far behind and was cut off; it resumes from its last cursor."""

    code = ErrorCode.STREAM_OVERFLOW
    default_message = (
        "This subscription fell too far behind and was ended; resubscribe with `after` set to the last cursor received"
    )


class CursorExpired(ParleyError):
    """The cursor points before the oldest event still kept; the client must reload, then subscribe afresh."""

    code = ErrorCode.CURSOR_EXPIRED
    default_message = "This cursor is older than the event log keeps; reload the data and subscribe without `after`"


class IdempotencyKeyReused(ParleyError):
    """The caller sent an `Idempotency-Key` it used before with another request (HTTP 422 in the draft)."""

    code = ErrorCode.IDEMPOTENCY_KEY_REUSED
    default_message = "This Idempotency-Key was used with a different request; send a new key for a new request"


class RateLimited(ParleyError):
    code = ErrorCode.RATE_LIMITED
    default_message = "Too many requests; try again later"


@dataclass(frozen=True)
class FieldError:
    field: str | None
    code: str
    message: str


class ValidationError(Exception):
    """User errors of a mutation's input: each names the camelCase input field, a code and a message."""

    def __init__(self, errors: list[FieldError] | FieldError) -> None:
        self.errors = [errors] if isinstance(errors, FieldError) else list(errors)
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in self.errors))

    @classmethod
    def single(cls, field: str | None, code: str, message: str) -> ValidationError:
        return cls(FieldError(field, code, message))
