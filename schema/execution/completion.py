"""Compiled completion: graphql-core completes a value field by field (a resolver call, an Info, a Path,
an awaitable check and a serializer per leaf). For the parts of a selection that need none of that —
attribute reads, synchronous methods of the object itself (`id`), nested objects made only of those,
lists of them, scalar and enum leaves — this module generates one Python function per distinct
selection, once, and calls it instead.

Per object the selected fields split in two: the *plain* ones (their whole sub-tree is plain) are
built by the generated function; the others (arguments, async resolvers, field extensions such as
access rules, unions and interfaces) run through graphql-core as before, and the two halves are
merged in the selection's order.

The generated code handles the happy path only. Anything unusual — a null in a non-null position, an
exception from an attribute or method, a value a scalar refuses, a non-list for a list — raises, and
graphql-core completes that object again from scratch, producing the errors, paths and null
propagation the specification asks for. Plain fields have no side effects (attribute reads and
argument-less synchronous methods of the object), so running them twice is harmless.

Plans are cached by (type, document text, node positions), so they survive across requests; selections
that carry `@skip`/`@include` get a plan for the request only. `tests/test_differential.py` compares
this path with stock execution for every query field of the schema."""

from __future__ import annotations

import inspect
import itertools
from datetime import date, datetime, time
from typing import Any

from graphql import (
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLFloat,
    GraphQLID,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLString,
)
from graphql.execution.collect_fields import collect_subfields
from graphql.language import FieldNode, FragmentSpreadNode, InlineFragmentNode
from graphql.pyutils import Undefined
from strawberry.schema.types.base_scalars import isoformat as _strawberry_isoformat

_INELIGIBLE: Any = object()
_PLAN_CACHE: dict[tuple, tuple[Any, Any]] = {}  # key -> (objects kept alive, plan or _INELIGIBLE)
_PLAN_CACHE_MAX = 2048
_counter = itertools.count()
_FIELD_READERS: dict[tuple[str, str], Any] = {}  # (type, field) -> ("attr", name) | ("call", function) | None


class _Bail(Exception):
    """Raised by generated code: complete this object through graphql-core instead."""


def _has_directives(selection_set, fragments, seen: set[str] | None = None) -> bool:
    if selection_set is None:
        return False
    for s in selection_set.selections:
        if s.directives:
            return True
        if isinstance(s, (FieldNode, InlineFragmentNode)):
            if _has_directives(s.selection_set, fragments, seen):
                return True
        elif isinstance(s, FragmentSpreadNode):
            seen = seen if seen is not None else set()
            name = s.name.value
            if name in seen:
                continue
            seen.add(name)
            fragment = fragments.get(name)
            if fragment is None:
                return True
            definition = getattr(fragment, "definition", fragment)
            if definition.directives or _has_directives(definition.selection_set, fragments, seen):
                return True
    return False


def _leaf_coercer(gtype):
    coerce = gtype.coerce_output_value

    def checked(value):
        out = coerce(value)
        if out is None or out is Undefined:
            raise _Bail
        return out

    return checked


def _as_list_map(value, fn):
    kind = type(value)
    if kind is not list and kind is not tuple:
        raise _Bail
    return [fn(x) for x in value]


def field_reader(otype: GraphQLObjectType, name: str):
    """How a plain field is read, or None when graphql-core must resolve it: ("attr", python name) for
    a field without resolver, ("call", function) for a synchronous resolver taking only `self`."""
    key = (otype.name, name)
    if key in _FIELD_READERS:
        return _FIELD_READERS[key]
    reader = None
    fdef = otype.fields.get(name)
    sdef = (fdef.extensions or {}).get("strawberry-definition") if fdef is not None else None
    if fdef is not None and sdef is not None and not fdef.args and not sdef.extensions and not sdef.permission_classes:
        resolver = sdef.base_resolver
        if resolver is None:
            if getattr(fdef.resolve, "_is_default", False) and sdef.python_name.isidentifier():
                reader = ("attr", sdef.python_name)
        elif not resolver.is_async:
            func = resolver._unbound_wrapped_func
            try:
                params = list(inspect.signature(func).parameters)
            except (TypeError, ValueError):
                params = []
            if params == ["self"] and inspect.isfunction(func):
                reader = ("call", func)
    _FIELD_READERS[key] = reader
    return reader


