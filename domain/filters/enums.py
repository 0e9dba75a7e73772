"""Words of Chatwoot's filter payload: operators, how conditions chain, the kinds of attributes."""

from __future__ import annotations

from enum import StrEnum


class FilterOperator(StrEnum):
    EQUAL_TO = "equal_to"
    NOT_EQUAL_TO = "not_equal_to"
    CONTAINS = "contains"
    DOES_NOT_CONTAIN = "does_not_contain"
    IS_PRESENT = "is_present"
    IS_NOT_PRESENT = "is_not_present"
    IS_GREATER_THAN = "is_greater_than"
    IS_LESS_THAN = "is_less_than"
    DAYS_BEFORE = "days_before"
    STARTS_WITH = "starts_with"


class QueryOperator(StrEnum):
    AND = "and"
    OR = "or"


class AttributeKind(StrEnum):
    """How a value is read and compared: a custom attribute's kind follows its display type."""

    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    LIST = "list"
    CHECKBOX = "checkbox"
    LINK = "link"
    CHOICE = "choice"  # a standard column with fixed values (status, priority)
    REFERENCE = "reference"  # a standard column holding another record's id (inbox, assignee, team)
    LABELS = "labels"


class ConversationTab(StrEnum):
    """The conversation list's tabs (Chatwoot's assignee_type and conversation_type)."""

    MINE = "mine"
    UNASSIGNED = "unassigned"
    ALL = "all"
    MENTIONS = "mentions"
    PARTICIPATING = "participating"
    UNATTENDED = "unattended"


class SavedViewKind(StrEnum):
    """The list a saved view filters."""

    CONVERSATION = "conversation"
    CONTACT = "contact"
