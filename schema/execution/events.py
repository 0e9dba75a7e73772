"""One result per subscription event and visibility group, not per socket.

The real-time hub (resolvers/hub.py) hands the same delivery object to every subscriber of a
visibility group — subscribers for whom the same authorization code decided the same. A delivery it
shares that way carries a `shared` dict. For such a root value, the first socket executing a given
document (same text, operation and variables) computes the result; the others of the group, running
at the same moment, await the same future and get the same `ExecutionResult`. Its data is a
`SharedData`, whose JSON the WebSocket adapter encodes once and splices into each socket's `next`
message (parley/graphql_view.py). A 1,000-socket account thus runs each event's selection once per
group instead of 1,000 times.

The key also holds whether the caller administers the account: a group never mixes administrators
and agents, and the one field that answers them differently (`Inbox.hmacToken`) stays correct even
if it did."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from graphql import OperationType
from graphql.execution.executor import CollectedErrors


class SharedData(dict):
    """The data of a result shared by a group of sockets; `encoded` is its JSON, made once."""

    __slots__ = ("encoded",)

    def __init__(self, data: dict) -> None:
        super().__init__(data)
        self.encoded: str | None = None


_UNKNOWN = object()


def _document_key(executor: Any) -> tuple | None:
    """What the socket's subscription asks, the same for all its events: its text, operation and
    variables (None when they cannot be compared)."""
    operation = executor.operation
    loc = operation.loc
    if loc is None:
        return None
    try:
        variables = json.dumps(executor.variable_values.coerced, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return None
    name = operation.name.value if operation.name else None
    return (loc.source.body, name, variables)


def _key(executor: Any) -> tuple | None:
    document = executor.__dict__.get("_document_key", _UNKNOWN)
    if document is _UNKNOWN:
        document = _document_key(executor)
    if document is None:
        return None
    actor = getattr(getattr(executor.context_value, "_actor", None), "is_administrator", None)
    return (*document, actor)


class SharedEventResults:
    """Mixin for the execution context (schema/execution/__init__.py)."""

    def build_per_event_executor(self, payload: Any) -> Any:
        """graphql-core's per-event executor (a shallow copy with its own root value and errors),
        made without `copy.copy`'s generic protocol — it ran once per socket and event. The
        subscription's document key is measured once, on the subscription's executor, and the
        copies inherit it."""
        state = self.__dict__
        if "_document_key" not in state:
            state["_document_key"] = _document_key(self)
        executor = object.__new__(type(self))
        executor.__dict__.update(state)
        executor.root_value = payload
        executor.collected_errors = CollectedErrors()
        return executor

    def execute_operation(self, serially=None):
        shared = getattr(self.root_value, "shared", None)  # type: ignore[attr-defined]
        if shared is None or self.operation.operation != OperationType.SUBSCRIPTION:  # type: ignore[attr-defined]
            return super().execute_operation(serially)  # type: ignore[misc]
        key = _key(self)
        if key is None:
            return super().execute_operation(serially)  # type: ignore[misc]
        pending = shared.get(key)
        if pending is not None:
            return self._shared_or_own(pending, serially)
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        shared[key] = future
        try:
            result = super().execute_operation(serially)  # type: ignore[misc]
        except BaseException:
            shared.pop(key, None)
            future.cancel()
            raise
        if self.is_awaitable(result):  # type: ignore[attr-defined]
            return _settle(result, future, shared, key)
        _share(result)
        future.set_result(result)
        return result

    async def _shared_or_own(self, future: asyncio.Future, serially):
        """The group's result; if the socket computing it went away first, this one's own."""
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            if not future.cancelled():
                raise  # this socket itself is being cancelled
        result = super().execute_operation(serially)  # type: ignore[misc]
        return await result if self.is_awaitable(result) else result  # type: ignore[attr-defined]


def _share(result: Any) -> None:
    if isinstance(getattr(result, "data", None), dict) and not result.errors:
        result.data = SharedData(result.data)


async def _settle(result, future: asyncio.Future, shared: dict, key: tuple):
    try:
        value = await result
    except BaseException:
        shared.pop(key, None)  # the others of the group execute for themselves
        future.cancel()
        raise
    _share(value)
    future.set_result(value)
    return value
