"""The operation's extensions as one: the error contract, the request's database session, the
query guard and persisted operations.

Strawberry makes an instance of every extension for every operation, and keeps each extension's
open `on_operation` (a generator, its context manager and a bound method) for as long as the
operation lasts — for a subscription, as long as the socket is subscribed. Four extensions held
four of each per subscribed socket (about 3.5 KB) and were asked for their results on every event.
One extension, whose hooks call the four parts in the order they ran as four, holds one.

The order: the guard learns who calls and measures the document; the persisted document replaces
the query; the operation runs; the session is released; the errors are shaped (not when the
operation raised: as before, that propagates)."""

from __future__ import annotations

from typing import Any

from resolvers.hub import DIRECT_SINK
from schema.extensions.error_contract import ErrorContract
from schema.extensions.guard import QueryGuard
from schema.extensions.persisted import PersistedOperations
from schema.extensions.session import CloseSession


class OperationPipeline(ErrorContract, CloseSession, QueryGuard, PersistedOperations):
    async def on_operation(self):  # type: ignore[override]
        try:
            await self.start_operation()
            await self.fill_document()
            sink = DIRECT_SINK.get()
            if sink is not None:
                sink.extensions = self.stream_extensions  # a frame the hub sends carries them too
            yield
        finally:
            await self.close_session()
        self.shape_errors()

    async def on_execute(self):  # type: ignore[override]
        self.choose_transaction()
        await self.remember_document()
        yield

    def stream_extensions(self) -> dict[str, Any]:
        """What Strawberry puts in a stream result's `extensions` (its extensions' results; this is
        the schema's only extension with results)."""
        return {**self.get_results(), **self.execution_context.extensions_results}
