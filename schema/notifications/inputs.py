"""Inputs of notifications mutations and queries."""

from __future__ import annotations

import strawberry

from schema.notifications.types import NotificationTypeEnum


@strawberry.input(description="Notifications to mark read.")
class NotificationMarkReadInput:
    ids: list[strawberry.ID] = strawberry.field(description="Your notifications' IDs, 1 to 100.")


@strawberry.input(description="The notification to delete.")
class NotificationDeleteInput:
    id: strawberry.ID = strawberry.field(description="Your notification's ID.")


@strawberry.input(description="A change of one type's setting; a channel left out stays as it is.")
class NotificationSettingInput:
    notification_type: NotificationTypeEnum = strawberry.field(description="The type.")
    in_app: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Show it in the app (null is refused)."
    )
    email: bool | None = strawberry.field(default=strawberry.UNSET, description="Send it by email (null is refused).")


@strawberry.input(description="Changes to your notification settings in the current account.")
class NotificationSettingsUpdateInput:
    settings: list[NotificationSettingInput] = strawberry.field(
        description="One entry per type to change (at most one per type)."
    )
