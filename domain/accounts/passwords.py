"""Password hashing with bcrypt (cost ≥ 12). bcrypt reads at most 72 bytes, so longer passwords are
refused rather than silently truncated."""

from __future__ import annotations

import asyncio

import bcrypt

from domain.errors import FieldError

BCRYPT_COST = 12
MIN_LENGTH = 8
MAX_BYTES = 72
# Compared against when the email is unknown, so a miss costs as much time as a wrong password.
_DUMMY_HASH = bcrypt.hashpw(b"parley-dummy-password", bcrypt.gensalt(rounds=BCRYPT_COST))


def password_problem(password: str, field: str = "password") -> FieldError | None:
    if len(password) < MIN_LENGTH:
        return FieldError(field, "PASSWORD_TOO_SHORT", f"Use at least {MIN_LENGTH} characters.")
    if len(password.encode("utf-8")) > MAX_BYTES:
        return FieldError(
            field, "PASSWORD_TOO_LONG", f"Use at most {MAX_BYTES} bytes (UTF-8); accented letters and emoji count as several."
        )
    return None


def _hash(password: str, cost: int) -> str:
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds=cost)).decode("ascii")


def _verify(password: str, hashed: str | None) -> bool:
    raw = password.encode("utf-8")
    if len(raw) > MAX_BYTES:
        return False
    if not hashed:
        bcrypt.checkpw(b"parley-dummy-password", _DUMMY_HASH)
        return False
    return bcrypt.checkpw(raw, hashed.encode("ascii"))


async def hash_password(password: str, cost: int = BCRYPT_COST) -> str:
    # ~0.2 s of CPU: off the event loop.
    return await asyncio.to_thread(_hash, password, cost)


async def verify_password(password: str, hashed: str | None) -> bool:
    return await asyncio.to_thread(_verify, password, hashed)