class _Gen:
    """Generates the source of one plan: nested expressions, one function per object selection."""

    def __init__(self, ex) -> None:
        self.ex = ex
        self.env: dict[str, Any] = {"_Bail": _Bail, "type": type, "str": str, "int": int, "bool": bool}
        self.funcs: list[str] = []
        self.n = 0

    def name(self, prefix: str, obj: Any = None) -> str:
        self.n += 1
        nm = f"{prefix}{self.n}"
        if obj is not None:
            self.env[nm] = obj
        return nm

    def value(self, gtype, fdl, expr: str) -> str | None:
        """The expression completing `expr` as `gtype`, or None when the sub-tree is not plain."""
        if isinstance(gtype, GraphQLNonNull):
            # A None reaches the object function, list helper or coercer, which bail.
            return self.body(gtype.of_type, fdl, expr)
        v = self.name("v")
        body = self.body(gtype, fdl, v)
        if body is None:
            return None
        return f"(None if ({v} := {expr}) is None else {body})"

    def body(self, inner, fdl, expr: str) -> str | None:
        if isinstance(inner, GraphQLList):
            item = self.item_function(inner.of_type, fdl)
            if item is None:
                return None
            self.env["_L"] = _as_list_map
            return f"_L({expr}, {item})"
        if isinstance(inner, GraphQLObjectType):
            fn = self.object_function(inner, fdl)
            return None if fn is None else f"{fn}({expr})"
        if isinstance(inner, (GraphQLScalarType, GraphQLEnumType)):
            return self.leaf(inner, expr)
        return None  # interfaces and unions: graphql-core resolves the runtime type

    def leaf(self, gtype, expr: str) -> str:
        c = self.name("C", _leaf_coercer(gtype))
        v = self.name("v")
        if gtype is GraphQLString:
            return f"({v} if type({v} := {expr}) is str else {c}({v}))"
        if gtype is GraphQLID:
            return f"({v} if type({v} := {expr}) is str else {c}({v}))"
        if gtype is GraphQLInt:
            return f"({v} if type({v} := {expr}) is int and -2147483648 <= {v} <= 2147483647 else {c}({v}))"
        if gtype is GraphQLBoolean:
            return f"({v} if type({v} := {expr}) is bool else {c}({v}))"
        if gtype is GraphQLFloat:
            return f"{c}({expr})"
        if getattr(gtype, "coerce_output_value", None) is _strawberry_isoformat:
            self.env["datetime"], self.env["date"], self.env["time"] = datetime, date, time
            return f"({v}.isoformat() if type({v} := {expr}) in (datetime, date, time) else {c}({v}))"
        return f"{c}({expr})"

    def item_function(self, item_type, fdl) -> str | None:
        expr = self.value(item_type, fdl, "x")
        if expr is None:
            return None
        fn = self.name("I")
        self.funcs.append(f"def {fn}(x):\n    return {expr}\n")
        return fn

    def collected(self, otype: GraphQLObjectType, fdl):
        ex = self.ex
        return collect_subfields(
            ex.schema, ex.fragments, ex.variable_values, ex.operation, otype, fdl, ex.hide_suggestions
        )

    def field_expr(self, otype: GraphQLObjectType, key: str, sub_fdl, src: str) -> str | None:
        """The expression of one selected field of an object held in `src`, or None (not plain)."""
        if any(fd.defer_usage is not None or fd.fragment_variable_values is not None for fd in sub_fdl):
            return None
        node = sub_fdl[0].node
        fname = node.name.value
        if fname == "__typename":
            return repr(otype.name)
        if node.arguments:
            return None
        reader = field_reader(otype, fname)
        if reader is None:
            return None
        if reader[0] == "attr":
            read = f"{src}.{reader[1]}"
        else:
            read = f"{self.name('F', reader[1])}({src})"
        return self.value(otype.fields[fname].type, sub_fdl, read)

    def object_function(self, otype: GraphQLObjectType, fdl) -> str | None:
        if otype.is_type_of is not None:
            return None
        collected = self.collected(otype, fdl)
        if collected.new_defer_usages:
            return None
        items = []
        for key, sub_fdl in collected.grouped_field_set.items():
            expr = self.field_expr(otype, key, sub_fdl, "o")
            if expr is None:
                return None
            items.append(f"{key!r}: {expr}")
        fn = self.name("O")
        self.funcs.append(f"def {fn}(o):\n    if o is None:\n        raise _Bail\n    return {{{', '.join(items)}}}\n")
        return fn

    def build(self, expr: str):
        source = "".join(self.funcs) + f"def plan(root):\n    return {expr}\n"
        namespace = dict(self.env)
        exec(compile(source, f"<parley-completion-{next(_counter)}>", "exec"), namespace)
        plan = namespace["plan"]
        plan.__source__ = source
        return plan


def _compile_value(ex, return_type, fdl):
    gen = _Gen(ex)
    expr = gen.value(return_type, fdl, "root")
    return _INELIGIBLE if expr is None else gen.build(expr)


