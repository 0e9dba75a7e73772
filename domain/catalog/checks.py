"""Checks every part of the catalog applies the same way: required and bounded text, the caps on a
list, and a flush that turns a lost race on a unique name into the same TAKEN error."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from domain.catalog.limits import MAX_DESCRIPTION
from domain.errors import FieldError, ValidationError


def required(value: str, field: str, errors: list[FieldError], max_len: int) -> str:
    """The value stripped; REQUIRED when blank, TOO_LONG beyond `max_len`."""
    value = value.strip()
    if not value:
        errors.append(FieldError(field, "REQUIRED", "This field is required."))
    elif len(value) > max_len:
        errors.append(FieldError(field, "TOO_LONG", f"At most {max_len} characters."))
    return value


def description_of(value: str, errors: list[FieldError], field: str = "description") -> str:
    """A free-text description, stripped; TOO_LONG beyond MAX_DESCRIPTION."""
    if len(value) > MAX_DESCRIPTION:
        errors.append(FieldError(field, "TOO_LONG", f"At most {MAX_DESCRIPTION} characters."))
    return value.strip()


def refuse_beyond(count: int, maximum: int, what: str) -> None:
    """LIMIT_REACHED when the account already holds `maximum` of `what`."""
    if count >= maximum:
        raise ValidationError.single(None, "LIMIT_REACHED", f"An account can have at most {maximum} {what}.")


async def flush_unique(session: AsyncSession, field: str, message: str) -> None:
    """Flush; a unique violation from a concurrent request that won the race becomes the same TAKEN
    error the caller's own check gives (the transaction is rolled back by the boundary)."""
    try:
        await session.flush()
    except IntegrityError:
        raise ValidationError.single(field, "TAKEN", message) from None
