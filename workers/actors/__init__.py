"""Every actor module; importing this package registers them with workers.broker."""

from workers.actors import (  # noqa: F401  # noqa: F401
    assignment,
    attachments,
    contacts,
    diagnostics,
    email,
    email_replies,
    notifications,
    privacy,
    reports,
    webhooks,
)
