"""Compiled reads: a query whose every root field is mapped here runs as ONE SQL statement in which
PostgreSQL builds the response's `data` object as JSON (keys are response names, leaves formatted the
way Strawberry serializes them, `__typename` literals, cursors and global IDs as Parley encodes them).

Rows come from the same repository selects as the stock resolvers (`conversations_page_select`,
`conversation_select`: tenancy and visibility included), and the arguments are checked by the same
functions (`conversation_page`, `conversation_lookup`), so the rules stay in one place. Anything this
module does not map raises `NotCompilable`, and the caller serves the document the stock way.

The mapping below is a second description of a few types next to schema/*/types.py: each GraphQL
field names the column (or the correlated sub-select) it reads. tests/test_fast_reads.py compares
both paths field by field."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    VariableNode,
)
from graphql.execution.collect_fields import FieldDetails, collect_subfields
from graphql.execution.values import get_argument_values
from sqlalchemy import Select, bindparam, func, literal_column, select, true
from sqlalchemy.sql import ColumnElement
from strawberry.types.arguments import convert_arguments

from db.models import Message
from db.repositories import catalog as catalog_repo
from db.repositories import helpdesk as repo
from db.repositories import search as search_repo
from db.repositories.text_match import MIN_TEXT
from domain.accounts.actor import Actor
from domain.enums import AttributeModel
from domain.filters.conditions import Compiler as FilterCompiler
from domain.filters.conditions import Condition
from resolvers.helpdesk import _reference, conversation_lookup, conversation_page, search_page


class NotCompilable(Exception):
    """The document uses something the compiler does not handle: serve it the stock way."""


class NeedsFilterScope(NotCompilable):
    """The document filters by conditions: its statement depends on the account's attribute
    definitions and today's date, so compile it again with a `FilterScope`."""


@dataclass(frozen=True)
class FilterScope:
    """What a conversation list's filter conditions compile against, as the stock resolver reads it
    (`resolvers.helpdesk.filter_conditions`): the account's conversation attribute definitions and
    today (UTC). `key` tells two scopes apart in a statement cache: a definition added, retyped or
    removed, or a new day, compiles the document again."""

    definitions: tuple[Any, ...]
    today: date
    key: tuple

    @classmethod
    async def load(cls, session: Any, actor: Actor) -> FilterScope:
        rows = await catalog_repo.attribute_definitions(
            session, actor.require_account_id(), AttributeModel.CONVERSATION
        )
        today = datetime.now(UTC).date()
        key = (
            today.isoformat(),
            tuple(
                (r.id, r.attribute_key, str(r.display_type), tuple(str(v) for v in r.list_values or ())) for r in rows
            ),
        )
        return cls(tuple(rows), today, key)

    def predicate(self, actor: Actor, conditions: list[Any]) -> ColumnElement[bool]:
        """The conditions' predicate; a bad condition raises the domain's ValidationError, and the
        caller serves the document the stock way, which reports it as the typed error."""
        compiler = FilterCompiler(
            AttributeModel.CONVERSATION,
            self.definitions,
            account_id=actor.require_account_id(),
            decode_reference=_reference,
            today=self.today,
            path="filter.conditions",
        )
        return compiler.compile(
            [Condition(c.attribute_key, c.filter_operator, list(c.values), c.query_operator) for c in conditions]
        )


# --- SQL of leaves ----------------------------------------------------------------------------------


def _b64url(expr: str) -> str:
    """base64url without padding, as Python's urlsafe_b64encode(...).rstrip("=") (PostgreSQL wraps
    base64 lines at 76 characters: the newlines go too)."""
    return f"rtrim(translate(encode(convert_to({expr}, 'UTF8'), 'base64'), E'+/\\n', '-_'), '=')"


def global_id_sql(type_name: str, pk: str) -> str:
    """schema/core/ids.py encode_id: base64url("Type:pk")."""
    return _b64url(f"'{type_name}:' || ({pk})::text")


def cursor_sql(value: str) -> str:
    """schema/core/pagination.py encode_cursor: base64url("c:" + value)."""
    return _b64url(f"'c:' || {value}")


def isoformat_sql(expr: str) -> str:
    """datetime.isoformat() of an aware UTC value: the 6-digit fraction only when it is not 0."""
    return (
        f"CASE WHEN {expr} IS NULL THEN NULL WHEN date_part('microseconds', {expr})::bigint % 1000000 = 0 "
        f"THEN to_char({expr} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+00:00\"') "
        f"ELSE to_char({expr} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"') END"
    )


