"""Root fields of notifications and notification settings: every one acts on the caller's own, in the
current account (users only; bots have no notifications)."""

from __future__ import annotations

import strawberry

from domain.accounts.policy import Rule
from resolvers import notifications as n
from schema.core.access import field, mutation
from schema.core.pagination import Connection
from schema.notifications import types as t


@strawberry.type
class NotificationsQuery:
    notifications: Connection[t.Notification] = field(
        n.notifications,
        Rule.agent,
        "Your notifications in this account, newest first (about conversations you may still see); keyset cursors.",
    )
    notification_unread_count: int = field(
        n.notification_unread_count, Rule.agent, "How many of your notifications in this account are unread."
    )
    notification_settings: list[t.NotificationSetting] = field(
        n.notification_settings,
        Rule.agent,
        "Your notification settings in this account, one per type. Defaults (as Chatwoot): in the app everything "
        "but new conversations; by email only assignments.",
    )


@strawberry.type
class NotificationsMutation:
    notification_mark_read: t.NotificationMarkReadPayload = mutation(
        n.notification_mark_read,
        Rule.agent,
        "Mark some of your notifications read (all of them yours, or nothing changes).",
    )
    notification_mark_all_read: t.NotificationMarkAllReadPayload = mutation(
        n.notification_mark_all_read, Rule.agent, "Mark all your notifications in this account read."
    )
    notification_delete: t.NotificationDeletePayload = mutation(
        n.notification_delete, Rule.agent, "Delete one of your notifications."
    )
    notification_settings_update: t.NotificationSettingsUpdatePayload = mutation(
        n.notification_settings_update,
        Rule.agent,
        "Choose, per type, whether you are told in the app and by email (in this account).",
    )
