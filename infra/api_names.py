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
