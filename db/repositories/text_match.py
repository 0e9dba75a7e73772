"""Text matching that compiles per dialect: full-text with stemming (plus trigram substring for a
single word) on PostgreSQL, LIKE on SQLite. Shared by the search and the conversations filter."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, literal, literal_column, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import func
from sqlalchemy.sql.expression import ColumnClause
from sqlalchemy.types import Boolean

from db.models import Contact, Conversation, Message
from domain.accounts.actor import Actor

MIN_TEXT = 3
WORD = re.compile(r"^\w+$")
CONFIG: ColumnElement[Any] = literal_column("'english'::regconfig")


def like_pattern(term: str, *, prefix: bool = False) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%" if prefix else "%" + escaped + "%"


def tsvector(column: Any) -> ColumnElement[Any]:
    """The indexed expression (migration 0017): keep it byte for byte."""
    return func.to_tsvector(CONFIG, column)


def tsquery(term: str) -> ColumnElement[Any]:
    return func.websearch_to_tsquery(CONFIG, literal(term))


class ContentMatches(ColumnClause[bool]):
    """`messages.content` matches a search term."""

    inherit_cache = False

    def __init__(self, term: str) -> None:
        super().__init__("content_matches", type_=Boolean())
        self.term = term


@compiles(ContentMatches)
def _like(element: ContentMatches, compiler: Any, **kw: Any) -> str:
    return "({})".format(compiler.process(Message.content.ilike(like_pattern(element.term), escape="\\"), **kw))


@compiles(ContentMatches, "postgresql")
def _full_text(element: ContentMatches, compiler: Any, **kw: Any) -> str:
    words = tsvector(Message.content).op("@@")(tsquery(element.term))
    if WORD.match(element.term):
        # A single word also matches inside longer words through the trigram index.
        either = or_(words, Message.content.ilike(like_pattern(element.term), escape="\\"))
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


def conversation_matches(actor: Actor, term: str) -> ColumnElement[bool]:
    """Conversations by displayId or by their contact's name, email, phone or identifier."""
    conds: list[ColumnElement[bool]] = []
    number = display_id_of(term)
    if number is not None:
        conds.append(Conversation.display_id == number)
    contact_ids = select(Contact.id).where(Contact.account_id == actor.account_id, contact_matches(term))
    conds.append(Conversation.contact_id.in_(contact_ids))
    return or_(*conds)
