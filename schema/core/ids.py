"""Opaque global IDs (`base64url("Type:pk")`). Decoding checks the type; authorization happens in the
repositories, which only find rows of the caller's account."""

from __future__ import annotations

import base64
import binascii

from domain.errors import NotFound
from infra.api_names import encode_global_id

MAX_ID_LENGTH = 100  # far above any real ID ("Type:<18 digits>" in base64): longer input is not decoded


def encode_id(type_name: str, pk: int | str) -> str:
    return encode_global_id(type_name, pk)


def decode_id(value: str, type_name: str) -> int:
    """The primary key inside a global ID of the given type; anything else is simply not found."""
    if not isinstance(value, str) or len(value) > MAX_ID_LENGTH:
        raise NotFound(f"No {type_name} with this ID")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        kind, _, pk = raw.partition(":")
        if kind != type_name or not (pk.isascii() and pk.isdigit()) or len(pk) > 18:
            raise ValueError
        return int(pk)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise NotFound(f"No {type_name} with this ID") from None


def decode_optional(value: str | None, type_name: str) -> int | None:
    return None if value is None else decode_id(value, type_name)
