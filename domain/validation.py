"""Input checks that stay linear in the size of their input: a length check first, then plain string
operations or a regular expression without nested or overlapping repetitions. Every format check on
user input goes through here, so no request can make the server backtrack."""

from __future__ import annotations

import re

MAX_EMAIL = 254  # RFC 5321: a forward-path holds at most 256 octets, two of them the angle brackets
MAX_EMAIL_LOCAL = 64
MAX_DOMAIN_LABEL = 63
# Characters an unquoted address never holds (RFC 5322 specials), besides whitespace and controls.
_EMAIL_SPECIALS = frozenset('()<>[]\\,;:"@')


def _plain_chars(text: str) -> bool:
    return text.isprintable() and not any(c.isspace() or c in _EMAIL_SPECIALS for c in text)


def is_email(value: str) -> bool:
    """Whether `value` looks like a deliverable address: `local@domain.tld`, at most 254 characters,
    local part at most 64, domain labels non-empty and at most 63, top-level label of two or more.
    One pass over at most 254 characters, whatever the input."""
    if not isinstance(value, str) or not 3 <= len(value) <= MAX_EMAIL:
        return False
    local, at, domain = value.rpartition("@")
    if not at or not 1 <= len(local) <= MAX_EMAIL_LOCAL or not domain:
        return False
    if not _plain_chars(local) or not _plain_chars(domain):
        return False
    labels = domain.split(".")
    if len(labels) < 2 or len(labels[-1]) < 2:
        return False
    return all(1 <= len(label) <= MAX_DOMAIN_LABEL for label in labels)


def matches(pattern: re.Pattern[str], value: object, max_length: int) -> bool:
    """`pattern.fullmatch(value)` for a string of at most `max_length` characters: the length check runs
    first, so even a pattern with repetitions only ever sees short input."""
    return isinstance(value, str) and len(value) <= max_length and pattern.fullmatch(value) is not None


def strip_chars(value: str, chars: str) -> str:
    """`value` without any of `chars` (a linear `str.translate`, no regular expression)."""
    return value.translate({ord(c): None for c in chars})
