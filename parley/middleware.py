"""ASGI middleware: a request id on every request and socket (taken from X-Request-ID or generated),
bound to the log context and echoed in the response; and the last resort for an error nothing else
answered: a JSON GraphQL error body with the request id, never a bare "Internal Server Error"."""

from __future__ import annotations

import json
import re

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infra.logs import get_logger, new_request_id, request_id_var

log = get_logger("parley.http")

VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        rid = incoming if incoming and VALID_REQUEST_ID.match(incoming) else new_request_id()
        token = request_id_var.set(rid)

        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["X-Request-ID"] = rid
                started = True
            elif message["type"] == "websocket.accept":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:  # the last resort: answer in the contract, log the rest
            log.error(
                "http.unhandled_error",
                error=type(exc).__name__,
                path=scope.get("path"),
                exc_info=(type(exc), exc, exc.__traceback__),
            )
            if started:
                return  # the response is under way: the client sees the connection end
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1011, "reason": "internal error"})
                return
            await send_internal_error(send, rid)
        finally:
            request_id_var.reset(token)


async def send_internal_error(send: Send, rid: str) -> None:
    """The last-resort answer: 500 with the masked error as the whole body."""
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"application/json; charset=utf-8"),
                (b"cache-control", b"no-store"),
                (b"x-request-id", rid.encode("latin-1")),
            ],
        }
    )
    await send({"type": "http.response.body", "body": internal_error_body(rid)})


def internal_error_body(rid: str) -> bytes:
    """The masked error of domain.errors / schema.extensions.error_contract, as the whole response."""
    extensions = {
        "code": "INTERNAL_SERVER_ERROR",
        "status": 500,
        "name": "ApplicationError",
        "details": {"requestId": rid},
        "requestId": rid,
    }
    return json.dumps({"errors": [{"message": "Internal server error", "extensions": extensions}]}).encode()
