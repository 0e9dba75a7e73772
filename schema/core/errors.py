"""Shared error types of mutation payloads and the helper that fills them from a domain ValidationError."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Generic, TypeVar

from domain.errors import ValidationError

E = TypeVar("E")


def errors_from(exc: ValidationError, error_type: type[E], code_enum: type[Enum]) -> list[E]:
    """Map a domain ValidationError to a payload's typed error list (unknown codes become INVALID)."""
    out = []
    for err in exc.errors:
        try:
            code = code_enum[err.code]
        except KeyError:
            code = code_enum["INVALID"]
        out.append(error_type(field=err.field, code=code, message=err.message))  # type: ignore[call-arg]
    return out


@dataclass(frozen=True)
class PayloadErrors(Generic[E]):
    """One domain's payload errors: its error type and code enum, called with a ValidationError."""

    error_type: type[E]
    code_enum: type[Enum]

    def __call__(self, exc: ValidationError) -> list[E]:
        return errors_from(exc, self.error_type, self.code_enum)
