"""uvicorn's WebSocket protocol (websockets' sans-I/O implementation) with less held per socket.

An idle subscribed socket is mostly what the server keeps to read and write it. Measured with
tracemalloc over 500 subscribed sockets, uvicorn's protocol held per socket an `asyncio.Queue` for
the frames the application has not read yet (four empty deques: ~3 KB), an `asyncio.Event` telling
whether the transport takes more writes (one deque: 0.76 KB), and the handshake's request and
response with their headers (~2.5 KB) for the socket's whole life, though nothing reads them once
the handshake is answered. Here the queue is a list with a waiter, the event a flag with waiters
made only when somebody waits, and the handshake is dropped once it is answered.

The class keeps uvicorn's behaviour otherwise: it only replaces attributes it set in `__init__`,
with objects answering the same calls (`put_nowait`, `get`, `empty`; `set`, `clear`, `wait`).
`uvicorn_options()` is what `parley serve` and the tests' live server both run with."""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from infra.wakeup import Flag, Inbox


class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = Inbox()  # type: ignore[assignment]
        self.writable = Flag(True)  # type: ignore[assignment]

    async def run_asgi(self) -> None:
        # The real-time hub writes subscription frames to the protocol itself (parley/graphql_view.py
        # TransportWSHandler): it finds it, and whether it takes writes, in the scope.
        self.scope["parley.ws_protocol"] = self  # type: ignore[typeddict-unknown-key]
        await super().run_asgi()

    async def send(self, message: Any) -> None:
        await super().send(message)
        if self.handshake_complete and getattr(self, "request", None) is not None:
            # Answered (accepted or refused): the handshake's request and response are not read again.
            self.request = None  # type: ignore[assignment]
            self.response = None  # type: ignore[assignment]


def uvicorn_options() -> dict[str, Any]:
    return {
        "ws": LeanWebSocketProtocol,
        # Subscription frames are small: compressing each costs more CPU (and a zlib context of
        # ~64 KB per socket) than it saves on the wire.
        "ws_per_message_deflate": False,
    }
