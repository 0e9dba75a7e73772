"""Every actor module; importing this package registers them with workers.broker."""

from workers.actors import (  # noqa: F401  # noqa: F401
    assignment,
    attachments,
    automatic_messages,
    automation,
    contacts,
    diagnostics,
    email,
    email_replies,
    notifications,
    privacy,
    reports,
    webhooks,
)
