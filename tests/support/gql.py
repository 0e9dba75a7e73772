"""GraphQL clients for tests: HTTP through httpx, subscriptions through a graphql-transport-ws socket."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import httpx
import websockets


class GraphQLHTTP:
    def __init__(self, base_url: str, headers: dict[str, str] | None = None) -> None:
        self.base_url = base_url
        self.client = httpx.AsyncClient(base_url=base_url, headers=headers or {}, timeout=30)

    async def post(
        self, query: str, variables: dict | None = None, *, headers: dict | None = None, **extra
    ) -> httpx.Response:
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        body.update(extra)
        return await self.client.post("/graphql", json=body, headers=headers)

    async def execute(self, query: str, variables: dict | None = None, **kw) -> dict:
        """POST and return the JSON body, asserting a 200 response."""
        resp = await self.post(query, variables, **kw)
        assert resp.status_code == 200, (resp.status_code, resp.text)
        return resp.json()

    async def data(self, query: str, variables: dict | None = None, **kw) -> dict:
        """POST and return `data`, asserting there were no errors."""
        body = await self.execute(query, variables, **kw)
        assert not body.get("errors"), body["errors"]
        return body["data"]

    async def aclose(self) -> None:
        await self.client.aclose()


class SubscriptionSocket:
    """A minimal graphql-transport-ws client (the protocol of the `graphql-ws` npm library)."""

    def __init__(self, url: str, *, payload: dict | None = None, headers: dict | None = None) -> None:
        self.url = url
        self.payload = payload or {}
        self.headers = headers or {}
        self.ws: websockets.ClientConnection | None = None
        self._ids = itertools.count(1)

    async def connect(self) -> dict:
        self.ws = await websockets.connect(
            self.url, subprotocols=["graphql-transport-ws"], additional_headers=self.headers, open_timeout=10
        )
        await self.ws.send(json.dumps({"type": "connection_init", "payload": self.payload}))
        ack = await self.receive()
        if ack.get("type") != "connection_ack":
            raise AssertionError(f"expected connection_ack, got {ack}")
        return ack

    async def subscribe(self, query: str, variables: dict | None = None) -> str:
        op_id = str(next(self._ids))
        msg = {"id": op_id, "type": "subscribe", "payload": {"query": query, "variables": variables or {}}}
        await self.ws.send(json.dumps(msg))
        return op_id

    async def receive(self, timeout: float = 10) -> dict:
        while True:
            raw = await asyncio.wait_for(self.ws.recv(), timeout)
            msg = json.loads(raw)
            if msg.get("type") == "ping":
                await self.ws.send(json.dumps({"type": "pong"}))
                continue
            if msg.get("type") == "pong":
                continue
            return msg

    async def next_data(self, timeout: float = 10) -> dict:
        msg = await self.receive(timeout)
        assert msg["type"] == "next", msg
        assert not msg["payload"].get("errors"), msg["payload"]["errors"]
        return msg["payload"]["data"]

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    async def __aenter__(self) -> SubscriptionSocket:
        await self.connect()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()
