"""Inputs of webhooks mutations and queries."""

from __future__ import annotations

import strawberry

from domain.webhooks.service import MAX_DESCRIPTION
from schema.webhooks.types import WebhookEventEnum


@strawberry.input(description="Create a webhook.")
class WebhookCreateInput:
    url: str = strawberry.field(
        description="http:// or https:// URL (up to 2048 characters) whose host resolves to public addresses only."
    )
    events: list[WebhookEventEnum] = strawberry.field(description="The events to receive (at least one).")
    description: str = strawberry.field(default="", description=f"Up to {MAX_DESCRIPTION} characters.")
    inbox_id: strawberry.ID | None = strawberry.field(default=None, description="Only events of this inbox.")


@strawberry.input(description="Change a webhook; omitted fields stay as they are.")
class WebhookUpdateInput:
    url: str | None = strawberry.field(default=strawberry.UNSET, description="New URL (checked like on creation).")
    events: list[WebhookEventEnum] | None = strawberry.field(
        default=strawberry.UNSET, description="New events (at least one)."
    )
    description: str | None = strawberry.field(default=strawberry.UNSET, description="New description.")
    inbox_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="New inbox filter; an explicit null removes the filter."
    )
    enabled: bool | None = strawberry.field(
        default=strawberry.UNSET,
        description="false disables the webhook; true enables it again and forgets past failures.",
    )
