"""Diagnostics: checks that the wiring (API, broadcast, broker, worker) delivers end to end."""

from __future__ import annotations

import re

from domain.errors import FieldError, ValidationError
from domain.events.channels import diagnostics_channel

TOPIC_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MAX_MESSAGE = 1000


def channel_for(topic: str) -> str:
    return diagnostics_channel(topic)


def validate_ping(topic: str, message: str) -> None:
    errors = []
    if not TOPIC_RE.match(topic):
        errors.append(FieldError("topic", "INVALID", "Use 1 to 64 letters, digits, '.', '_' or '-'."))
    if len(message) > MAX_MESSAGE:
        errors.append(FieldError("message", "TOO_LONG", f"At most {MAX_MESSAGE} characters."))
    if errors:
        raise ValidationError(errors)
