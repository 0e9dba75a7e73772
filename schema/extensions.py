"""Schema extensions: the error contract (codes on every error, unexpected errors masked and logged)."""

from __future__ import annotations

from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from domain.errors import ErrorCode, ParleyError
from parley.logs import get_logger, request_id_var

log = get_logger("parley.graphql")


def shape_error(error: GraphQLError) -> GraphQLError:
    """Give an error its `extensions.code`; replace an unexpected one by a masked copy."""
    original = error.original_error
    if original is None:
        # Syntax and validation errors come from graphql-core and speak only of the document.
        if error.extensions and "code" in error.extensions:
            return error
        error.extensions = {**(error.extensions or {}), "code": ErrorCode.GRAPHQL_VALIDATION_FAILED.value}
        return error
    if isinstance(original, ParleyError):
        error.extensions = {**original.extensions, **(error.extensions or {}), "code": original.code.value}
        return error
    if isinstance(original, GraphQLError) and original.extensions and "code" in original.extensions:
        return error
    rid = request_id_var.get()
    log.error(
        "graphql.unexpected_error",
        path=error.path,
        error=type(original).__name__,
        exc_info=(type(original), original, original.__traceback__),
    )
    return GraphQLError(
        "Internal server error",
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions={"code": ErrorCode.INTERNAL_SERVER_ERROR.value, "requestId": rid},
    )


class ErrorContract(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = [shape_error(e) for e in errors]  # type: ignore[union-attr]


class CloseSession(SchemaExtension):
    """Release the request's database session when the operation ends."""

    async def on_operation(self):  # type: ignore[override]
        yield
        ctx = self.execution_context.context
        close = getattr(ctx, "close", None)
        if close is not None:
            await close()
