"""Search across conversations, messages and contacts, scoped in SQL by the same visibility
predicate as the conversations list.

PostgreSQL: message content matches `websearch_to_tsquery('english', …)` against the stored,
GIN-indexed column `messages.content_tsv` (stemming, "quoted phrases", -negation), and a single plain
word also matches as a substring through the trigram index (partial words). Messages are ranked
with `ts_rank_cd` among the newest `RANK_WINDOW` matches; `ts_headline` runs only on the page
returned. SQLite (the embedded default) matches with LIKE, newest first, with a plain snippet.

Terms shorter than `MIN_TEXT` characters never scan: they match a displayId exactly and contact
name/email prefixes (btree indexes), never message content."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from db.models import Contact, Conversation, Message
from db.repositories.helpdesk import visible_conversations
from db.repositories.text_match import (
    CONFIG,
    MIN_TEXT,
    contact_matches,
    content_matches,
    content_tsv,
    conversation_matches,
    tsquery,
)
from db.session import dialect_name
from domain.accounts.actor import Actor, ActorKind

RANK_WINDOW = 200
_CONFIG = CONFIG
_HEADLINE_OPTIONS = "StartSel=<mark>, StopSel=</mark>, MaxWords=24, MinWords=8, MaxFragments=2"


def _private_allowed(actor: Actor) -> bool:
    """Private notes are for agents and administrators, not for bots."""
    return actor.kind != ActorKind.bot and actor.user_id is not None


def conversations_select(actor: Actor, term: str, *, offset: int, limit: int) -> Select[Any]:
    """The conversations section: visible ones matching `term`, most recently active first (the
    stock resolver and the compiled read, resolvers/fast_reads.py, both run it)."""
    return (
        select(Conversation)
        .where(visible_conversations(actor), conversation_matches(actor, term))
        .order_by(Conversation.last_activity_at.desc(), Conversation.id.desc())
        .offset(offset)
        .limit(limit)
    )


async def conversations(
    session: AsyncSession, actor: Actor, term: str, *, offset: int, limit: int
) -> Sequence[Conversation]:
    return (await session.scalars(conversations_select(actor, term, offset=offset, limit=limit))).all()


def contacts_select(account_id: int, term: str, *, offset: int, limit: int) -> Select[Any]:
    """The contacts section: the account's contacts matching `term`, newest first."""
    return (
        select(Contact)
        .where(Contact.account_id == account_id, contact_matches(term))
        .order_by(Contact.id.desc())
        .offset(offset)
        .limit(limit)
    )


async def contacts(session: AsyncSession, account_id: int, term: str, *, offset: int, limit: int) -> Sequence[Contact]:
    return (await session.scalars(contacts_select(account_id, term, offset=offset, limit=limit))).all()


@dataclass
class MessageHit:
    message: Message
    conversation: Conversation
    snippet: str


def _candidates(actor: Actor, term: str) -> Select[Any]:
    conds: list[ColumnElement[bool]] = [
        Message.account_id == actor.account_id,
        Message.deleted_at.is_(None),
        visible_conversations(actor),
        content_matches(term),
    ]
    if not _private_allowed(actor):
        conds.append(Message.private.is_(False))
    return (
        select(Message.id.label("id"))
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(and_(*conds))
        # Newest first along (account_id, created_at): a common word stops after a few hundred rows.
        .order_by(Message.created_at.desc(), Message.id.desc())
    )


async def messages(session: AsyncSession, actor: Actor, term: str, *, offset: int, limit: int) -> list[MessageHit]:
    """Messages matching `term`, best first, with a highlighted snippet; one statement."""
    if len(term) < MIN_TEXT or limit == 0:
        return []
    postgres = dialect_name(session) == "postgresql"
    if not postgres:
        cand = _candidates(actor, term).offset(offset).limit(limit).subquery()
        rows = (
            await session.execute(
                select(Message, Conversation)
                .join(cand, cand.c.id == Message.id)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .order_by(Message.created_at.desc(), Message.id.desc())
            )
        ).all()
        return [MessageHit(m, c, plain_snippet(m.content, term)) for m, c in rows]
    page = messages_page(actor, term, offset=offset, limit=limit)
    hits = (
        await session.execute(
            select(Message, Conversation, snippet_sql(term))
            .join(page, page.c.id == Message.id)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .order_by(page.c.rank.desc(), Message.id.desc())
        )
    ).all()
    return [MessageHit(row[0], row[1], str(row._mapping["snippet"])) for row in hits]


def messages_page(actor: Actor, term: str, *, offset: int, limit: int) -> Any:
    """PostgreSQL: the page of message ids (`id`, `rank`), best first among the newest
    `RANK_WINDOW` visible matches; the stock resolver and the compiled read join it the same way."""
    window = _candidates(actor, term).limit(RANK_WINDOW).subquery()
    rank = func.ts_rank_cd(content_tsv(), tsquery(term)).label("rank")
    return (
        select(Message.id.label("id"), rank)
        .join(window, window.c.id == Message.id)
        .order_by(rank.desc(), Message.id.desc())
        .offset(offset)
        .limit(limit)
        .subquery()
    )


def snippet_sql(term: str, width: int = 120) -> ColumnElement[str]:
    """PostgreSQL: `ts_headline` around the matched words, or — when the match was a partial word
    that full text does not mark — `plain_snippet` computed in SQL, labelled `snippet`."""
    marked = func.ts_headline(_CONFIG, Message.content, tsquery(term), _HEADLINE_OPTIONS)
    n = len(term)
    at = func.strpos(func.lower(Message.content), func.lower(literal(term))) - 1  # 0-based, -1 absent
    start = func.greatest(0, at - width // 3)
    end = func.least(func.char_length(Message.content), at + n + width // 2)
    content, length = Message.content, func.char_length(Message.content)
    plain = case(
        (at < 0, func.substr(content, 1, width)),
        else_=func.concat(
            case((start > 0, "…"), else_=""),
            func.substr(content, start + 1, at - start),
            "<mark>",
            func.substr(content, at + 1, n),
            "</mark>",
            func.substr(content, at + n + 1, end - at - n),
            case((end < length, "…"), else_=""),
        ),
    )
    return case((marked.contains("<mark>", autoescape=True), marked), else_=plain).label("snippet")


def plain_snippet(content: str, term: str, width: int = 120) -> str:
    """Text around the first occurrence of `term`, marked; the start of the content when absent."""
    at = content.lower().find(term.lower())
    if at < 0:
        return content[:width]
    start = max(0, at - width // 3)
    end = min(len(content), at + len(term) + width // 2)
    head = ("…" if start else "") + content[start:at]
    tail = content[at + len(term) : end] + ("…" if end < len(content) else "")
    return f"{head}<mark>{content[at : at + len(term)]}</mark>{tail}"
