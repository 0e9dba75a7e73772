"""Queries of inboxes, contacts, conversations and messages. Conversation visibility (Chatwoot's
permission filter) is one SQL predicate, applied to every conversation read and write."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Column,
    Integer,
    Select,
    Table,
    and_,
    bindparam,
    case,
    delete,
    exists,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.sql import ColumnElement, operators, visitors
from sqlalchemy.sql.elements import BinaryExpression, BindParameter, BooleanClauseList, Grouping, Null, TypeCoerce
from sqlalchemy.sql.selectable import Exists, ScalarSelect

from db.base import utcnow
from db.models import (
    Account,
    AccountMembership,
    Contact,
    ContactInbox,
    ContactLabel,
    ContactNote,
    Conversation,
    ConversationLabel,
    ConversationParticipant,
    Inbox,
    InboxMember,
    Label,
    Mention,
    Message,
    User,
)
from db.repositories.text_match import MIN_TEXT, contact_matches, content_matches, conversation_matches
from db.session import dialect_name
from domain.accounts.actor import Actor, ActorKind
from domain.enums import ConversationStatus, MessageType, Permission

Shape = tuple[object, ...]
_CONVERSATION_GRANTS = (
    Permission.CONVERSATION_MANAGE.value,
    Permission.CONVERSATION_UNASSIGNED_MANAGE.value,
    Permission.CONVERSATION_PARTICIPATING_MANAGE.value,
)


def _visibility_shape(actor: Actor) -> Shape:
    """What decides the form of an actor's visibility predicate (not its values)."""
    if actor.kind == ActorKind.bot and actor.bot_id is not None:
        return ("inbox_bot",)
    if actor.is_administrator or actor.kind == ActorKind.bot:
        return ("account",)
    if actor.user_id is None:
        return ("none",)
    return ("user", *(p in actor.permissions for p in _CONVERSATION_GRANTS))


def _visibility(shape: Shape, account_id: Any, user_id: Any, bot_id: Any) -> ColumnElement[bool]:
    in_account: ColumnElement[bool] = Conversation.account_id == account_id
    if shape[0] == "inbox_bot":
        bot_inboxes = select(Inbox.id).where(Inbox.account_id == account_id, Inbox.bot_id == bot_id)
        return and_(in_account, Conversation.inbox_id.in_(bot_inboxes))
    if shape[0] == "account":
        return in_account
    if shape[0] == "none":
        return false()
    manage, unassigned, participating_grant = shape[1:]
    my_inboxes = Conversation.inbox_id.in_(select(InboxMember.inbox_id).where(InboxMember.user_id == user_id))
    mine = Conversation.assignee_id == user_id
    participating = exists().where(
        ConversationParticipant.conversation_id == Conversation.id, ConversationParticipant.user_id == user_id
    )
    grants: list[ColumnElement[bool]] = []
    if manage:
        grants.append(my_inboxes)
    if unassigned:
        grants.append(and_(my_inboxes, or_(Conversation.assignee_id.is_(None), mine)))
    if participating_grant:
        grants.append(or_(mine, participating))
    if not grants:
        return false()
    return and_(in_account, or_(*grants))


def visible_conversations(actor: Actor) -> ColumnElement[bool]:
    """Administrators and account-wide bots (partner apps) see the whole account; an agent bot the
    conversations of the inboxes connected to it; agents see the conversations of inboxes they
    belong to, narrowed by a custom role: all of them (conversation_manage), unassigned or theirs
    (conversation_unassigned_manage), or theirs and those they take part in
    (conversation_participating_manage). No conversation permission: none."""
    return _visibility(_visibility_shape(actor), actor.account_id, actor.user_id, actor.bot_id)


async def inbox_in_account(
    session: AsyncSession, account_id: int, inbox_id: int, *, lock: bool = False
) -> Inbox | None:
    stmt = select(Inbox).where(Inbox.id == inbox_id, Inbox.account_id == account_id)
    return await session.scalar(stmt.with_for_update() if lock else stmt)


async def inboxes_of_bot(session: AsyncSession, account_id: int, bot_id: int) -> Sequence[Inbox]:
    """The inboxes a bot answers (row-locked: the caller changes them)."""
    stmt = select(Inbox).where(Inbox.account_id == account_id, Inbox.bot_id == bot_id).order_by(Inbox.id)
    return (await session.scalars(stmt.with_for_update())).all()


