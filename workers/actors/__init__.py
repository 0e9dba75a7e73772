"""Every actor module; importing this package registers them with workers.broker."""

from workers.actors import diagnostics, email  # noqa: F401