class _ObjectPlan:
    """One object selection split in two: `plain(source)` builds the plain fields' dict; `rest` is the
    grouped field set graphql-core executes; `order` the response names in selection order."""

    __slots__ = ("order", "plain", "rest")

    def __init__(self, plain, rest, order) -> None:
        self.plain, self.rest, self.order = plain, rest, order


def _compile_object(ex, otype: GraphQLObjectType, fdl):
    if otype.is_type_of is not None:
        return _INELIGIBLE
    gen = _Gen(ex)
    collected = gen.collected(otype, fdl)
    if collected.new_defer_usages:
        return _INELIGIBLE
    items, rest, order = [], {}, []
    for key, sub_fdl in collected.grouped_field_set.items():
        order.append(key)
        expr = gen.field_expr(otype, key, sub_fdl, "root")
        if expr is None:
            rest[key] = sub_fdl
        else:
            items.append(f"{key!r}: {expr}")
    if not items:
        return _INELIGIBLE
    plain = gen.build("{" + ", ".join(items) + "}")
    return _ObjectPlan(plain, rest or None, order)


def _enabled(context) -> bool:
    services = getattr(context, "services", None)
    settings = getattr(services, "settings", None)
    return bool(getattr(settings, "compiled_completion", True))


class CompiledCompletion:
    """Mixin for Strawberry's graphql-core execution context (schema/execution/__init__.py)."""

    _compiled_on: bool | None = None

    def _compiled(self) -> bool:
        on = self._compiled_on
        if on is None:
            on = self._compiled_on = _enabled(self.context_value) and not (  # type: ignore[attr-defined]
                self.middleware_manager is not None and self.middleware_manager.middlewares  # type: ignore[attr-defined]
            )
        return on

    def complete_value(self, return_type, field_details_list, info, path, result, position_context):
        inner = return_type
        while isinstance(inner, (GraphQLNonNull, GraphQLList)):
            inner = inner.of_type
        if (
            isinstance(inner, GraphQLObjectType)
            and result is not None
            and result is not Undefined
            and not isinstance(result, Exception)
            and self._compiled()
        ):
            plan = self._plan("v", return_type, field_details_list, _compile_value)
            if plan is not _INELIGIBLE:
                try:
                    return plan(result)
                except Exception:  # noqa: BLE001 - graphql-core completes it again, with the proper errors
                    pass
        return super().complete_value(  # type: ignore[misc]
            return_type, field_details_list, info, path, result, position_context
        )

    def collect_and_execute_subfields(self, return_type, field_details_list, path, result, position_context):
        if self._compiled():
            plan = self._plan("o", return_type, field_details_list, _compile_object)
            if plan is not _INELIGIBLE:
                try:
                    plain = plan.plain(result)
                except Exception:  # noqa: BLE001 - graphql-core completes it again, with the proper errors
                    plain = None
                if plain is not None:
                    if plan.rest is None:
                        return plain
                    rest = self.execute_fields(return_type, result, path, plan.rest, position_context)  # type: ignore[attr-defined]
                    if self.is_awaitable(rest):  # type: ignore[attr-defined]
                        return _merge_later(plain, rest, plan.order)
                    return _merge(plain, rest, plan.order)
        return super().collect_and_execute_subfields(  # type: ignore[misc]
            return_type, field_details_list, path, result, position_context
        )

    def _plan(self, kind: str, return_type, fdl, compile_):
        nodes = tuple(fd.node for fd in fdl)
        loc = nodes[0].loc
        if loc is not None:
            # Same document text and node positions: the same selection, whether or not the parsed
            # document object is reused.
            key: tuple = (kind, id(return_type), loc.source.body, *(n.loc.start for n in nodes if n.loc))
            keep: Any = return_type
        else:
            key = (kind, id(return_type), *map(id, nodes))
            keep = (return_type, nodes)  # keeps the ids from being recycled
        hit = _PLAN_CACHE.get(key)
        if hit is not None:
            return hit[1]
        local = self.__dict__.setdefault("_local_plans", {})
        if key in local:
            return local[key]
        plan = compile_(self, return_type, fdl)
        if any(_has_directives(n.selection_set, self.fragments) for n in nodes):  # type: ignore[attr-defined]
            local[key] = plan  # @skip/@include depend on this request's variables
            return plan
        if len(_PLAN_CACHE) >= _PLAN_CACHE_MAX:
            _PLAN_CACHE.clear()
        _PLAN_CACHE[key] = (keep, plan)
        return plan


def _merge(plain: dict, rest: dict, order: list[str]) -> dict:
    out = {}
    for key in order:
        if key in plain:
            out[key] = plain[key]
        elif key in rest:
            out[key] = rest[key]
    return out


async def _merge_later(plain: dict, rest, order: list[str]) -> dict:
    return _merge(plain, await rest, order)
