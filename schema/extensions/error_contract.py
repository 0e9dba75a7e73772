"""The error contract, as a schema extension: codes on every error, unexpected errors masked and logged.

Every top-level error carries, in `extensions`: `code` (domain.errors.ErrorCode), `status` (the HTTP
status the error stands for), `name` (the error's class, e.g. `ForbiddenError`) and `details` (an
object; input problems as `details.errors[{path, message, name}]`, limits as `{limit, max, actual}`).
Keys an error had before (`retryAfter`, `field`, `requestId`) stay beside them."""

from __future__ import annotations

from collections.abc import Iterator

from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.extensions import SchemaExtension

from domain.errors import ErrorCode, ParleyError
from infra.logs import get_logger, request_id_var

log = get_logger("parley.graphql")


ERROR_STATUS: dict[ErrorCode, tuple[int, str]] = {
    ErrorCode.UNAUTHENTICATED: (401, "UnauthorizedError"),
    ErrorCode.FORBIDDEN: (403, "ForbiddenError"),
    ErrorCode.ACCOUNT_SUSPENDED: (403, "AccountSuspendedError"),
    ErrorCode.NOT_FOUND: (404, "NotFoundError"),
    ErrorCode.BAD_USER_INPUT: (400, "ValidationError"),
    ErrorCode.GRAPHQL_VALIDATION_FAILED: (400, "GraphQLValidationError"),
    ErrorCode.RATE_LIMITED: (429, "RateLimitError"),
    ErrorCode.QUERY_TOO_COMPLEX: (400, "QueryTooComplexError"),
    ErrorCode.PERSISTED_QUERY_NOT_FOUND: (404, "PersistedQueryNotFoundError"),
    ErrorCode.PERSISTED_QUERY_NOT_ALLOWED: (403, "PersistedQueryNotAllowedError"),
    ErrorCode.STREAM_OVERFLOW: (409, "StreamOverflowError"),
    ErrorCode.CURSOR_EXPIRED: (410, "CursorExpiredError"),
    ErrorCode.IDEMPOTENCY_KEY_REUSED: (422, "IdempotencyKeyReusedError"),
    ErrorCode.INTERNAL_SERVER_ERROR: (500, "ApplicationError"),
}
_TOKEN_LIMIT = "Document contains more than"
_NESTING_LIMIT = "Document is nested too deeply"


def _contract(
    error: GraphQLError, code: ErrorCode, *, name: str | None = None, details: dict | None = None
) -> GraphQLError:
    status, default_name = ERROR_STATUS.get(code, (500, "ApplicationError"))
    extensions = dict(error.extensions or {})
    extensions["code"] = code.value
    extensions.setdefault("status", status)
    extensions.setdefault("name", name or default_name)
    extensions.setdefault("details", details if details is not None else {})
    error.extensions = extensions
    return error


def _details(code: ErrorCode, message: str, extra: dict) -> dict:
    details = {k: v for k, v in extra.items() if k not in ("code", "status", "name", "details")}
    if code == ErrorCode.BAD_USER_INPUT:
        field = extra.get("field")
        details["errors"] = [{"path": [field] if field else [], "message": message, "name": "ValidationError"}]
    return details


def shape_error(error: GraphQLError) -> GraphQLError:
    """Give an error its `extensions.code`, status, name and details; replace an unexpected one by a
    masked copy."""
    if error.extensions and "code" in error.extensions and "status" in error.extensions:
        return error  # shaped already (cached validation errors come back)
    original = error.original_error
    if original is None:
        # Syntax and validation errors come from graphql-core and speak only of the document.
        if error.extensions and "code" in error.extensions:
            code = (
                ErrorCode(error.extensions["code"])
                if error.extensions["code"] in ErrorCode._value2member_map_
                else None
            )
            return _contract(error, code) if code else error
        if isinstance(error, GraphQLSyntaxError):
            if _TOKEN_LIMIT in error.message:
                return _contract(error, ErrorCode.QUERY_TOO_COMPLEX, details={"limit": "tokens"})
            if _NESTING_LIMIT in error.message:
                return _contract(error, ErrorCode.QUERY_TOO_COMPLEX, details={"limit": "depth"})
            return _contract(error, ErrorCode.GRAPHQL_VALIDATION_FAILED, name="GraphQLSyntaxError")
        return _contract(error, ErrorCode.GRAPHQL_VALIDATION_FAILED)
    if isinstance(original, ParleyError):
        error.extensions = {**original.extensions, **(error.extensions or {})}
        return _contract(error, original.code, details=_details(original.code, original.message, original.extensions))
    if isinstance(original, GraphQLError) and original.extensions and "code" in original.extensions:
        return error
    if isinstance(original, GraphQLError):
        # graphql-core refusing a variable's value (e.g. an Int beyond 32 bits): it speaks only of the input.
        return _contract(error, ErrorCode.BAD_USER_INPUT)
    rid = request_id_var.get()
    log.error(
        "graphql.unexpected_error",
        path=error.path,
        error=type(original).__name__,
        exc_info=(type(original), original, original.__traceback__),
    )
    masked = GraphQLError(
        "Internal server error",
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions={"code": ErrorCode.INTERNAL_SERVER_ERROR.value, "requestId": rid},
    )
    return _contract(masked, ErrorCode.INTERNAL_SERVER_ERROR, details={"requestId": rid})


class ErrorContract(SchemaExtension):
    """A part of OperationPipeline (schema/extensions/pipeline.py), which shapes the operation's
    errors when it ends."""

    def shape_errors(self) -> None:
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = [shape_error(e) for e in errors]  # type: ignore[union-attr]

    def on_stream_result(self, result) -> Iterator[None]:  # type: ignore[override]
        # Subscriptions (and operations over WebSocket) send results before on_operation ends.
        if getattr(result, "errors", None):
            result.errors = [shape_error(e) for e in result.errors]
        yield
