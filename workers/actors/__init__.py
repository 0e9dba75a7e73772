"""Every actor module; importing this package registers them with workers.broker."""

from workers.actors import diagnostics, email  # noqa: F401
from workers.actors import email_replies, notifications  # noqa: F401
from workers.actors import reports  # noqa: F401
from workers.actors import webhooks  # noqa: F401
from workers.actors import attachments  # noqa: F401
