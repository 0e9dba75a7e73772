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
if it did.

A socket's subscription over graphql-transport-ws also gets a `DirectSink`: while its stream is
parked with nothing queued, the hub hands it each shared event itself, in one plain loop over the
group's sockets — the group's result taken (or computed) once, its JSON spliced into the socket's
`next` frame and written to the socket's protocol — instead of waking the socket's task and passing
the event through the subscription's generators (the stream, graphql-core's mapping, Strawberry's
stream, the transport handler, the adapter: about two thirds of a socket's cost per event). The frame
is the one the ordinary way sends. Whatever the sink cannot send that way — a result with errors or
not shared, a socket whose transport is not taking writes, an operation already completed — goes the
ordinary way, through the subscriber's queue, and so does everything after it for that socket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from graphql import OperationType
from graphql.execution.executor import CollectedErrors

from resolvers.hub import DIRECT_SINK


class SharedData(dict):
    """The data of a result shared by a group of sockets; `encoded` is its JSON, made once."""

    __slots__ = ("encoded",)

    def __init__(self, data: dict) -> None:
        super().__init__(data)
        self.encoded: str | None = None

    def json(self, encode: Callable[[Any], str]) -> str:
        if self.encoded is None:
            self.encoded = encode(dict(self))
        return self.encoded


def next_frame(id_json: str, data_json: str, tail: str = "}}") -> str:
    """A graphql-transport-ws `next` message around JSON already made (`tail` closes the payload,
    with its extensions when it has them)."""
    return '{"id":' + id_json + ',"type":"next","payload":{"data":' + data_json + tail


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


class DirectSink:
    """One subscription operation of a socket, as the hub writes to it directly (see the module's
    docstring). Made by the transport (parley/graphql_view.py) when the operation starts and found
    by the parts that run inside the operation's task: the executor registers itself when it
    resolves the subscription's root field, the operation's extension (the cost report of its first
    result), and the stream (resolvers/realtime.py) hands the sink to the hub."""

    __slots__ = (
        "encode",
        "executor",
        "extensions",
        "id_json",
        "is_open",
        "key",
        "reported",
        "send",
        "to_root",
        "writable",
    )

    def __init__(
        self,
        operation_id: str,
        *,
        send: Callable[[dict], Awaitable[None]],
        writable: Callable[[], bool],
        is_open: Callable[[], bool],
        encode: Callable[[Any], str],
    ) -> None:
        self.id_json = json.dumps(operation_id)
        self.send = send  # the socket's protocol: one text frame
        self.writable = writable  # False while the transport is paused (the client reads slowly)
        self.is_open = is_open  # False once the operation is completed or its socket went away
        self.encode = encode
        self.executor: Any = None  # the subscription's graphql-core executor
        self.key: tuple | None = None
        self.extensions: Callable[[], dict] | None = None  # the operation's results for its next frame
        self.reported = False  # the first frame (with the cost report) went out
        # What the subscription field's stream makes of a delivery: the root value of each event
        # (schema/realtime/root.py); a field that does not say is served the ordinary way.
        self.to_root: Callable[[Any], Any] | None = None

    def attach(self, executor: Any) -> None:
        if self.executor is None:
            self.executor = executor
            self.key = _key(executor)

    @property
    def usable(self) -> bool:
        return (
            self.executor is not None
            and self.key is not None
            and self.extensions is not None
            and self.to_root is not None
        )

    async def deliver(self, delivery: Any) -> bool:
        """Send the delivery as this operation's next frame; False (nothing sent) when it must go the
        ordinary way."""
        if not self.is_open() or not self.writable():
            return False
        if getattr(delivery, "shared", None) is None:
            return False
        root = self.to_root(delivery)  # type: ignore[misc]
        shared = root.shared
        pending = shared.get(self.key)
        if pending is not None:
            if not pending.done() or pending.cancelled() or pending.exception() is not None:
                return False
            result = pending.result()
        else:
            # The group's first socket of this document: its result, shared with the group (the
            # ordinary way of the others finds it in `shared` too).
            result = self.executor.build_per_event_executor(root).execute_operation(False)
            if self.executor.is_awaitable(result):
                result = await result
            release = getattr(self.executor.context_value, "release", None)
            if release is not None:
                await release()  # what the fields read is not kept between events (as the stream does)
        data = getattr(result, "data", None)
        if getattr(result, "errors", None) or type(data) is not SharedData:
            return False  # errors are shaped per operation: the ordinary way
        encoded = data.json(self.encode)
        tail = "}}"
        if not self.reported:
            extensions = self.extensions()  # type: ignore[misc]
            if extensions:
                tail = ',"extensions":' + self.encode(extensions) + "}}"
        frame = next_frame(self.id_json, encoded, tail)
        if not self.is_open():
            return False  # the operation ended while its result was computed
        await self.send({"type": "websocket.send", "text": frame})
        self.reported = True
        return True


class SharedEventResults:
    """Mixin for the execution context (schema/execution/__init__.py)."""

    def build_resolve_info(self, field_def, field_nodes, parent_type, path):
        info = super().build_resolve_info(field_def, field_nodes, parent_type, path)  # type: ignore[misc]
        if path.prev is None and parent_type is self.schema.subscription_type:  # type: ignore[attr-defined]
            # The subscription's root field, resolved once in the operation's task: its sink, if
            # the transport made one, sends this executor's results directly.
            sink = DIRECT_SINK.get()
            if sink is not None:
                sink.attach(self)
        return info

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