async def bots_of_inboxes(session: AsyncSession, inbox_ids: Sequence[int]) -> dict[int, int]:
    """inbox id -> the id of the bot connected to it, for those that have one."""
    if not inbox_ids:
        return {}
    rows = await session.execute(
        select(Inbox.id, Inbox.bot_id).where(Inbox.id.in_(list(inbox_ids)), Inbox.bot_id.is_not(None))
    )
    return {inbox_id: bot_id for inbox_id, bot_id in rows if bot_id is not None}


async def inboxes_of_account(
    session: AsyncSession, account_id: int, user_id: int | None = None, bot_id: int | None = None
) -> Sequence[Inbox]:
    stmt = select(Inbox).where(Inbox.account_id == account_id)
    if bot_id is not None:
        stmt = stmt.where(Inbox.bot_id == bot_id)
    if user_id is not None:
        stmt = stmt.where(Inbox.id.in_(select(InboxMember.inbox_id).where(InboxMember.user_id == user_id)))
    return (await session.scalars(stmt.order_by(Inbox.id))).all()


async def inbox_member_ids(session: AsyncSession, inbox_id: int) -> list[int]:
    return list((await session.scalars(select(InboxMember.user_id).where(InboxMember.inbox_id == inbox_id))).all())


async def members_of_account(session: AsyncSession, account_id: int, user_ids: Sequence[int]) -> set[int]:
    rows = await session.scalars(
        select(AccountMembership.user_id).where(
            AccountMembership.account_id == account_id, AccountMembership.user_id.in_(list(user_ids))
        )
    )
    return set(rows)


async def is_inbox_member(session: AsyncSession, inbox_id: int, user_id: int) -> bool:
    return bool(
        await session.scalar(
            select(func.count()).where(InboxMember.inbox_id == inbox_id, InboxMember.user_id == user_id)
        )
    )


async def contact_in_account(
    session: AsyncSession, account_id: int, contact_id: int, *, lock: bool = False
) -> Contact | None:
    stmt = select(Contact).where(Contact.id == contact_id, Contact.account_id == account_id)
    if lock:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)


async def contact_by_email(session: AsyncSession, account_id: int, email: str) -> Contact | None:
    return await session.scalar(
        select(Contact).where(Contact.account_id == account_id, func.lower(Contact.email) == email.lower())
    )


async def contact_by_identifier(session: AsyncSession, account_id: int, identifier: str) -> Contact | None:
    return await session.scalar(
        select(Contact).where(Contact.account_id == account_id, Contact.identifier == identifier)
    )


async def contacts_page(
    session: AsyncSession,
    account_id: int,
    *,
    search: str | None,
    after_id: int | None,
    limit: int,
    label_title: str | None = None,
    where: ColumnElement[bool] | None = None,
) -> Sequence[Contact]:
    """A page of the account's contacts, newest first; `where` is a compiled filter predicate
    (domain/filters/conditions.py) over `contacts`."""
    stmt = select(Contact).where(Contact.account_id == account_id)
    if where is not None:
        stmt = stmt.where(where)
    if label_title is not None:  # lower-case, as stored; a title no label has matches nothing
        stmt = stmt.where(
            exists().where(
                ContactLabel.contact_id == Contact.id,
                ContactLabel.label_id == Label.id,
                Label.account_id == account_id,
                Label.title == label_title,
            )
        )
    if search:
        stmt = stmt.where(contact_matches(search))
    if after_id is not None:
        stmt = stmt.where(Contact.id < after_id)
    return (await session.scalars(stmt.order_by(Contact.id.desc()).limit(limit))).all()


async def contact_ids_in_account(session: AsyncSession, account_id: int, ids: Sequence[int]) -> Sequence[int]:
    """Which of `ids` are contacts of the account."""
    stmt = select(Contact.id).where(Contact.account_id == account_id, Contact.id.in_(list(ids)))
    return (await session.scalars(stmt)).all()


async def conversation_visible(
    session: AsyncSession, actor: Actor, conversation_id: int, *, lock: bool = False
) -> Conversation | None:
    stmt = select(Conversation).where(Conversation.id == conversation_id, visible_conversations(actor))
    if lock:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)


_conversation_and_inbox: dict[tuple[Shape, bool], Select[Conversation, Inbox, bool]] = {}


