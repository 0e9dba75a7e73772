"""The shape every mutation resolver shares: one transaction, and domain ValidationErrors turned
into the payload's typed errors with nothing committed; and, for writes that clients retry, the
`Idempotency-Key` header: a retry with the same key by the same caller gets the first result."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy.exc import IntegrityError

from domain import idempotency
from domain.errors import ValidationError

P = TypeVar("P")
IDEMPOTENCY_HEADER = "idempotency-key"


@dataclass(frozen=True)
class Keyed(Generic[P]):
    """How a mutation honours `Idempotency-Key`: its name and arguments (the request a key stands
    for), what of its payload to keep (`save`: the ids it shows) and how to rebuild the payload from
    that (`load`, in a session, for the same caller)."""

    operation: str
    arguments: dict[str, Any]
    save: Callable[[P], dict[str, Any]]
    load: Callable[[Any, dict[str, Any]], Awaitable[P]]


async def mutate(
    info: Any,
    errors: Callable[[ValidationError], list[Any]],
    work: Callable[[Any], Awaitable[P]],
    on_error: Callable[[list[Any]], P],
    keyed: Keyed[P] | None = None,
) -> P:
    """Run one mutation's `work` in one transaction (keyed by `Idempotency-Key` when `keyed` says
    how); a domain ValidationError rolls it back and becomes the payload `on_error` builds from the
    domain's typed `errors`."""
    try:
        if keyed is not None:
            return await keyed_transaction(info, work, keyed)
        async with info.context.transaction() as session:
            return await work(session)
    except ValidationError as exc:
        return on_error(errors(exc))


def idempotency_key(info: Any) -> str | None:
    """The request's `Idempotency-Key` (HTTP only; a WebSocket operation has no headers of its own)."""
    request = info.context.request
    if request is None or getattr(request, "scope", {}).get("type") != "http":
        return None
    return idempotency.parse_header(request.headers.get(IDEMPOTENCY_HEADER))


async def keyed_transaction(info: Any, work: Callable[[Any], Awaitable[P]], keyed: Keyed[P]) -> P:
    """Run `work` in one transaction that also stores the key and what its result refers to. A key
    seen before with the same request returns the first result and writes nothing; with another
    request it is refused (IDEMPOTENCY_KEY_REUSED). A write that fails stores no key, so a retry runs
    again. Without a key (or a caller to scope it by) this is a plain transaction."""
    ctx = info.context
    key = idempotency_key(info)
    scope = idempotency.scope_of(await ctx.actor()) if key is not None else None
    if key is None or scope is None:
        async with ctx.transaction() as session:
            return await work(session)
    scope_name, account_id = scope
    digest = idempotency.fingerprint(keyed.operation, keyed.arguments)
    ttl = timedelta(hours=ctx.settings.idempotency_key_ttl_hours)
    for attempt in range(3):
        reserving = False
        try:
            async with ctx.transaction() as session:
                row = await idempotency.find(session, scope_name, key)
                if row is not None:
                    idempotency.check_same_request(row, keyed.operation, digest)
                    return await keyed.load(session, row.result)
                reserving = True
                row = await idempotency.reserve(
                    session,
                    scope=scope_name,
                    account_id=account_id,
                    key=key,
                    operation=keyed.operation,
                    digest=digest,
                    ttl=ttl,
                )
                reserving = False
                payload = await work(session)
                row.result = keyed.save(payload)
                return payload
        except IntegrityError:
            # A concurrent request with this key committed first: replay its result.
            if not reserving or attempt == 2:
                raise
    raise AssertionError("unreachable")
