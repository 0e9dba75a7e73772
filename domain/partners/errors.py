"""Top-level errors of persisted operations and query limits (codes from domain.errors.ErrorCode)."""

from __future__ import annotations

from domain.errors import ErrorCode, ParleyError


class PersistedQueryNotFound(ParleyError):
    """Apollo's APQ contract: the client resends the same request with the document."""

    code = ErrorCode.PERSISTED_QUERY_NOT_FOUND
    default_message = "PersistedQueryNotFound"


class PersistedQueryNotAllowed(ParleyError):
    code = ErrorCode.PERSISTED_QUERY_NOT_ALLOWED
    default_message = "Only operations registered in the app's manifest may run with this token"


class QueryTooComplex(ParleyError):
    code = ErrorCode.QUERY_TOO_COMPLEX
    default_message = "The query is too complex"