def _enum_sql(gtype: GraphQLEnumType, expr: str) -> str:
    """Stored values (enum_column keeps `.value`) to the GraphQL names Strawberry outputs."""
    whens = []
    for name, value in gtype.values.items():
        stored = value.value.value if isinstance(value.value, Enum) else value.value
        if not isinstance(stored, str) or "'" in stored:
            raise NotCompilable(f"enum {gtype.name}")
        whens.append(f"WHEN '{stored}' THEN '{name}'")
    return f"CASE {expr} {' '.join(whens)} END"


def _leaf_sql(gtype: Any, expr: str) -> str:
    if isinstance(gtype, GraphQLEnumType):
        return _enum_sql(gtype, expr)
    name = gtype.name
    if name in ("String", "Int", "Boolean", "JSON"):
        return expr
    if name == "DateTime":
        return isoformat_sql(expr)
    raise NotCompilable(f"scalar {name}")


# --- the mapping --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Col:
    column: str  # of the parent's row


@dataclass(frozen=True)
class Id:
    type_name: str


@dataclass(frozen=True)
class Expr:
    sql: str  # {p}: the parent's alias; a leaf value


@dataclass(frozen=True)
class Rel:
    """An object (or a list of objects) reached from the parent row: "<from> WHERE <correlation>"
    with {t} the target alias and {p} the parent's; `order` for lists and for "the newest one"."""

    type_name: str
    from_where: str
    order: str | None = None


@dataclass(frozen=True)
class Same:
    """An object read from the parent's own row (a search hit's message)."""

    type_name: str


@dataclass(frozen=True)
class Messages:
    """Conversation.messages: a connection, newest first, keyset on the id."""


def _cols(*names: str) -> dict[str, Col]:
    def camel(name: str) -> str:
        head, *rest = name.split("_")
        return head + "".join(p.title() for p in rest)

    return {camel(n): Col(n) for n in names}


FIELDS: dict[str, dict[str, Any]] = {
    "Conversation": {
        "id": Id("Conversation"),
        **_cols(
            "display_id",
            "status",
            "priority",
            "snoozed_until",
            "last_activity_at",
            "waiting_since",
            "first_reply_created_at",
            "agent_last_seen_at",
            "custom_attributes",
            "additional_attributes",
            "created_at",
            "sla_due_at",
        ),
        "inbox": Rel("Inbox", "inboxes {t} WHERE {t}.id = {p}.inbox_id"),
        "contact": Rel("Contact", "contacts {t} WHERE {t}.id = {p}.contact_id"),
        "assignee": Rel("User", "users {t} WHERE {t}.id = {p}.assignee_id"),
        "team": Rel("Team", "teams {t} WHERE {t}.id = {p}.team_id"),
        # resolvers/loaders.py: labels by title; the newest message is the highest id
        "labels": Rel(
            "Label",
            "conversation_labels {t}j JOIN labels {t} ON {t}.id = {t}j.label_id WHERE {t}j.conversation_id = {p}.id",
            "{t}.title",
        ),
        "lastMessage": Rel("Message", "messages {t} WHERE {t}.conversation_id = {p}.id", "{t}.id DESC"),
        "unreadCount": Expr(
            "(SELECT count(*) FROM messages u WHERE u.conversation_id = {p}.id AND u.message_type = 'incoming' "
            "AND ({p}.agent_last_seen_at IS NULL OR u.created_at > {p}.agent_last_seen_at))::int"
        ),
        "messages": Messages(),
    },
    "Inbox": {
        "id": Id("Inbox"),
        **_cols(
            "name",
            "channel_type",
            "website_token",
            "api_identifier",
            "hmac_mandatory",
            "greeting_enabled",
            "greeting_message",
            "out_of_office_message",
            "csat_survey_enabled",
            "working_hours_enabled",
            "timezone",
            "enable_auto_assignment",
        ),
    },
    "Contact": {
        "id": Id("Contact"),
        **_cols(
            "name",
            "email",
            "phone_number",
            "identifier",
            "additional_attributes",
            "custom_attributes",
            "contact_type",
            "blocked",
            "last_activity_at",
            "created_at",
        ),
    },
    "User": {"id": Id("User"), **_cols("name", "display_name", "email", "availability", "email_verified")},
    "Team": {"id": Id("Team"), **_cols("name", "description", "allow_auto_assign", "created_at")},
    "Label": {"id": Id("Label"), **_cols("title", "description", "color", "show_on_sidebar", "created_at")},
    # db/repositories/search.py: a hit's row is the message with its `snippet`
    "MessageHit": {
        "message": Same("Message"),
        "conversation": Rel("Conversation", "conversations {t} WHERE {t}.id = {p}.conversation_id"),
        "snippet": Col("snippet"),
    },
    "Message": {
        "id": Id("Message"),
        **_cols(
            "content",
            "message_type",
            "private",
            "sender_type",
            "content_attributes",
            "created_at",
            "edited_at",
            "deleted_at",
        ),
        "senderUser": Rel("User", "users {t} WHERE {p}.sender_type = 'user' AND {t}.id = {p}.sender_id"),
        "senderContact": Rel("Contact", "contacts {t} WHERE {p}.sender_type = 'contact' AND {t}.id = {p}.sender_id"),
    },
}