def _conversation_and_inbox_statement(shape: Shape, has_user: bool) -> Select[Conversation, Inbox, bool]:
    """Built once per visibility shape, its values bound at each call: building the statement
    (the visibility predicate's expressions) cost more CPU than running it, on every reply."""
    key = (shape, has_user)
    cached = _conversation_and_inbox.get(key)
    if cached is not None:
        return cached
    user = bindparam("visibility_user", type_=Integer)
    participates = (
        exists().where(
            ConversationParticipant.conversation_id == Conversation.id, ConversationParticipant.user_id == user
        )
        if has_user
        else literal(False)
    )
    visible = _visibility(
        shape,
        bindparam("visibility_account", type_=Integer),
        user,
        bindparam("visibility_bot", type_=Integer),
    )
    stmt: Select[Conversation, Inbox, bool] = (
        select(Conversation, Inbox, participates)
        .join(Inbox, Inbox.id == Conversation.inbox_id)
        .where(Conversation.id == bindparam("conversation_id", type_=Integer), visible)
        .with_for_update(of=Conversation)
    )
    _conversation_and_inbox[key] = stmt
    return stmt


async def conversation_and_inbox_visible(
    session: AsyncSession, actor: Actor, conversation_id: int
) -> tuple[Conversation, Inbox, bool] | None:
    """The conversation the actor may see, locked (its inbox is not), with its inbox and whether the
    actor (a user) already takes part in it: one statement."""
    stmt = _conversation_and_inbox_statement(_visibility_shape(actor), actor.user_id is not None)
    values = {
        "conversation_id": conversation_id,
        "visibility_account": actor.account_id,
        "visibility_user": actor.user_id,
        "visibility_bot": actor.bot_id,
    }
    # Values the statement's shape does not use are ignored.
    row = (await session.execute(stmt, values)).first()
    return (row[0], row[1], bool(row[2])) if row is not None else None


async def conversations_visible(session: AsyncSession, actor: Actor, ids: Sequence[int]) -> list[Conversation]:
    stmt = (
        select(Conversation)
        .where(Conversation.id.in_(list(ids)), visible_conversations(actor))
        .order_by(Conversation.id)
    )
    return list((await session.scalars(stmt.with_for_update())).all())


async def next_display_id(session: AsyncSession, account_id: int) -> int:
    result = await session.execute(
        update(Account)
        .where(Account.id == account_id)
        .values(conversation_seq=Account.conversation_seq + 1)
        .returning(Account.conversation_seq)
    )
    return result.scalar_one()


@dataclass
class ConversationFilter:
    status: ConversationStatus | None = None
    inbox_id: int | None = None
    assignee: str | None = None  # "me" | "unassigned" | "assigned" | None
    assignee_id: int | None = None
    team_id: int | None = None
    label_id: int | None = None
    label_title: str | None = None  # lower-case, as stored; a title no label has matches nothing
    priority: str | None = None
    contact_id: int | None = None
    search: str | None = None
    tab: str | None = None  # mine | unassigned | all | mentions | participating | unattended
    where: ColumnElement[bool] | None = None  # compiled filter conditions (domain/filters)
    sla_status: str | None = None  # the applied SLA's status (domain/sla)
    sla_policy_id: int | None = None


PRIORITY_RANK = case({"urgent": 4, "high": 3, "medium": 2, "low": 1}, value=Conversation.priority, else_=0)
SEARCH_WINDOW = 200

SORTS = {
    "LAST_ACTIVITY": (Conversation.last_activity_at, True),
    "CREATED": (Conversation.created_at, True),
    "WAITING_SINCE": (Conversation.waiting_since, False),
    "PRIORITY": (PRIORITY_RANK, True),  # most urgent first, none last
    "SLA_DUE": (Conversation.sla_due_at, False),  # nearest deadline first, none last
}
NULLS_LAST = frozenset({"WAITING_SINCE", "SLA_DUE"})


def sort_key_value(sort: str, row: Conversation) -> str:
    """The cursor's sort value for a row (the id is appended by the caller)."""
    if sort == "PRIORITY":
        ranks = {"urgent": 4, "high": 3, "medium": 2, "low": 1}
        return str(ranks.get(row.priority.value if row.priority else "", 0))
    value = {
        "LAST_ACTIVITY": row.last_activity_at,
        "CREATED": row.created_at,
        "WAITING_SINCE": row.waiting_since,
        "SLA_DUE": row.sla_due_at,
    }[sort]
    return value.isoformat() if value else "9999-01-01T00:00:00+00:00"


