"""The fast lane of the GraphQL view: a single HTTP query whose root fields are all conversation
lists, search or one conversation (resolvers/fast_reads.py) skips Strawberry's per-request pipeline.

What does not depend on the request is kept per document (its text, operation name and the
caller's limits): the parsed document, the guard's verdict (size, tokens, static limits, validation)
and, per set of variable values and what the statement reads of the actor, the compiled SQL and the
root fields' access rules. Per request what remains is the caller (the credential cache), the access
rules checked against it, the variables coerced, the one Redis round trip for the rate limits and
the cost budget (schema/extensions/budget.py), one statement returning the `data` JSON, and the
response written around that text.

It answers only when stock execution would answer with data and no error; every other case (a
refused caller, bad variables, an invalid or oversized document, a partner's trusted documents, an
APQ registration) is served the stock way before anything is charged, so both give the same answer.
A spent budget or a rate limit refuses the same way the guard does. `PARLEY_FAST_READS=false` turns
the lane off with the compiled reads."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    NullValueNode,
    ObjectValueNode,
    OperationType,
    VariableNode,
    Visitor,
    get_operation_ast,
    specified_rules,
    visit,
)
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.types import ExecutionResult

from domain.accounts.policy import require
from infra import traces
from infra.logs import get_logger
from resolvers.caller import caller_of
from resolvers.context import Context
from resolvers.fast_reads import FilterScope, NeedsFilterScope, NotCompilable, compile_query, id_parameter
from schema.core.access import rule_of
from schema.core.ids import decode_id
from schema.execution.documents import _statement_key
from schema.extensions import budget
from schema.extensions.error_contract import shape_error
from schema.extensions.guard import _costs, _parse, _validate
from schema.extensions.persisted import _requested

log = get_logger("parley.fast_lane")

# Root fields whose value is never null (a connection): the statement's JSON is the answer as it is.
LANE_ROOTS = frozenset({"conversations", "search", "conversation", "__typename"})
# Root fields that are null when the object is not found or not visible: such an answer is the
# stock way's (it says NOT_FOUND), which then charges the operation once more.
NULLABLE_ROOTS = frozenset({"conversation"})
# The conversation list's filters whose values do not change the statement's best plan (equality on
# indexed columns read in the list's order): a list with only these, and one conversation, run on
# the lane's connections that plan a statement once (`Services.lane_engine`). A label, a search or
# filter conditions can match a handful of rows or most of them, so those are planned for their
# values each time, as every other statement is.
GENERIC_FILTERS = frozenset(
    {"status", "inboxId", "assignee", "assigneeId", "teamId", "priority", "contactId", "tab"}
    | {"inbox_id", "assignee_id", "team_id", "contact_id"}
)
_MAX_DOCUMENTS = 512
_MAX_PLANS = 64  # compiled statements per document (variables × what the statement reads of the actor)


class RawData:
    """The `data` object as JSON text from PostgreSQL, written into the response as it is."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


@dataclass
class _Document:
    document: DocumentNode | None  # None: not for the lane (served the stock way)
    plans: OrderedDict[tuple, tuple[Any, list[Any], tuple]] = field(default_factory=OrderedDict)
    # the statements of NEEDS_SCOPE plans, per scope: apart, so the markers do not evict them
    scoped: OrderedDict[tuple, tuple[Any, list[Any]]] = field(default_factory=OrderedDict)
    # per variables as sent and actor: the plan, its cost and operation name (see _ready)
    ready: OrderedDict[tuple, tuple] = field(default_factory=OrderedDict)
    # variable -> bind parameter: `conversation(id: $v)` at the root, $v used nowhere else; its
    # value is a parameter of the plan, not part of its key (one plan for every conversation)
    params: dict[str, str] = field(default_factory=dict)


def _recall(cache: OrderedDict, key: tuple) -> Any:
    """The cached plan, kept as recently used (a cache smaller than the callers it serves in turn
    would otherwise miss every time)."""
    plan = cache.get(key)
    if plan is not None:
        cache.move_to_end(key)
    return plan


def _remember(cache: OrderedDict, key: tuple, plan: Any) -> None:
    cache[key] = plan
    while len(cache) > _MAX_PLANS:
        cache.popitem(last=False)


_DOCUMENTS: OrderedDict[tuple, _Document] = OrderedDict()
NEEDS_SCOPE: Any = object()  # a plan whose statement depends on the account's FilterScope
stats = {"served": 0}  # answers the lane gave (tests check that it is taken)


