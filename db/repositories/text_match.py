"""Text matching that compiles per dialect: full-text with stemming (plus trigram substring for a
single word) on PostgreSQL, LIKE on SQLite. Shared by the search and the conversations filter."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, Select, String, and_, bindparam, literal, literal_column, or_, select, union
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import func
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import Boolean

from db.models import Contact, Conversation, Message
from domain.accounts.actor import Actor

MIN_TEXT = 3
WORD = re.compile(r"^\w+$")
CONFIG: ColumnElement[Any] = literal_column("'english'::regconfig")


def like_pattern(term: str, *, prefix: bool = False) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%" if prefix else "%" + escaped + "%"


def content_tsv() -> ColumnElement[Any]:
    """The stored, GIN-indexed vector of `messages.content` (migration 0017, PostgreSQL only: not mapped)."""
    return literal_column("messages.content_tsv")


def tsquery(term: str) -> ColumnElement[Any]:
    return func.websearch_to_tsquery(CONFIG, literal(term))


class ContentMatches(ColumnElement[bool]):
    """`messages.content` matches a search term. The term and its LIKE pattern are bound parameters
    and only the statement's shape enters the cache key, so the compiled SQL is reused across terms."""

    __visit_name__ = "content_matches"
    inherit_cache = True
    _traverse_internals = [
        ("query", InternalTraversal.dp_clauseelement),
        ("pattern", InternalTraversal.dp_clauseelement),
        ("single_word", InternalTraversal.dp_boolean),
    ]
    type = Boolean()

    def __init__(self, term: str) -> None:
        self.query = bindparam(None, term, type_=String(), unique=True)
        self.pattern = bindparam(None, like_pattern(term), type_=String(), unique=True)
        self.single_word = bool(WORD.match(term))


@compiles(ContentMatches)
def _like(element: ContentMatches, compiler: Any, **kw: Any) -> str:
    return "({})".format(compiler.process(Message.content.ilike(element.pattern, escape="\\"), **kw))


@compiles(ContentMatches, "postgresql")
def _full_text(element: ContentMatches, compiler: Any, **kw: Any) -> str:
    words = content_tsv().op("@@")(func.websearch_to_tsquery(CONFIG, element.query))
    if element.single_word:
        # A single word also matches inside longer words through the trigram index.
        either = or_(words, Message.content.ilike(element.pattern, escape="\\"))
        return f"({compiler.process(either, **kw)})"
    return f"({compiler.process(words, **kw)})"


def content_matches(term: str) -> ColumnElement[bool]:
    return ContentMatches(term)


def display_id_of(term: str) -> int | None:
    """ "#123" or "123" → 123."""
    digits = term[1:] if term.startswith("#") else term
    if digits.isascii() and digits.isdigit() and len(digits) <= 9:
        return int(digits)
    return None


class PrefixRange(ColumnElement[bool]):
    """`expr` starts with `prefix`, as a range a B-tree serves with the prefix as a bound parameter:
    `prefix <= expr < prefix with its last character's successor`, compared byte by byte (UTF-8 keeps
    code-point order). A `LIKE 'ab%'` reaches the index only when the planner sees the pattern itself,
    which a prepared statement's generic plan does not; the text_pattern_ops indexes of migration 0021
    take the `~>=~`/`~<~` operators on PostgreSQL."""

    __visit_name__ = "prefix_range"
    inherit_cache = True
    _traverse_internals = [
        ("expr", InternalTraversal.dp_clauseelement),
        ("low", InternalTraversal.dp_clauseelement),
        ("high", InternalTraversal.dp_clauseelement),
    ]
    type = Boolean()

    def __init__(self, expr: ColumnElement[Any], prefix: str, after: str) -> None:
        self.expr = expr
        self.low = bindparam(None, prefix, type_=String(), unique=True)
        self.high = bindparam(None, after, type_=String(), unique=True)


@compiles(PrefixRange)
def _binary_range(element: PrefixRange, compiler: Any, **kw: Any) -> str:
    expr = compiler.process(element.expr, **kw)
    return f"({expr} >= {compiler.process(element.low, **kw)} AND {expr} < {compiler.process(element.high, **kw)})"


@compiles(PrefixRange, "postgresql")
def _pattern_range(element: PrefixRange, compiler: Any, **kw: Any) -> str:
    expr = compiler.process(element.expr, **kw)
    low, high = compiler.process(element.low, **kw), compiler.process(element.high, **kw)
    return f"({expr} ~>=~ {low} AND {expr} ~<~ {high})"


def _successor(prefix: str) -> str | None:
    """The smallest string above every string that starts with `prefix`, or None."""
    last = ord(prefix[-1]) if prefix else 0x10FFFF
    if last >= 0x10FFFF or 0xD7FF <= last < 0xE000:
        return None
    return prefix[:-1] + chr(last + 1)


def starts_with(expr: ColumnElement[Any], prefix: str) -> ColumnElement[bool]:
    """`expr LIKE 'prefix%'`, plus the same as a range an index serves whatever the plan."""
    like = expr.like(like_pattern(prefix, prefix=True), escape="\\")
    after = _successor(prefix)
    return like if after is None else and_(PrefixRange(expr, prefix, after), like)


# The contacts' search text, exactly as the trigram index of migration 0004 has it: its constants
# are written into the statement, not bound, or no plan could match the index's expression.
_EMPTY = literal_column("''", String())
_SPACE = literal_column("' '", String())


def contact_haystack() -> ColumnElement[str]:
    return (
        func.coalesce(Contact.name, _EMPTY)
        + _SPACE
        + func.coalesce(Contact.email, _EMPTY)
        + _SPACE
        + func.coalesce(Contact.phone_number, _EMPTY)
        + _SPACE
        + func.coalesce(Contact.identifier, _EMPTY)
    )


def contact_matches(term: str) -> ColumnElement[bool]:
    if len(term) < MIN_TEXT:
        low = term.lower()
        return or_(
            starts_with(func.lower(Contact.name), low),
            starts_with(func.lower(Contact.email), low),
            Contact.phone_number == term,
            Contact.identifier == term,
        )
    # The trigram index of this same expression (migration 0004) serves the ILIKE.
    return contact_haystack().ilike(like_pattern(term), escape="\\")


def conversation_matches(actor: Actor, term: str, *more: Select[Any]) -> ColumnElement[bool]:
    """Conversations by displayId or by their contact's name, email, phone or identifier, plus any
    `more` id sets: a UNION of id sets, each driven by its own index (an OR across the tables would
    defeat them all)."""
    in_account = Conversation.account_id == actor.account_id
    sets: list[Select[Any]] = []
    number = display_id_of(term)
    if number is not None:
        sets.append(select(Conversation.id).where(in_account, Conversation.display_id == number))
    contact_ids = select(Contact.id).where(Contact.account_id == actor.account_id, contact_matches(term))
    sets.append(select(Conversation.id).where(in_account, Conversation.contact_id.in_(contact_ids)))
    return Conversation.id.in_(union(*sets, *more))