def tab_predicate(actor: Actor, tab: str) -> ColumnElement[bool]:
    """A tab of the list: mentions are the caller's rows in `mentions` (written for each mention in a
    private note), participating the caller's rows in `conversation_participants`; unattended (as
    Chatwoot) open with no first reply yet or waiting for an answer (`waiting_since` set)."""
    if tab == "mine":
        return Conversation.assignee_id == actor.user_id
    if tab == "unassigned":
        return Conversation.assignee_id.is_(None)
    if tab == "mentions":
        return exists().where(Mention.conversation_id == Conversation.id, Mention.user_id == actor.user_id)
    if tab == "participating":
        return exists().where(
            ConversationParticipant.conversation_id == Conversation.id, ConversationParticipant.user_id == actor.user_id
        )
    if tab == "unattended":
        return and_(
            Conversation.status == ConversationStatus.OPEN,
            or_(Conversation.first_reply_created_at.is_(None), Conversation.waiting_since.is_not(None)),
        )
    return Conversation.account_id == actor.account_id  # all


def _label_conditions(actor: Actor, f: ConversationFilter) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if f.label_id is not None:
        conds.append(
            exists().where(
                ConversationLabel.conversation_id == Conversation.id, ConversationLabel.label_id == f.label_id
            )
        )
    if f.label_title is not None:
        conds.append(
            exists().where(
                ConversationLabel.conversation_id == Conversation.id,
                ConversationLabel.label_id == Label.id,
                Label.account_id == actor.account_id,
                Label.title == f.label_title,
            )
        )
    return conds


def _terms(clause: Any) -> list[ColumnElement[bool]]:
    """The top-level AND terms of a predicate (itself when it is not an AND)."""
    while isinstance(clause, Grouping):
        clause = clause.element
    if isinstance(clause, BooleanClauseList) and clause.operator is operators.and_:
        return [term for c in clause.clauses for term in _terms(c)]
    return [clause]


def _column(expr: Any) -> Any:
    while isinstance(expr, TypeCoerce):  # the filter compiler's comparison of the column as it is
        expr = expr.clause
    return expr


def _plain(term: ColumnElement[bool]) -> bool:
    """A conversations column compared with values: estimated from the column's statistics."""
    if not isinstance(term, BinaryExpression):
        return False
    left = _column(term.left)
    return (
        isinstance(left, Column)
        and left.table is Conversation.__table__
        and isinstance(term.right, BindParameter | Null)
    )


def _one_status(term: ColumnElement[bool]) -> bool:
    """`status = x` or `status IN (x)`: the list index's range for one status, in list order."""
    if not (_plain(term) and _column(term.left).name == "status"):
        return False
    if term.operator is operators.eq:
        return True
    value = term.right.value if isinstance(term.right, BindParameter) else None
    return term.operator is operators.in_op and isinstance(value, list | tuple) and len(value) == 1


def _walk_split(
    actor: Actor, f: ConversationFilter, sort: str
) -> tuple[ConversationFilter, list[ColumnElement[bool]]] | None:
    """For a page in list order of one status filtered by conditions the planner cannot estimate
    (labels, custom attributes, contact fields: subqueries and JSON), the filter without them and
    those conditions; None when the plain statement is the plan.

    PostgreSQL guesses such conditions far too selective (a custom attribute's equality at 0.5 %
    of the rows, when a third match) and then sorts every match of a bitmap scan instead of walking
    `ix_conversations_list` newest first and stopping at the page's end. Checked in a LATERAL
    subquery behind OFFSET 0, they are estimated at one row per conversation, so the plan walks the
    index in order with them as a per-row check: at worst it reads the status's range once, as the
    bitmap scan always does."""
    if sort != "LAST_ACTIVITY" or f.search:
        return None
    terms = _terms(f.where) if f.where is not None else []
    plain = [t for t in terms if _plain(t)]
    opaque = [t for t in terms if not _plain(t)]
    if f.label_id is not None or f.label_title is not None:
        opaque.extend(_label_conditions(actor, f))
    if not opaque or not (f.status is not None or any(_one_status(t) for t in plain)):
        return None
    rest = replace(f, label_id=None, label_title=None, where=and_(*plain) if plain else None)
    return rest, opaque


def _correlated(element: visitors.ExternallyTraversible) -> visitors.ExternallyTraversible | None:
    """A subquery of the walk's check names the outer row, one level further out than written."""
    return element.correlate(Conversation) if isinstance(element, Exists | ScalarSelect) else None


def _has_subquery(term: ColumnElement[bool]) -> bool:
    return any(isinstance(e, Exists | ScalarSelect | Select) for e in visitors.iterate(term))


