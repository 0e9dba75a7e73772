"""Text matching that compiles per dialect: full-text with stemming (plus trigram substring for a
single word) on PostgreSQL, LIKE on SQLite. Shared by the search and the conversations filter."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, Select, String, bindparam, literal, literal_column, or_, select, union
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


def contact_matches(term: str) -> ColumnElement[bool]:
    if len(term) < MIN_TEXT:
        low = term.lower()
        return or_(
            func.lower(Contact.name).like(like_pattern(low, prefix=True), escape="\\"),
            func.lower(Contact.email).like(like_pattern(low, prefix=True), escape="\\"),
            Contact.phone_number == term,
            Contact.identifier == term,
        )
    haystack = (
        func.coalesce(Contact.name, "")
        + " "
        + func.coalesce(Contact.email, "")
        + " "
        + func.coalesce(Contact.phone_number, "")
        + " "
        + func.coalesce(Contact.identifier, "")
    )
    # The trigram index of this same expression (migration 0004) serves the ILIKE.
    return haystack.ilike(like_pattern(term), escape="\\")


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
