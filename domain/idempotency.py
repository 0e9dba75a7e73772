"""Idempotency keys of write mutations (the IETF `Idempotency-Key` header): a key names one request
of one caller; the first request's result is kept with the key, in the transaction of its write, so a
retry gets that result and writes nothing, and the same key with another request is refused."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import IdempotencyKey
from domain.accounts.actor import Actor
from domain.errors import BadUserInput, IdempotencyKeyReused

MAX_KEY_LENGTH = 255


def parse_header(value: str | None) -> str | None:
    """The key from an `Idempotency-Key` header: a Structured Fields string (`"…"`, as the draft
    says) or, as many clients send it, a bare token. Printable ASCII, 1–255 characters."""
    if value is None:
        return None
    raw = value.strip()
    if raw.startswith('"'):
        if len(raw) < 2 or not raw.endswith('"'):
            raise BadUserInput("Idempotency-Key: an unterminated string", field="Idempotency-Key")
        inner, out, escaped = raw[1:-1], [], False
        for ch in inner:
            if escaped:
                if ch not in '"\\':
                    raise BadUserInput('Idempotency-Key: only \\" and \\\\ may be escaped', field="Idempotency-Key")
                out.append(ch)
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                raise BadUserInput(
                    "Idempotency-Key: a quote inside the string must be escaped", field="Idempotency-Key"
                )
            else:
                out.append(ch)
        if escaped:
            raise BadUserInput("Idempotency-Key: an unterminated escape", field="Idempotency-Key")
        raw = "".join(out)
    if not raw or len(raw) > MAX_KEY_LENGTH or not all(" " <= ch <= "~" for ch in raw):
        raise BadUserInput(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters", field="Idempotency-Key"
        )
    return raw


def scope_of(actor: Actor) -> tuple[str, int | None] | None:
    """Whose keys these are: a contact session, an API token, a bot or a user, within one account.
    None: nobody to scope by (anonymous), keys are not honoured."""
    contact_inbox_id = getattr(actor, "contact_inbox_id", None)
    if contact_inbox_id is not None:
        account_id = getattr(actor, "widget_account_id", None)
        return f"a{account_id}:contact-session:{contact_inbox_id}", account_id
    if actor.account_id is None:
        return None
    if actor.api_token_id is not None:
        return f"a{actor.account_id}:token:{actor.api_token_id}", actor.account_id
    if actor.bot_id is not None:
        return f"a{actor.account_id}:bot:{actor.bot_id}", actor.account_id
    if actor.user_id is not None:
        return f"a{actor.account_id}:user:{actor.user_id}", actor.account_id
    return None


def _plain(value: Any) -> Any:
    """A canonical, JSON-able form of resolver arguments (inputs are dataclasses; UNSET is left out,
    so an omitted field and an explicit null differ)."""
    import strawberry

    if value is strawberry.UNSET:
        return {"$unset": True}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if getattr(value, f.name) is not strawberry.UNSET
        }
    if isinstance(value, Enum):
        return _plain(value.value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def fingerprint(operation: str, arguments: dict[str, Any]) -> str:
    body = json.dumps({"operation": operation, "arguments": _plain(arguments)}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


async def find(session: AsyncSession, scope: str, key: str) -> IdempotencyKey | None:
    return await session.scalar(
        select(IdempotencyKey).where(
            IdempotencyKey.scope == scope, IdempotencyKey.key == key, IdempotencyKey.expires_at > utcnow()
        )
    )


def check_same_request(row: IdempotencyKey, operation: str, digest: str) -> None:
    if row.operation != operation or row.fingerprint != digest:
        raise IdempotencyKeyReused()


async def reserve(
    session: AsyncSession, *, scope: str, account_id: int | None, key: str, operation: str, digest: str, ttl: timedelta
) -> IdempotencyKey:
    """Insert the key first in the write's transaction. On PostgreSQL a concurrent request with the
    same key waits here until this transaction ends, then fails on the unique key (and replays the
    result committed here) or, if this one rolled back, goes ahead itself."""
    await session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.scope == scope, IdempotencyKey.key == key, IdempotencyKey.expires_at <= utcnow()
        )
    )
    now = utcnow()
    row = IdempotencyKey(
        account_id=account_id,
        scope=scope,
        key=key,
        operation=operation,
        fingerprint=digest,
        result={},
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(row)
    await session.flush()
    return row
