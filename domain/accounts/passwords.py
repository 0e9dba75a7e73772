"""Password hashing with bcrypt (cost PARLEY_BCRYPT_ROUNDS, 12 unless set; production refuses less than
10). bcrypt reads at most 72 bytes, so longer passwords are refused rather than silently truncated."""

from __future__ import annotations

import asyncio

import bcrypt

from domain.errors import FieldError

MIN_LENGTH = 8
MAX_BYTES = 72
_cost: int | None = None  # None until first use: then the configured PARLEY_BCRYPT_ROUNDS
# Compared against when the email is unknown, so a miss costs as much time as a wrong password; made
# at the configured cost, on first use.
_dummy_hash: bytes | None = None


def use_cost(rounds: int) -> None:
    """Hash new passwords with `rounds` from now on in this process (instead of PARLEY_BCRYPT_ROUNDS)."""
    global _cost, _dummy_hash
    _cost, _dummy_hash = rounds, None


def current_cost() -> int:
    global _cost
    if _cost is None:
        from infra.settings import get_settings

        _cost = get_settings().bcrypt_rounds
    return _cost


def _dummy() -> bytes:
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = bcrypt.hashpw(b"parley-dummy-password", bcrypt.gensalt(rounds=current_cost()))
    return _dummy_hash


def password_problem(password: str, field: str = "password") -> FieldError | None:
    if len(password) < MIN_LENGTH:
        return FieldError(field, "PASSWORD_TOO_SHORT", f"Use at least {MIN_LENGTH} characters.")
    if len(password.encode("utf-8")) > MAX_BYTES:
        return FieldError(
            field,
            "PASSWORD_TOO_LONG",
            f"Use at most {MAX_BYTES} bytes (UTF-8); accented letters and emoji count as several.",
        )
    return None


def _hash(password: str, cost: int) -> str:
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds=cost)).decode("ascii")


def _verify(password: str, hashed: str | None) -> bool:
    raw = password.encode("utf-8")
    if len(raw) > MAX_BYTES:
        return False
    if not hashed:
        bcrypt.checkpw(b"parley-dummy-password", _dummy())
        return False
    return bcrypt.checkpw(raw, hashed.encode("ascii"))


async def hash_password(password: str, cost: int | None = None) -> str:
    # ~0.2 s of CPU at cost 12: off the event loop.
    return await asyncio.to_thread(_hash, password, cost or current_cost())


async def verify_password(password: str, hashed: str | None) -> bool:
    return await asyncio.to_thread(_verify, password, hashed)