def _cheap_first(terms: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    """The terms ANDed, those of the row itself (a JSON key, a column) before those with a
    subquery (labels, the contact): PostgreSQL orders a one-time filter's terms by its own costs,
    which count a subquery as free, so the order is fixed with CASE (same rows pass: both TRUE)."""
    cheap = [t for t in terms if not _has_subquery(t)]
    dear = [t for t in terms if _has_subquery(t)]
    if not cheap or not dear:
        return and_(*terms)
    return case((and_(*cheap), and_(*dear)), else_=false())


def _filtered(actor: Actor, f: ConversationFilter) -> list[ColumnElement[bool]]:
    conds = [visible_conversations(actor)]
    if f.status is not None:
        conds.append(Conversation.status == f.status)
    if f.inbox_id is not None:
        conds.append(Conversation.inbox_id == f.inbox_id)
    if f.assignee == "me":
        conds.append(Conversation.assignee_id == actor.user_id)
    elif f.assignee == "unassigned":
        conds.append(Conversation.assignee_id.is_(None))
    elif f.assignee == "assigned":
        conds.append(Conversation.assignee_id.is_not(None))
    if f.assignee_id is not None:
        conds.append(Conversation.assignee_id == f.assignee_id)
    if f.team_id is not None:
        conds.append(Conversation.team_id == f.team_id)
    if f.priority is not None:
        conds.append(Conversation.priority == f.priority)
    if f.contact_id is not None:
        conds.append(Conversation.contact_id == f.contact_id)
    conds.extend(_label_conditions(actor, f))
    if f.tab is not None:
        conds.append(tab_predicate(actor, f.tab))
    if f.sla_policy_id is not None:
        conds.append(Conversation.sla_policy_id == f.sla_policy_id)
    if f.sla_status is not None:
        from db.models.sla import AppliedSla

        conds.append(
            exists().where(
                AppliedSla.conversation_id == Conversation.id,
                AppliedSla.account_id == Conversation.account_id,
                AppliedSla.status == f.sla_status,
            )
        )
    if f.where is not None:
        conds.append(f.where)
    if f.search:
        # displayId and contact fields always; message content from MIN_TEXT characters (short
        # terms take only the indexed exact and prefix paths). Content is bounded: the conversations
        # of the newest SEARCH_WINDOW visible matching messages, so a common word stops its walk early.
        more: list[Select[Any]] = []
        if len(f.search) >= MIN_TEXT:
            newest = (
                select(Message.conversation_id.label("id"))
                .join(Conversation, Conversation.id == Message.conversation_id)
                .where(
                    Message.account_id == actor.account_id,
                    Message.deleted_at.is_(None),
                    visible_conversations(actor),
                    content_matches(f.search),
                )
                .order_by(Message.created_at.desc(), Message.id.desc())
                .limit(SEARCH_WINDOW)
                .subquery()
            )
            more.append(select(newest.c.id))
        conds.append(conversation_matches(actor, f.search, *more))
    return conds


def conversations_page_select(
    actor: Actor,
    f: ConversationFilter,
    *,
    sort: str,
    after: tuple[str, int] | None,
    limit: int,
    numbered: bool = False,
    walk_index: bool = False,
) -> Select[Any]:
    """Keyset pagination on (sort key, id). Nulls (waiting since) sort last as the far future.
    `numbered` adds the row's position in that order as `position` (the compiled read path);
    `walk_index` (PostgreSQL) checks the conditions the planner cannot estimate per row while
    walking the list index (`_walk_split`)."""
    column, descending = SORTS[sort]
    split = _walk_split(actor, f, sort) if walk_index else None
    if split is None:
        stmt = select(Conversation).where(*_filtered(actor, f))
    else:
        rest, opaque = split
        # (SQLAlchemy's stubs match no overload for a ColumnElement with a replace callable)
        opaque = [visitors.replacement_traverse(t, {}, _correlated) for t in opaque]  # type: ignore[call-overload]
        matched = (
            select(literal(1).label("matched"))
            .where(_cheap_first(opaque))
            .correlate(Conversation)
            .offset(0)
            .lateral("matched")
        )
        stmt = select(Conversation).join(matched, true()).where(*_filtered(actor, rest))
    key = func.coalesce(column, datetime(9999, 1, 1)) if sort in NULLS_LAST else column
    if after is not None:
        value, last_id = after
        bound = int(value) if sort == "PRIORITY" else datetime.fromisoformat(value)
        if descending:
            stmt = stmt.where(or_(key < bound, and_(key == bound, Conversation.id < last_id)))
        else:
            stmt = stmt.where(or_(key > bound, and_(key == bound, Conversation.id > last_id)))
    order = (key.desc(), Conversation.id.desc()) if descending else (key.asc(), Conversation.id.asc())
    if numbered:
        stmt = stmt.add_columns(func.row_number().over(order_by=order).label("position"))
    return stmt.order_by(*order).limit(limit)


async def conversations_page(
    session: AsyncSession, actor: Actor, f: ConversationFilter, *, sort: str, after: tuple[str, int] | None, limit: int
) -> Sequence[Conversation]:
    stmt = conversations_page_select(
        actor, f, sort=sort, after=after, limit=limit, walk_index=dialect_name(session) == "postgresql"
    )
    return (await session.scalars(stmt)).all()


async def matching_conversations(
    session: AsyncSession, actor: Actor, f: ConversationFilter, *, limit: int
) -> list[Conversation]:
    """Up to `limit` conversations the actor may see that match the list filter, locked for update,
    oldest first (a bulk action over everything matching)."""
    stmt = select(Conversation).where(*_filtered(actor, f)).order_by(Conversation.id).limit(limit)
    return list((await session.scalars(stmt.with_for_update(of=Conversation))).all())


def conversation_select(
    actor: Actor, *, conversation_id: int | None = None, display_id: int | None = None
) -> Select[Any]:
    """One visible conversation by primary key or by its number in the account."""
    stmt = select(Conversation).where(visible_conversations(actor))
    if conversation_id is not None:
        return stmt.where(Conversation.id == conversation_id)
    return stmt.where(Conversation.display_id == display_id)


async def conversation_counts(session: AsyncSession, actor: Actor, f: ConversationFilter) -> dict[str, int]:
    """Per-status counts and mine/unassigned/all for the open tab, in one statement."""
    base = _filtered(actor, ConversationFilter(**{**f.__dict__, "status": None, "assignee": None, "tab": None}))
    is_open = Conversation.status == ConversationStatus.OPEN
    row = (
        await session.execute(
            select(
                func.count().filter(Conversation.status == ConversationStatus.OPEN),
                func.count().filter(Conversation.status == ConversationStatus.PENDING),
                func.count().filter(Conversation.status == ConversationStatus.RESOLVED),
                func.count().filter(Conversation.status == ConversationStatus.SNOOZED),
                func.count().filter(and_(is_open, Conversation.assignee_id == actor.user_id)),
                func.count().filter(and_(is_open, Conversation.assignee_id.is_(None))),
                func.count().filter(is_open),
                func.count().filter(and_(is_open, tab_predicate(actor, "mentions"))),
                func.count().filter(and_(is_open, tab_predicate(actor, "participating"))),
                func.count().filter(tab_predicate(actor, "unattended")),
            ).where(*base)
        )
    ).one()
    names = ["open", "pending", "resolved", "snoozed", "mine", "unassigned", "all", "mentions", "participating"]
    return dict(zip([*names, "unattended"], row, strict=True))


async def messages_page(
    session: AsyncSession, conversation_id: int, *, include_private: bool, before_id: int | None, limit: int
) -> Sequence[Message]:
    stmt = select(Message).where(Message.conversation_id == conversation_id)
    if not include_private:
        stmt = stmt.where(Message.private.is_(False))
    if before_id is not None:
        stmt = stmt.where(Message.id < before_id)
    return (await session.scalars(stmt.order_by(Message.id.desc()).limit(limit))).all()


async def message_in_conversation(session: AsyncSession, conversation_id: int, message_id: int) -> Message | None:
    return await session.scalar(
        select(Message).where(Message.id == message_id, Message.conversation_id == conversation_id).with_for_update()
    )


async def message_visible(session: AsyncSession, actor: Actor, message_id: int) -> tuple[Message, Conversation] | None:
    row = (
        await session.execute(
            select(Message, Conversation)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Message.id == message_id, visible_conversations(actor))
            .with_for_update(of=Message)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def label_ids_of(session: AsyncSession, conversation_id: int) -> set[int]:
    return set(
        await session.scalars(
            select(ConversationLabel.label_id).where(ConversationLabel.conversation_id == conversation_id)
        )
    )


async def contact_label_ids_of(session: AsyncSession, contact_id: int) -> set[int]:
    return set(await session.scalars(select(ContactLabel.label_id).where(ContactLabel.contact_id == contact_id)))


async def remove_contact_labels(session: AsyncSession, contact_id: int, label_ids: set[int]) -> None:
    await session.execute(
        delete(ContactLabel).where(ContactLabel.contact_id == contact_id, ContactLabel.label_id.in_(label_ids))
    )


async def contact_note_in_account(
    session: AsyncSession, account_id: int, note_id: int, *, lock: bool = False
) -> ContactNote | None:
    stmt = select(ContactNote).where(ContactNote.id == note_id, ContactNote.account_id == account_id)
    if lock:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)


async def users_in_account_by_ids(session: AsyncSession, account_id: int, ids: Sequence[int]) -> dict[int, User]:
    rows = await session.scalars(
        select(User)
        .join(AccountMembership, AccountMembership.user_id == User.id)
        .where(AccountMembership.account_id == account_id, User.id.in_(list(ids)))
    )
    return {u.id: u for u in rows}


async def users_by_mention_names(session: AsyncSession, account_id: int) -> list[User]:
    return list(
        (
            await session.scalars(
                select(User)
                .join(AccountMembership, AccountMembership.user_id == User.id)
                .where(AccountMembership.account_id == account_id)
            )
        ).all()
    )


async def labels_of_account(session: AsyncSession, account_id: int, ids: Sequence[int]) -> dict[int, Label]:
    rows = await session.scalars(select(Label).where(Label.account_id == account_id, Label.id.in_(list(ids))))
    return {label.id: label for label in rows}


async def contact_inbox_of(session: AsyncSession, contact_id: int, inbox_id: int) -> ContactInbox | None:
    """The contact's link to the inbox, if it has one."""
    return await session.scalar(
        select(ContactInbox).where(ContactInbox.contact_id == contact_id, ContactInbox.inbox_id == inbox_id)
    )


async def message_id_in_conversation(session: AsyncSession, conversation_id: int, message_id: int) -> int | None:
    """`message_id` when that message belongs to the conversation (a reply's target), else None."""
    return await session.scalar(
        select(Message.id).where(Message.id == message_id, Message.conversation_id == conversation_id)
    )


async def insert_message(session: AsyncSession, message: Message) -> None:
    """Write a new message with one INSERT outside the unit of work, then keep it in the session as
    a row just loaded. A flush of one new object walked the unit of work (states sorted, cascades,
    history) for a single statement: about a tenth of a messageCreate's server time. Every column
    must be given (a column left out would be expired, and reading it would load it again)."""
    table = cast(Table, Message.__table__)
    values = {column.key: getattr(message, column.key) for column in table.columns if column.key != "id"}
    result = await session.execute(insert(table).values(**values))
    message.id = result.inserted_primary_key[0]  # type: ignore[attr-defined]  # a CursorResult
    make_transient_to_detached(message)
    session.add(message)


async def add_participant(session: AsyncSession, conversation_id: int, user_id: int, account_id: int) -> None:
    """The user takes part in the conversation (one statement; nothing when they already do)."""
    insert = postgresql.insert if dialect_name(session) == "postgresql" else sqlite.insert
    await session.execute(
        insert(ConversationParticipant)
        .values(conversation_id=conversation_id, user_id=user_id, account_id=account_id, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["conversation_id", "user_id"])
    )


async def mention_of(session: AsyncSession, conversation_id: int, user_id: int) -> Mention | None:
    """The user's mention in the conversation (one row a user, moved to the latest note)."""
    return await session.scalar(
        select(Mention).where(Mention.conversation_id == conversation_id, Mention.user_id == user_id)
    )


async def remove_conversation_labels(session: AsyncSession, conversation_id: int, label_ids: set[int]) -> None:
    await session.execute(
        delete(ConversationLabel).where(
            ConversationLabel.conversation_id == conversation_id, ConversationLabel.label_id.in_(label_ids)
        )
    )


async def snoozed_due(session: AsyncSession, now: datetime, limit: int = 500) -> Sequence[Conversation]:
    """Snoozed conversations whose wake-up time has come, locked; rows another worker holds are skipped."""
    return (
        await session.scalars(
            select(Conversation)
            .where(Conversation.status == ConversationStatus.SNOOZED, Conversation.snoozed_until <= now)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()


async def message_for_update(session: AsyncSession, message_id: int) -> Message | None:
    """The message, row-locked."""
    return await session.scalar(select(Message).where(Message.id == message_id).with_for_update())


async def public_messages_before(session: AsyncSession, conversation_id: int, message_id: int) -> Sequence[Message]:
    """The conversation's incoming and outgoing messages (no notes, no activity) before `message_id`,
    oldest first: the thread an email reply refers to."""
    return (
        await session.scalars(
            select(Message)
            .where(
                Message.conversation_id == conversation_id,
                Message.id < message_id,
                Message.private.is_(False),
                Message.message_type.in_([MessageType.INCOMING, MessageType.OUTGOING]),
            )
            .order_by(Message.id)
        )
    ).all()


async def messages_by_ids(session: AsyncSession, ids: Sequence[int]) -> dict[int, Message]:
    if not ids:
        return {}
    return {m.id: m for m in await session.scalars(select(Message).where(Message.id.in_(list(ids))))}


async def label_titles_of(session: AsyncSession, conversation_id: int) -> list[str]:
    """The titles of the conversation's labels, alphabetical."""
    return list(
        (
            await session.scalars(
                select(Label.title)
                .join(ConversationLabel, ConversationLabel.label_id == Label.id)
                .where(ConversationLabel.conversation_id == conversation_id)
                .order_by(Label.title)
            )
        ).all()
    )


async def move_contact_records(session: AsyncSession, from_contact_id: int, to_contact_id: int) -> None:
    """Conversations, inbox identities, notes and labels of one contact become another's (a merge)."""
    for model in (Conversation, ContactInbox, ContactNote):
        await session.execute(update(model).where(model.contact_id == from_contact_id).values(contact_id=to_contact_id))
    already = select(ContactLabel.label_id).where(ContactLabel.contact_id == to_contact_id)
    moving = select(literal(to_contact_id), ContactLabel.label_id, ContactLabel.account_id).where(
        ContactLabel.contact_id == from_contact_id, ContactLabel.label_id.not_in(already)
    )
    await session.execute(insert(ContactLabel).from_select(["contact_id", "label_id", "account_id"], moving))


async def remove_inbox_members(session: AsyncSession, inbox_id: int, user_ids: set[int]) -> None:
    await session.execute(
        delete(InboxMember).where(InboxMember.inbox_id == inbox_id, InboxMember.user_id.in_(user_ids))
    )


async def open_conversations_of(session: AsyncSession, inbox_id: int, user_ids: set[int]) -> Sequence[Conversation]:
    """The open conversations of this inbox assigned to these agents, locked."""
    stmt = (
        select(Conversation)
        .where(
            Conversation.inbox_id == inbox_id,
            Conversation.assignee_id.in_(user_ids),
            Conversation.status == ConversationStatus.OPEN,
        )
        .order_by(Conversation.id)
        .with_for_update()
    )
    return (await session.scalars(stmt)).all()


async def move_conversation_records(session: AsyncSession, from_id: int, to_id: int, account_id: int) -> int:
    """A conversation merge: the messages (notes and activity lines too; attachments follow their
    message) move to `to_id`; labels, participants and mentions the kept conversation lacks are
    copied there (the merged one keeps its own as the record). Returns how many messages moved."""
    moved = await session.execute(
        update(Message)
        .where(Message.conversation_id == from_id, Message.account_id == account_id)
        .values(conversation_id=to_id)
    )
    labels = select(literal(to_id), ConversationLabel.label_id, ConversationLabel.account_id).where(
        ConversationLabel.conversation_id == from_id,
        ConversationLabel.label_id.not_in(
            select(ConversationLabel.label_id).where(ConversationLabel.conversation_id == to_id)
        ),
    )
    await session.execute(insert(ConversationLabel).from_select(["conversation_id", "label_id", "account_id"], labels))
    participants = select(
        literal(to_id), ConversationParticipant.user_id, ConversationParticipant.account_id, literal(utcnow())
    ).where(
        ConversationParticipant.conversation_id == from_id,
        ConversationParticipant.user_id.not_in(
            select(ConversationParticipant.user_id).where(ConversationParticipant.conversation_id == to_id)
        ),
    )
    await session.execute(
        insert(ConversationParticipant).from_select(
            ["conversation_id", "user_id", "account_id", "created_at"], participants
        )
    )
    mentions = select(
        Mention.account_id, literal(to_id), Mention.user_id, Mention.message_id, Mention.mentioned_at
    ).where(
        Mention.conversation_id == from_id,
        Mention.user_id.not_in(select(Mention.user_id).where(Mention.conversation_id == to_id)),
    )
    await session.execute(
        insert(Mention).from_select(
            ["account_id", "conversation_id", "user_id", "message_id", "mentioned_at"], mentions
        )
    )
    return int(moved.rowcount or 0)  # type: ignore[attr-defined]
