"""Read documents as one SQL statement (resolvers/fast_reads.py).

For a query whose every root field the compiler maps, the executor checks each root field's access
rule as the `Access` extension does, runs one statement through the request's session that returns
the whole `data` object as JSON, and answers with it. Everything else, and every case that would end
in an error (refused caller, bad argument, missing conversation), is executed the stock way, which
gives the stock answer: the compiled path never answers differently, it only answers faster."""

from __future__ import annotations

import logging
from collections import OrderedDict
from inspect import isawaitable
from typing import Any

import orjson
from graphql import OperationType
from graphql.execution.collect_fields import collect_fields

from domain.accounts.policy import require
from resolvers.fast_reads import ROOTS, FilterScope, NeedsFilterScope, NotCompilable, compile_query
from schema.core.access import rule_of

log = logging.getLogger(__name__)

# Compiled statements of recent requests, keyed by the document's text and operation, the variables,
# and what the statement reads of the actor: the visibility predicate and the filters (account,
# user, role, kind, permissions).
_STATEMENTS: OrderedDict[tuple, Any] = OrderedDict()
_MAX_STATEMENTS = 256  # about 55 KB each (the statement and SQLAlchemy's compiled form)


def _statement_key(executor: Any, actor: Any) -> tuple | None:
    operation = executor.operation
    if operation.loc is None:
        return None
    try:
        variables = orjson.dumps(executor.variable_values.coerced, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return None
    return (
        operation.loc.source.body,
        operation.name.value if operation.name else None,
        variables,
        actor.kind,
        actor.account_id,
        actor.user_id,
        actor.role,
        actor.permissions,
    )


NEEDS_SCOPE: Any = object()  # cached for a document whose statement depends on a FilterScope


def _cached(key: tuple | None, build: Any) -> Any:
    """The statement cached under `key`, else built (NEEDS_SCOPE when it needs a FilterScope)."""
    stmt = _STATEMENTS.get(key) if key is not None else None
    if stmt is not None:
        _STATEMENTS.move_to_end(key)
        return stmt
    try:
        stmt = build()
    except NeedsFilterScope:
        stmt = NEEDS_SCOPE
    if key is not None:
        _STATEMENTS[key] = stmt
        if len(_STATEMENTS) > _MAX_STATEMENTS:
            _STATEMENTS.popitem(last=False)
    return stmt


class SqlDocuments:
    """Mixin for a graphql-core executor (Strawberry's execution_context_class)."""

    def execute_operation(self, serially: bool | None = None) -> Any:
        grouped = self._compilable_roots()
        if grouped is None:
            return super().execute_operation(serially)  # type: ignore[misc]
        return self._execute_compiled(grouped, serially)

    def _compilable_roots(self) -> dict[str, list] | None:
        ex: Any = self
        settings = getattr(getattr(ex.context_value, "services", None), "settings", None)
        if settings is None or not settings.fast_reads or ex.operation.operation != OperationType.QUERY:
            return None
        if ex.abort_signal is not None:
            return None
        try:
            root_type = ex.schema.query_type
            collected = collect_fields(
                ex.schema, ex.fragments, ex.variable_values, root_type, ex.operation, ex.hide_suggestions
            )
        except Exception:  # noqa: BLE001 - whatever it is, the stock path reports it
            return None
        if collected.new_defer_usages or collected.forbidden_directive_instances:
            return None
        grouped = collected.grouped_field_set
        names = {group[0].node.name.value for group in grouped.values()}
        if not names - {"__typename"} or not names <= set(ROOTS) | {"__typename"}:
            return None
        return grouped

    async def _execute_compiled(self, grouped: dict[str, list], serially: bool | None) -> Any:
        data = await self._compiled_data(grouped)
        if data is None:
            result = super().execute_operation(serially)  # type: ignore[misc]
            return await result if isawaitable(result) else result
        ex: Any = self
        return ex.build_response(data)

    async def _compiled_data(self, grouped: dict[str, list]) -> dict[str, Any] | None:
        ex: Any = self
        ctx = ex.context_value
        root_type = ex.schema.query_type
        try:
            actor = await ctx.actor()
            for group in grouped.values():
                name = group[0].node.name.value
                if name == "__typename":
                    continue
                rule = rule_of(root_type.fields[name].extensions["strawberry-definition"])
                if rule is None:
                    return None
                require(actor, rule)
            key = _statement_key(ex, actor)
            stmt = _cached(key, lambda: compile_query(ex, actor, grouped))
            if stmt is NEEDS_SCOPE:
                # filter conditions: one more statement reads what they compile against
                async with ctx.db() as session:
                    scope = await FilterScope.load(session, actor)
                stmt = _cached(
                    (key, scope.key) if key is not None else None, lambda: compile_query(ex, actor, grouped, scope)
                )
        except NotCompilable as exc:
            log.debug("compiled read not used: %s", exc)
            return None
        except Exception:  # noqa: BLE001 - refused, bad input: the stock path gives the same error
            return None
        try:
            async with ctx.db() as session:
                connection = await session.connection()  # Core: no ORM bookkeeping for a text result
                raw = (await connection.execute(stmt)).scalar_one()
        except Exception:
            # A compiler bug, never the caller's: log it, leave the session usable, answer the stock way.
            log.exception("compiled read failed; executed the stock way")
            async with ctx.db() as session:
                await session.rollback()
            return None
        data = orjson.loads(raw)
        if any(value is None for value in data.values()):
            return None  # a root object not found (or not visible): the stock path says so
        return data
