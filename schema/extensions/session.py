"""The request's database session ends with its operation, whatever the outcome; a query's session
runs its statements without a transaction."""

from __future__ import annotations

from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType


class CloseSession(SchemaExtension):
    """A part of OperationPipeline (schema/extensions/pipeline.py)."""

    async def close_session(self) -> None:
        """Release the request's database session: the operation ended."""
        close = getattr(self.execution_context.context, "close", None)
        if close is not None:
            await close()

    def choose_transaction(self) -> None:
        """A query that opens its session later reads without a transaction."""
        ec = self.execution_context
        ctx = ec.context
        if hasattr(ctx, "read_only") and getattr(ctx, "_session", None) is None:
            try:
                ctx.read_only = ec.operation_type == OperationType.QUERY
            except Exception:  # noqa: BLE001 - no operation to tell: graphql-core reports it
                ctx.read_only = False
