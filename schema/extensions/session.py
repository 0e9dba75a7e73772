"""The request's database session ends with its operation, whatever the outcome; a query's session
runs its statements without a transaction."""

from __future__ import annotations

from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType


class CloseSession(SchemaExtension):
    """Release the request's database session when the operation ends."""

    async def on_operation(self):  # type: ignore[override]
        try:
            yield
        finally:
            ctx = self.execution_context.context
            close = getattr(ctx, "close", None)
            if close is not None:
                await close()

    async def on_execute(self):  # type: ignore[override]
        ec = self.execution_context
        ctx = ec.context
        if hasattr(ctx, "read_only") and getattr(ctx, "_session", None) is None:
            try:
                ctx.read_only = ec.operation_type == OperationType.QUERY
            except Exception:  # noqa: BLE001 - no operation to tell: graphql-core reports it
                ctx.read_only = False
        yield