# --- the compiler -----------------------------------------------------------------------------------------


class Compiler:
    """One document's operation against the executor's schema, fragments and variables."""

    def __init__(self, executor: Any, scope: FilterScope | None = None) -> None:
        self.ex = executor
        self.scope = scope
        self.schema = executor.schema
        self.strawberry = executor.schema.extensions["strawberry-definition"]
        self.n = 0

    def alias(self) -> str:
        self.n += 1
        return f"f{self.n}"

    def subfields(self, gtype: GraphQLObjectType, details: list[FieldDetails]) -> dict[str, list[FieldDetails]]:
        ex = self.ex
        collected = collect_subfields(
            self.schema, ex.fragments, ex.variable_values, ex.operation, gtype, details, ex.hide_suggestions
        )
        if collected.new_defer_usages or collected.forbidden_directive_instances:
            raise NotCompilable("@defer")
        for group in collected.grouped_field_set.values():
            for d in group:
                if d.defer_usage is not None or d.fragment_variable_values is not None:
                    raise NotCompilable("@defer or fragment arguments")
        return collected.grouped_field_set

    def arguments(self, field_def: Any, details: list[FieldDetails]) -> dict[str, Any]:
        """The resolver's keyword arguments, converted as Strawberry converts them."""
        node = details[0].node
        raw = get_argument_values(field_def, node, self.ex.variable_values)
        sfield = field_def.extensions.get("strawberry-definition") if field_def.extensions else None
        if sfield is None:
            raise NotCompilable("not a Strawberry field")
        return convert_arguments(
            raw,
            sfield.arguments,
            scalar_registry=self.strawberry.schema_converter.scalar_registry,
            config=self.strawberry.config,
        )

    # An object of a mapped type whose row has alias `p`.
    def object_sql(self, gtype: GraphQLObjectType, details: list[FieldDetails], p: str) -> str:
        fields = FIELDS.get(gtype.name)
        if fields is None:
            raise NotCompilable(f"type {gtype.name}")
        parts = []
        for key, group in self.subfields(gtype, details).items():
            name = group[0].node.name.value
            if name == "__typename":
                parts.append(f"'{key}', '{gtype.name}'::text")
                continue
            spec = fields.get(name)
            fdef = gtype.fields.get(name)
            if spec is None or fdef is None:
                raise NotCompilable(f"{gtype.name}.{name}")
            if not isinstance(spec, Messages) and any(d.node.arguments for d in group):
                raise NotCompilable("arguments")
            parts.append(f"'{key}', {self.field_sql(spec, fdef, group, p)}")
        return _json_object(parts)

    def field_sql(self, spec: Any, fdef: Any, group: list[FieldDetails], p: str) -> str:
        ftype = fdef.type.of_type if isinstance(fdef.type, GraphQLNonNull) else fdef.type
        if isinstance(spec, Col):
            return _leaf_sql(ftype, f"{p}.{spec.column}")
        if isinstance(spec, Id):
            return global_id_sql(spec.type_name, f"{p}.id")
        if isinstance(spec, Expr):
            return spec.sql.format(p=p)
        if isinstance(spec, Messages):
            return self.messages_sql(fdef, group, p)
        if isinstance(spec, Same):
            return self.object_sql(ftype, group, p)
        t = self.alias()
        from_where = spec.from_where.format(t=t, p=p)
        if isinstance(ftype, GraphQLList):
            inner = ftype.of_type.of_type if isinstance(ftype.of_type, GraphQLNonNull) else ftype.of_type
            obj = self.object_sql(inner, group, t)
            order = f" ORDER BY {spec.order.format(t=t)}" if spec.order else ""
            return f"(SELECT coalesce(json_agg({obj}{order}), '[]'::json) FROM {from_where})"
        obj = self.object_sql(ftype, group, t)
        order = f" ORDER BY {spec.order.format(t=t)} LIMIT 1" if spec.order else ""
        return f"(SELECT {obj} FROM {from_where}{order})"

    def connection_sql(
        self,
        ctype: GraphQLObjectType,
        group: list[FieldDetails],
        r: str,
        limit: int,
        had_after: bool,
        cursor: Callable[[str], str],
    ) -> str:
        """A Connection over the rows of alias `r` (with a `position` column, limit + 1 rows at most): edges, nodes and pageInfo as schema/core/pagination.py builds them."""
        node_type = ctype.fields["edges"].type.of_type.of_type.of_type.fields["node"].type.of_type
        parts = []
        page = f"{r}.position <= {limit}"
        for key, sub in self.subfields(ctype, group).items():
            name = sub[0].node.name.value
            if name == "__typename":
                parts.append(f"'{key}', '{ctype.name}'::text")
            elif name == "nodes":
                obj = self.object_sql(node_type, sub, r)
                parts.append(
                    f"'{key}', coalesce(json_agg({obj} ORDER BY {r}.position) FILTER (WHERE {page}), '[]'::json)"
                )
            elif name == "edges":
                etype = ctype.fields["edges"].type.of_type.of_type.of_type
                eparts = []
                for ekey, esub in self.subfields(etype, sub).items():
                    ename = esub[0].node.name.value
                    if ename == "__typename":
                        eparts.append(f"'{ekey}', '{etype.name}'::text")
                    elif ename == "cursor":
                        eparts.append(f"'{ekey}', {cursor(r)}")
                    elif ename == "node":
                        eparts.append(f"'{ekey}', {self.object_sql(node_type, esub, r)}")
                    else:
                        raise NotCompilable(f"edge field {ename}")
                obj = _json_object(eparts)
                parts.append(
                    f"'{key}', coalesce(json_agg({obj} ORDER BY {r}.position) FILTER (WHERE {page}), '[]'::json)"
                )
            elif name == "pageInfo":
                ptype = ctype.fields["pageInfo"].type.of_type
                pparts = []
                for pkey, psub in self.subfields(ptype, sub).items():
                    pname = psub[0].node.name.value
                    if pname == "__typename":
                        pparts.append(f"'{pkey}', '{ptype.name}'::text")
                    elif pname == "hasNextPage":
                        pparts.append(f"'{pkey}', count(*) > {limit}")
                    elif pname == "hasPreviousPage":
                        pparts.append(f"'{pkey}', {'true' if had_after else 'false'}")
                    elif pname == "startCursor":
                        pparts.append(
                            f"'{pkey}', (array_agg({cursor(r)} ORDER BY {r}.position) FILTER (WHERE {page}))[1]"
                        )
                    elif pname == "endCursor":
                        pparts.append(
                            f"'{pkey}', (array_agg({cursor(r)} ORDER BY {r}.position DESC) FILTER (WHERE {page}))[1]"
                        )
                    else:
                        raise NotCompilable(f"pageInfo field {pname}")
                parts.append(f"'{key}', {_json_object(pparts)}")
            else:
                raise NotCompilable(f"connection field {name}")
        return _json_object(parts)

    def messages_sql(self, fdef: Any, group: list[FieldDetails], p: str) -> str:
        if len({_args_key(d) for d in group}) != 1:
            raise NotCompilable("merged fields with different arguments")
        kwargs = self.arguments(fdef, group)
        from schema.core.pagination import decode_int_cursor, page_size

        limit = page_size(kwargs.get("first", 25))
        before = kwargs.get("before")
        before_id = decode_int_cursor(before)
        ctype = fdef.type.of_type
        t, r = self.alias(), self.alias()
        keyset = f" AND {t}.id < {int(before_id)}" if before_id is not None else ""
        rows = (
            f"(SELECT {t}.*, row_number() OVER (ORDER BY {t}.id DESC) AS position FROM messages {t} "
            f"WHERE {t}.conversation_id = {p}.id{keyset} ORDER BY {t}.id DESC LIMIT {limit + 1}) {r}"
        )
        conn = self.connection_sql(ctype, group, r, limit, before is not None, lambda a: cursor_sql(f"{a}.id::text"))
        return f"(SELECT {conn} FROM {rows})"


