"""How the guard and persisted operations refuse an operation before it runs, and the clean-up of
graphql-core's validation errors (one per distinct message; no field suggestions for callers that
may not introspect)."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError, parse

_SUGGESTION = "Did you mean "


def as_graphql_error(exc: Exception) -> GraphQLError:
    return GraphQLError(getattr(exc, "message", None) or str(exc), original_error=exc)


def refuse(execution_context: Any, exc: Exception) -> None:
    """End the operation before it runs with this error: the document becomes a trivial one that is
    never executed, and the error is the operation's only one."""
    execution_context.graphql_document = _TRIVIAL
    execution_context._provided_operation_name = None
    error = exc if isinstance(exc, GraphQLError) and exc.original_error is None else as_graphql_error(exc)
    execution_context.pre_execution_errors = [error]


_TRIVIAL = parse("{ __typename }")


def without_suggestions(errors: list[GraphQLError]) -> list[GraphQLError]:
    out = []
    for e in errors:
        at = e.message.find(_SUGGESTION)
        message = e.message if at < 0 else e.message[:at].rstrip()
        if message == e.message:
            out.append(e)
        else:
            out.append(
                GraphQLError(
                    message, nodes=e.nodes, source=e.source, positions=e.positions, path=e.path, extensions=e.extensions
                )
            )
    return out


def deduplicate(errors: list[GraphQLError]) -> list[GraphQLError]:
    """One error per distinct message: a document repeating a mistake a thousand times (directive
    overloading) gets one answer, not a thousand."""
    seen: set[str] = set()
    out = []
    for e in errors:
        if e.message not in seen:
            seen.add(e.message)
            out.append(e)
    return out