def _document(schema: Any, query: str, operation_name: str | None, caller: Any, max_chars: int) -> _Document:
    key = (query, operation_name, caller.kind, caller.introspection, tuple(sorted(caller.limits.items())))
    found = _DOCUMENTS.get(key)
    if found is not None:
        _DOCUMENTS.move_to_end(key)
        return found
    entry = _Document(_check(schema, query, operation_name, caller, max_chars))
    if entry.document is not None:
        entry.params = _id_parameters(entry.document, operation_name)
    _DOCUMENTS[key] = entry
    while len(_DOCUMENTS) > _MAX_DOCUMENTS:
        _DOCUMENTS.popitem(last=False)
    return entry


_MASK = "\u0000parameter"  # a parameter's value in a plan's key


def _id_parameters(document: DocumentNode, operation_name: str | None) -> dict[str, str]:
    """The variables that are the `id` of a root `conversation` field and are used nowhere else in
    the document, with their bind parameters (resolvers.fast_reads.id_parameter)."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return {}
    uses: dict[str, int] = {}

    class Count(Visitor):
        def enter_variable(self, node: VariableNode, *_args: Any) -> None:
            uses[node.name.value] = uses.get(node.name.value, 0) + 1

        def enter_variable_definition(self, *_args: Any) -> Any:
            return self.SKIP  # the declaration is not a use

    for definition in document.definitions:
        visit(definition, Count())
    found: dict[str, str] = {}
    for selection in operation.selection_set.selections:
        if not isinstance(selection, FieldNode) or selection.name.value != "conversation":
            continue
        for argument in selection.arguments or ():
            value = argument.value
            if argument.name.value == "id" and isinstance(value, VariableNode) and uses.get(value.name.value) == 1:
                found[value.name.value] = id_parameter(value.name.value)
    return found


def _parameters(entry: _Document, variables: dict[str, Any] | None) -> tuple[dict | None, dict[str, Any] | None]:
    """(the variables as a plan's key sees them, the bind values) for a request; (variables, None)
    when the document has no parameter or a value is not an id (the plan is then keyed by it)."""
    if not entry.params or not variables:
        return variables, None
    masked = dict(variables)
    values: dict[str, Any] = {}
    for variable, bind in entry.params.items():
        value = variables.get(variable)
        if not isinstance(value, str):
            return variables, None
        values[bind] = decode_id(value, "Conversation")  # a bad id raises: the stock way says so
        masked[variable] = _MASK
    return masked, values


_CANDIDATES: OrderedDict[tuple[str, str | None], bool] = OrderedDict()


def candidate(query: str, operation_name: str | None, settings: Any) -> bool:
    """False when the document's operation is certainly not the lane's (not a query, or a root field
    other than LANE_ROOTS), without knowing the caller; True when it may be (then checked in full)."""
    key = (query, operation_name)
    found = _CANDIDATES.get(key)
    if found is not None:
        return found
    found = _may_be_for_the_lane(query, operation_name, settings)
    _CANDIDATES[key] = found
    while len(_CANDIDATES) > _MAX_DOCUMENTS:
        _CANDIDATES.popitem(last=False)
    return found


def _may_be_for_the_lane(query: str, operation_name: str | None, settings: Any) -> bool:
    if len(query) > settings.query_max_document_chars:
        return False
    try:
        document = _parse(query, settings.query_max_tokens)
    except GraphQLError:
        return True  # too many tokens for the default limit, say: the caller's own limit decides
    operation = get_operation_ast(document, operation_name)
    if operation is None or operation.operation != OperationType.QUERY:
        return False
    for selection in operation.selection_set.selections:
        if isinstance(selection, FieldNode) and selection.name.value not in LANE_ROOTS:
            return False
    return True


def _check(schema: Any, query: str, operation_name: str | None, caller: Any, max_chars: int) -> DocumentNode | None:
    """The document when the guard (schema/extensions/guard.py) lets it through unchanged and its
    operation is a query; None otherwise."""
    if len(query) > max_chars:
        return None
    try:
        document = _parse(query, caller.limits["max_tokens"])
    except GraphQLError:
        return None
    operation = get_operation_ast(document, operation_name)
    if operation is None or operation.operation != OperationType.QUERY:
        return None
    gschema = schema._schema
    rules: tuple = tuple(specified_rules)  # the execution context's default, as the guard receives it
    if not caller.introspection:
        rules = (*rules, NoSchemaIntrospectionCustomRule)
    if list(_validate(gschema, document, rules)):
        return None
    return document


async def answer(view: Any, context: Any, request_data: Any, method: str) -> ExecutionResult | None:
    """The answer of the fast lane, or None to serve the request the stock way."""
    if not isinstance(context, Context) or context.pending_limits is None:
        return None  # batches and streams take the stock way
    try:
        prepared = await _prepare(view, context, request_data)
    except Exception:
        log.debug("fast_lane.not_used", exc_info=True)
        return None
    if prepared is None:
        return None
    caller, stmt, cost, nullable, values = prepared
    settings = context.settings
    report, refused = await budget.charge(context, caller, cost, settings.query_cost_window_seconds)
    if getattr(context, "credentials_refreshed", False):
        # The caller is resolved again; the stock way runs with the fresh one (and charges again).
        context.caller = None
        return None
    results = {"cost": report.as_extension()} if report is not None else {}
    if refused:
        await view._settle_limits(context)  # a rate limit answers 429
        return ExecutionResult(data=None, errors=[shape_error(e) for e in refused], extensions=results)
    if context._session is None:
        context.read_only = True  # a query's session runs without a transaction
    try:
        raw = await _fetch(context, stmt, values)
    except Exception:
        # A compiler bug, never the caller's: logged, and the stock way answers (it charges the
        # operation's cost once more).
        log.exception("fast_lane.statement_failed")
        async with context.db() as session:
            await session.rollback()
        await context.close()
        return None
    await context.close()
    # PostgreSQL writes a json_build_object's null member as `"key" : null`: without such text no
    # root is null, and the answer (50 messages, say) is not parsed to find out.
    if nullable and any(f'"{key}" : null' in raw for key in nullable):
        data = orjson.loads(raw)
        if any(data.get(key) is None for key in nullable):
            return None  # not found or not visible: the stock way's NOT_FOUND
    stats["served"] += 1
    return ExecutionResult(data=RawData(raw), errors=None, extensions=results or None)  # type: ignore[arg-type]


async def _prepare(view: Any, context: Context, request_data: Any) -> tuple[Any, Any, int, tuple, Any] | None:
    """(caller, statement, cost, the roots that may be null, bind values) when the lane serves the
    request, before anything is charged."""
    if context.pending_limits is None:
        return None  # batches and streams take the stock way
    settings = context.settings
    if not settings.fast_reads or request_data.protocol != "http":
        return None
    query = request_data.query
    extensions = request_data.extensions
    if extensions:
        if set(extensions) != {"persistedQuery"} or query is not None:
            return None  # registrations, document ids, anything else: the stock way
        try:
            document_id, sha = _requested(extensions)
        except Exception:  # noqa: BLE001 - the stock way says what is wrong
            return None
        if document_id is not None or sha is None:
            return None
    if not context.credential.token:
        return None
    if extensions:
        store = context.services.documents
        query = await store.get(sha) if store is not None else None  # the process's copy: no round trip
        if query is None:
            return None
    if not isinstance(query, str) or not candidate(query, request_data.operation_name, settings):
        return None  # mutations and other roots: the stock way, which alone resolves the caller
    caller = await caller_of(context)
    if caller.kind not in ("user", "bot") or caller.actor is None:
        return None
    schema = view.schema
    entry = _document(schema, query, request_data.operation_name, caller, settings.query_max_document_chars)
    if entry.document is None:
        return None
    actor = caller.actor
    try:
        shape, values = _parameters(entry, request_data.variables)
        variables = orjson.dumps(shape, option=orjson.OPT_SORT_KEYS)
    except Exception:  # noqa: BLE001 - not JSON, or not an id: the stock way answers
        return None
    # What the plan depends on besides the document: the variables as sent (a parameter's value
    # aside) and the actor's identity.
    sent = (variables, actor.kind, actor.account_id, actor.user_id, actor.role, actor.permissions)
    ready = _recall(entry.ready, sent)
    if ready is None:
        ready = _ready(schema, entry, context, request_data, actor, caller.limits, values is not None)
        if ready is None:
            return None
        _remember(entry.ready, sent, ready)
    stmt, rules, cost, operation_name, key, nullable = ready
    context.operation_name = operation_name  # what the metrics count
    try:
        for rule in rules:
            require(actor, rule)
    except Exception:  # noqa: BLE001 - refused: the stock way gives the error
        return None
    if stmt is NEEDS_SCOPE:
        # filter conditions: one statement reads the attribute definitions they compile against
        if context._session is None:
            context.read_only = True
        async with context.db() as session:
            scope = await FilterScope.load(session, actor)
        scoped_key = (key, scope.key)
        scoped = _recall(entry.scoped, scoped_key)
        if scoped is None:
            executor = _executor(schema, entry, context, request_data)
            if executor is None:
                return None
            try:
                scoped = (compile_query(executor, actor, executor._compilable_roots(), scope), rules)
            except Exception:  # noqa: BLE001 - a bad condition: the stock way reports it
                return None
            _remember(entry.scoped, scoped_key, scoped)
        stmt = scoped[0]
    return caller, stmt, cost, nullable, values


def _executor(schema: Any, entry: _Document, context: Context, request_data: Any) -> Any:
    """graphql-core's execution context for the request (its variables coerced), or None when the
    stock way refuses the variables."""
    executor = schema.execution_context_class.build(
        schema._schema, entry.document, None, context, request_data.variables, request_data.operation_name
    )
    return None if isinstance(executor, list) else executor


def _ready(
    schema: Any, entry: _Document, context: Context, request_data: Any, actor: Any, limits: dict, masked: bool
) -> tuple[Any, list[Any], int, str | None, tuple, tuple] | None:
    """(statement or NEEDS_SCOPE, access rules, cost, operation name, statement key, the response
    keys of roots that may be null) for a document,
    its variables as sent and the actor: built once, then recalled without coercing the variables
    or walking the document again."""
    executor = _executor(schema, entry, context, request_data)
    if executor is None:
        return None
    name = executor.operation.name
    key = _statement_key(executor, actor)
    if key is None:
        return None
    if masked:  # the parameters' values are bound at each execution: not part of the plan's key
        coerced = {**executor.variable_values.coerced, **dict.fromkeys(entry.params, _MASK)}
        key = (*key[:2], orjson.dumps(coerced, option=orjson.OPT_SORT_KEYS), *key[3:])
    plan = _recall(entry.plans, key)
    if plan is None:
        plan = _plan(executor, actor)
        if plan is None:
            return None
        _remember(entry.plans, key, plan)
    cost, problems = _costs.measure(
        schema._schema, entry.document, request_data.operation_name, request_data.variables, limits
    )
    if problems:
        return None
    return plan[0], plan[1], cost, name.value if name is not None else None, key, plan[2]


# Called with (engine, SQL) for each statement the lane sends past SQLAlchemy (tests and the
# benchmark count them).
statement_observers: list[Callable[[Any, str], None]] = []
# id(statement) -> (it, SQL, args, how to make the args with other bind values)
_DRIVER_FORMS: OrderedDict[int, tuple[Any, str, tuple, Any]] = OrderedDict()


async def _fetch(context: Context, stmt: Any, values: dict[str, Any] | None = None) -> str:
    """The statement's JSON text. On PostgreSQL straight on the pooled asyncpg connection, with the
    SQL and arguments rendered once per cached statement: no session, no SQLAlchemy connection, no
    result object (a third of the lane's time went there). With traces on, or on SQLite, through
    the session as any other statement, so it shows in the spans."""
    services = context.services
    reads = await context._read_sessions()
    engine = services.replica_engine if reads is services.replica_sessions else services.engine
    database = engine  # the statements' database, as the observers are told (the lane's pool is the primary's)
    if engine is services.engine and services.lane_engine is not None and _GENERIC.get(id(stmt)) is stmt:
        engine = services.lane_engine
    if engine is None or engine.dialect.name != "postgresql" or traces.enabled() or _first_use(stmt):
        # A statement's first use goes through SQLAlchemy, whose compiled cache renders a statement
        # of a known shape cheaply: one built for one request (a page cursor, one conversation's
        # id) would otherwise pay a full rendering that is never used again.
        async with context.db() as session:
            connection = await session.connection()  # Core: no ORM bookkeeping for a text result
            return (await connection.execute(stmt, values or {})).scalar_one()
    sql, args = _driver_form(stmt, engine.dialect, values)
    pooled = await engine.raw_connection()
    try:
        raw = await pooled.driver_connection.fetchval(sql, *args)
    except BaseException:
        pooled.invalidate()  # its state is unknown (a lost connection, a cancelled read): not reused
        raise
    finally:
        pooled.close()
    for observe in statement_observers:
        observe(database, sql)
    return raw


_USED_ONCE: OrderedDict[int, Any] = OrderedDict()  # id(statement) -> statement, used once so far


def _first_use(stmt: Any) -> bool:
    key = id(stmt)
    if key in _DRIVER_FORMS:
        return False
    if _USED_ONCE.get(key) is stmt:
        del _USED_ONCE[key]
        return False
    _USED_ONCE[key] = stmt
    while len(_USED_ONCE) > _MAX_DOCUMENTS * 4:
        _USED_ONCE.popitem(last=False)
    return True


def _driver_form(stmt: Any, dialect: Any, values: dict[str, Any] | None = None) -> tuple[str, tuple]:
    """The statement as asyncpg takes it: `$n` SQL with expanded IN lists, and its arguments (with
    `values` for some of its bind parameters, the others as built)."""
    found = _DRIVER_FORMS.get(id(stmt))
    if found is None or found[0] is not stmt:
        compiled = stmt.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})

        def arguments(given: dict[str, Any] | None, compiled: Any = compiled) -> tuple:
            params = compiled.construct_params(given)
            processors = compiled._bind_processors
            return tuple(
                processors[name](params[name]) if name in processors else params[name]
                for name in compiled.positiontup or ()
            )

        found = (stmt, compiled.string, arguments(None), arguments)  # keeps the statement: its id stays its own
        _DRIVER_FORMS[id(stmt)] = found
        while len(_DRIVER_FORMS) > _MAX_DOCUMENTS * 4:
            _DRIVER_FORMS.popitem(last=False)
    return found[1], (found[3](values) if values else found[2])


def _plan(executor: Any, actor: Any) -> tuple[Any, list[Any], tuple] | None:
    """(statement or NEEDS_SCOPE, access rules, the response keys of roots that may be null)."""
    grouped = executor._compilable_roots()
    if grouped is None:
        return None
    names = {group[0].node.name.value for group in grouped.values()}
    if not names <= LANE_ROOTS:
        return None
    root_type = executor.schema.query_type
    rules = []
    for name in names - {"__typename"}:
        rule = rule_of(root_type.fields[name].extensions["strawberry-definition"])
        if rule is None:
            return None
        rules.append(rule)
    nullable = tuple(k for k, group in grouped.items() if group[0].node.name.value in NULLABLE_ROOTS)
    try:
        for rule in rules:
            require(actor, rule)
        stmt = compile_query(executor, actor, grouped)
        _mark_planned_once(executor, grouped, stmt)
        return stmt, rules, nullable
    except NeedsFilterScope:
        return NEEDS_SCOPE, rules, nullable
    except NotCompilable:
        return None
    except Exception:  # noqa: BLE001 - a bad argument: the stock way reports it
        return None


_GENERIC: OrderedDict[int, Any] = OrderedDict()  # id(statement) -> statement: planned once per connection


def _mark_planned_once(executor: Any, grouped: dict, stmt: Any) -> None:
    """Send the statement to the lane's planned-once connections when `_planned_once` says so (a
    failure to tell leaves it on the ordinary ones; the lane still serves it)."""
    try:
        once = _planned_once(executor, grouped)
    except Exception:  # an unexpected shape: planned each time, as any statement
        log.debug("fast_lane.plan_mode_unknown", exc_info=True)
        return
    if once:
        _GENERIC[id(stmt)] = stmt
        while len(_GENERIC) > _MAX_DOCUMENTS * 4:
            _GENERIC.popitem(last=False)


def _planned_once(executor: Any, grouped: dict) -> bool:
    """Whether every root is one conversation or a conversation list filtered only by
    GENERIC_FILTERS (its statement may then run with one plan for all values)."""
    values = executor.variable_values
    variables = getattr(values, "coerced", values)  # graphql-core's VariableValues, or a plain dict
    for group in grouped.values():
        node = group[0].node
        name = node.name.value
        if name in ("conversation", "__typename"):
            continue
        if name != "conversations":
            return False
        for argument in node.arguments or ():
            if argument.name.value != "filter":
                continue
            value = argument.value
            if isinstance(value, VariableNode):
                given = variables.get(value.name.value)
                keys = {k for k, v in given.items() if v is not None} if isinstance(given, dict) else set()
                if given is not None and not isinstance(given, dict):
                    return False
            elif isinstance(value, ObjectValueNode):
                keys = {
                    f.name.value
                    for f in value.fields
                    if not isinstance(f.value, NullValueNode)
                    and not (isinstance(f.value, VariableNode) and variables.get(f.value.name.value) is None)
                }
            elif isinstance(value, NullValueNode):
                keys = set()
            else:
                return False
            if not keys <= GENERIC_FILTERS:
                return False
    return True


def encode(data: dict) -> bytes | None:
    """The response bytes around the statement's text, or None when the answer is not the lane's."""
    raw = data.get("data")
    if type(raw) is not RawData or "errors" in data:
        return None
    extensions = data.get("extensions")
    tail = b',"extensions":' + orjson.dumps(extensions) + b"}" if extensions else b"}"
    return b'{"data":' + raw.text.encode() + tail