def _args_key(d: FieldDetails) -> str:
    from graphql import print_ast

    return "".join(print_ast(a) for a in d.node.arguments)


def _json_object(parts: list[str]) -> str:
    if not parts:
        raise NotCompilable("empty selection")
    if len(parts) > 50:
        raise NotCompilable("json_build_object takes at most 100 arguments")
    return "json_build_object(" + ", ".join(parts) + ")"


def conversation_cursor_sql(sort: str, r: str) -> str:
    """resolvers/helpdesk.py: f"{repo.sort_key_value(sort, row)}|{row.id}"."""
    if sort == "PRIORITY":
        value = (
            f"(CASE {r}.priority WHEN 'urgent' THEN 4 WHEN 'high' THEN 3 WHEN 'medium' THEN 2 "
            f"WHEN 'low' THEN 1 ELSE 0 END)::text"
        )
    else:
        column = {
            "LAST_ACTIVITY": "last_activity_at",
            "CREATED": "created_at",
            "WAITING_SINCE": "waiting_since",
            "SLA_DUE": "sla_due_at",
        }[sort]
        value = f"coalesce({isoformat_sql(f'{r}.{column}')}, '9999-01-01T00:00:00+00:00')"
    return cursor_sql(f"{value} || '|' || {r}.id::text")


