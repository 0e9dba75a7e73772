"""The caps of the account's catalog: each list is small and complete, so an account holds at most
these numbers and is refused beyond them; the schema quotes them in its descriptions."""

from __future__ import annotations

MAX_TEAMS = 200
MAX_LABELS = 1000
MAX_CANNED_RESPONSES = 1000
MAX_DEFINITIONS_PER_MODEL = 200
MAX_USER_IDS = 100
MAX_LIST_VALUES = 100
MAX_DESCRIPTION = 1000
MAX_CANNED_CONTENT = 10_000
MAX_TEXT_VALUE = 1000  # a text attribute's value; keeps pattern checks well under a millisecond per value
MAX_LINK_VALUE = 2048
MAX_SEARCH = 100

DEFAULT_COLOR = "#1f93ff"
