"""The request's database session ends with its operation, whatever the outcome."""

from __future__ import annotations

from strawberry.extensions import SchemaExtension


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