# --- root fields ---------------------------------------------------------------------------------------------


def _conversations(c: Compiler, actor: Actor, fdef: Any, group: list[FieldDetails]) -> ColumnElement:
    args = c.arguments(fdef, group)
    if args.get("filter") is not None and args["filter"].view_id is not None:
        raise NotCompilable("a saved view is read (and its visibility checked) by the stock resolver")
    conditions = args["filter"].conditions if args.get("filter") is not None else None
    page = conversation_page(**args)
    if conditions:
        if c.scope is None:
            raise NeedsFilterScope("filter conditions need the account's attribute definitions")
        page.filter.where = c.scope.predicate(actor, conditions)
    rows = repo.conversations_page_select(
        actor, page.filter, sort=page.sort, after=page.after, limit=page.limit + 1, numbered=True, walk_index=True
    ).subquery("r")
    conn = c.connection_sql(
        fdef.type.of_type,
        group,
        "r",
        page.limit,
        page.had_after,
        lambda r: conversation_cursor_sql(page.sort, r),
    )
    return select(literal_column(conn)).select_from(rows).scalar_subquery()


def id_parameter(variable: str) -> str:
    """The bind parameter that carries `conversation(id: $variable)`'s primary key: a statement built
    for one conversation serves every other one of the same document and caller with this parameter
    set (parley/fast_lane.py), instead of being built again per conversation."""
    return f"lane_id_{variable}"


def _conversation(c: Compiler, actor: Actor, fdef: Any, group: list[FieldDetails]) -> ColumnElement:
    key: dict[str, Any] = conversation_lookup(**c.arguments(fdef, group))
    for argument in group[0].node.arguments or ():
        if argument.name.value == "id" and isinstance(argument.value, VariableNode) and "conversation_id" in key:
            key["conversation_id"] = bindparam(id_parameter(argument.value.name.value), key["conversation_id"])
    row = repo.conversation_select(actor, **key).subquery("c0")
    obj = c.object_sql(fdef.type.of_type, group, "c0")
    return select(literal_column(obj)).select_from(row).scalar_subquery()


def _search_section(c: Compiler, rows: Any, gtype: Any, sub: list[FieldDetails] | None, first: int) -> Any:
    """One section of the search: its objects (those of the page, in order) as `j`, its row count
    (`first + 1` at most: more than `first` means another page) as `n`."""
    a = rows.name
    if sub is None:
        j = "'[]'::json"
    else:
        obj = c.object_sql(gtype, sub, a)
        j = f"coalesce(json_agg({obj} ORDER BY {a}.position) FILTER (WHERE {a}.position <= {first}), '[]'::json)"
    return select(literal_column(j).label("j"), func.count().label("n")).select_from(rows).subquery(f"{a}s")


