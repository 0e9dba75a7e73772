"""Relay connections with keyset cursors: the cursor is the opaque sort key of the edge's row."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import strawberry

from domain.errors import BadUserInput

T = TypeVar("T")
DEFAULT_PAGE = 25
MAX_PAGE = 100
MAX_CURSOR_LENGTH = 200  # cursors we issue are far shorter; longer input is refused before decoding


@strawberry.type(description="Where a page of a connection sits.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="More items follow this page.")
    has_previous_page: bool = strawberry.field(description="Items precede this page (true when `after` was given).")
    start_cursor: str | None = strawberry.field(description="Cursor of the first edge.")
    end_cursor: str | None = strawberry.field(description="Cursor of the last edge; pass it as `after`.")


@strawberry.type(description="An item of a connection with its cursor.")
class Edge(Generic[T]):
    cursor: str = strawberry.field(description="Opaque position of this item.")
    node: T = strawberry.field(description="The item.")


@strawberry.type(description="A page of items.")
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(description="The items of this page with their cursors.")
    page_info: PageInfo = strawberry.field(description="Paging information.")

    @strawberry.field(description="The items of this page.")
    def nodes(self) -> list[T]:
        return [e.node for e in self.edges]


def encode_cursor(value: str | int) -> str:
    return base64.urlsafe_b64encode(f"c:{value}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise BadUserInput("Invalid cursor", field="after")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except Exception:  # noqa: BLE001
        raise BadUserInput("Invalid cursor", field="after") from None
    if not raw.startswith("c:"):
        raise BadUserInput("Invalid cursor", field="after")
    return raw[2:]


def decode_int_cursor(cursor: str | None) -> int | None:
    value = decode_cursor(cursor)
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise BadUserInput("Invalid cursor", field="after")
    return int(value)


def page_size(first: int | None) -> int:
    if first is None:
        return DEFAULT_PAGE
    if first < 0 or first > MAX_PAGE:
        raise BadUserInput(f"`first` must be between 0 and {MAX_PAGE}", field="first")
    return first


def build_connection(rows: Sequence, limit: int, to_node: Callable, key: Callable, had_after: bool) -> Connection:
    """`rows` was fetched with limit + 1 so we know whether another page follows."""
    has_next = len(rows) > limit
    rows = rows[:limit]
    edges = [Edge(cursor=encode_cursor(key(r)), node=to_node(r)) for r in rows]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=has_next,
            has_previous_page=had_after,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )
