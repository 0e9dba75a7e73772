"""How the API spells what it shows, in one place for the GraphQL schema and the webhook bodies:
opaque global IDs (`base64url("Type:pk")`) and camelCase names."""

from __future__ import annotations

import base64


def encode_global_id(type_name: str, pk: int | str) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")


def camel_case(name: str) -> str:
    """`snake_case` as the API spells it (`snakeCase`)."""
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def decode_global_id(value: str, type_name: str) -> int | None:
    """The primary key inside a global ID of `type_name`, or None for anything else."""
    if not isinstance(value, str) or len(value) > 200:
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    kind, _, pk = raw.partition(":")
    if kind != type_name or not (pk.isascii() and pk.isdigit()) or len(pk) > 18:
        return None
    return int(pk)