def _search(c: Compiler, actor: Actor, fdef: Any, group: list[FieldDetails]) -> ColumnElement:
    """resolvers/helpdesk.py `search`: the three sections from the same repository selects, the
    cursor and `hasNextPage` from their row counts."""
    from schema.core.pagination import encode_cursor

    term, first, offset = search_page(**c.arguments(fdef, group))
    limit = first + 1
    rtype = fdef.type.of_type
    selected: dict[str, list[FieldDetails]] = {}
    for sub in c.subfields(rtype, group).values():
        name = sub[0].node.name.value
        if name in selected and name != "__typename":
            raise NotCompilable(f"SearchResults.{name} under two response names")
        selected[name] = sub

    def item_type(name: str) -> Any:
        ftype = rtype.fields[name].type.of_type.of_type  # [T!]!
        return ftype.of_type if isinstance(ftype, GraphQLNonNull) else ftype

    conv = search_repo.conversations_select(actor, term, offset=offset, limit=limit).subquery("sq0")
    conv_rows = select(
        conv, func.row_number().over(order_by=(conv.c.last_activity_at.desc(), conv.c.id.desc())).label("position")
    ).subquery("sq")
    contact = search_repo.contacts_select(actor.require_account_id(), term, offset=offset, limit=limit).subquery("sk0")
    contact_rows = select(contact, func.row_number().over(order_by=contact.c.id.desc()).label("position")).subquery(
        "sk"
    )
    sections = [
        _search_section(c, conv_rows, item_type("conversations"), selected.get("conversations"), first),
        _search_section(c, contact_rows, item_type("contacts"), selected.get("contacts"), first),
    ]
    if len(term) >= MIN_TEXT:
        page = search_repo.messages_page(actor, term, offset=offset, limit=limit)
        message_rows = (
            select(
                Message,
                search_repo.snippet_sql(term),
                func.row_number().over(order_by=(page.c.rank.desc(), Message.id.desc())).label("position"),
            )
            .join(page, page.c.id == Message.id)
            .subquery("sm")
        )
        sections.append(_search_section(c, message_rows, item_type("messages"), selected.get("messages"), first))
        messages_j, messages_n = "sms.j", "sms.n"
    else:
        messages_j, messages_n = "'[]'::json", "0"
    more = f"(sqs.n > {first} OR sks.n > {first} OR {messages_n} > {first})"
    parts = []
    for key, sub in c.subfields(rtype, group).items():
        name = sub[0].node.name.value
        if name == "__typename":
            parts.append(f"'{key}', '{rtype.name}'::text")
        elif name == "conversations":
            parts.append(f"'{key}', sqs.j")
        elif name == "contacts":
            parts.append(f"'{key}', sks.j")
        elif name == "messages":
            parts.append(f"'{key}', {messages_j}")
        elif name == "endCursor":
            parts.append(f"'{key}', CASE WHEN {more} THEN '{encode_cursor(offset + first)}' END")
        elif name == "hasNextPage":
            parts.append(f"'{key}', {more}")
        else:
            raise NotCompilable(f"SearchResults.{name}")
    stmt = select(literal_column(_json_object(parts))).select_from(sections[0])
    for section in sections[1:]:
        stmt = stmt.join(section, true())  # one row each
    return stmt.scalar_subquery()


ROOTS: dict[str, Callable[[Compiler, Actor, Any, list[FieldDetails]], ColumnElement]] = {
    "conversations": _conversations,
    "conversation": _conversation,
    "search": _search,
}


def compile_query(
    executor: Any, actor: Actor, grouped: dict[str, list[FieldDetails]], scope: FilterScope | None = None
) -> Select:
    """One SELECT returning the `data` object as JSON text; NotCompilable (NeedsFilterScope: compile
    again with the scope), or the typed error the stock resolver would raise, which the caller also
    treats as "serve it the stock way")."""
    c = Compiler(executor, scope)
    root_type = executor.schema.query_type
    parts: list[Any] = []
    for key, group in grouped.items():
        name = group[0].node.name.value
        parts.append(literal_column(f"'{key}'"))
        if name == "__typename":
            parts.append(literal_column(f"'{root_type.name}'::text"))
            continue
        build = ROOTS.get(name)
        if build is None:
            raise NotCompilable(f"root field {name}")
        if len({_args_key(d) for d in group}) != 1:
            raise NotCompilable("merged root fields with different arguments")
        parts.append(build(c, actor, root_type.fields[name], group))
    if not parts or len(parts) > 100:
        raise NotCompilable("root selection")
    return select(func.json_build_object(*parts).cast(_text()))


def _text():
    from sqlalchemy import Text

    return Text()
