"""The shape every mutation resolver shares: one transaction, and domain ValidationErrors turned
into the payload's typed errors with nothing committed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from domain.errors import ValidationError

P = TypeVar("P")


async def in_transaction(
    info: Any,
    work: Callable[[Any], Awaitable[P]],
    on_error: Callable[[list[Any]], P],
    to_errors: Callable[[ValidationError], list[Any]],
) -> P:
    try:
        async with info.context.transaction() as session:
            return await work(session)
    except ValidationError as exc:
        return on_error(to_errors(exc))
