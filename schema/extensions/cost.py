"""What a document costs and which static limits it breaks (GraphQL Armor's checks): tokens are
counted by the parser; here depth, aliases (through every fragment spread), root fields, mutations
per request (sign-in-like ones at most once), directives, introspection nesting, and a static cost:
objects the query may return, lists multiplied by `first`/`last` (or the connection's default page),
a per-field override in the field's metadata (`metadata={"cost": n}`). Every fragment is measured
once (memoised), so nesting spreads cannot blow up the walk."""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DirectiveNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    is_composite_type,
)
from graphql.language import Visitor, visit
from graphql.type.introspection import SchemaMetaFieldDef, TypeMetaFieldDef, TypeNameMetaFieldDef

from domain.errors import ParleyError
from domain.partners.errors import QueryTooComplex
from schema.core.pagination import DEFAULT_PAGE

ASSUMED_LIST_SIZE = 10  # plain lists (not connections) of objects
MUTATION_COST = 10
# Introspection is measured apart from the schema's depth: GraphiQL's query is 15 levels deep (ofType
# chains) but nests only three lists (types → fields → args); circular introspection nests more.
INTROSPECTION_MAX_DEPTH = 20
INTROSPECTION_MAX_LISTS = 3
# Mutations an attacker would batch to guess credentials or tokens: once per request.
SENSITIVE_MUTATIONS = frozenset(
    {
        "login",
        "tokenRefresh",
        "passwordResetRequest",
        "passwordResetConfirm",
        "invitationAccept",
        "accountCreate",
        "passwordChange",
    }
)
_META_FIELDS = {"__schema": SchemaMetaFieldDef, "__type": TypeMetaFieldDef, "__typename": TypeNameMetaFieldDef}
# Page sizes beyond GraphQL's Int are refused when the variables are coerced; the estimate treats them
# as the default page, and no cost grows past this ceiling (it stays a JSON-safe integer).
MAX_INT = 2**31 - 1
COST_CEILING = 2**53 - 1
_BACKREF = "strawberry-definition"


@dataclass
class Measure:
    depth: int = 0  # fields of the schema's own types
    aliases: int = 0
    cost: int = 0
    introspection_depth: int = 0  # fields of introspection (`__schema`, `__type` and their types)
    introspection_lists: int = 0  # lists of introspection on one path (types → fields → args)


def _merge(total: Measure, m: Measure) -> None:
    total.depth = max(total.depth, m.depth)
    total.aliases += m.aliases
    total.cost = min(total.cost + m.cost, COST_CEILING)
    total.introspection_depth = max(total.introspection_depth, m.introspection_depth)
    total.introspection_lists = max(total.introspection_lists, m.introspection_lists)


@dataclass
class Walk:
    schema: GraphQLSchema
    fragments: dict[str, FragmentDefinitionNode]
    variables: dict[str, Any]
    memo: dict[str, Measure] = field(default_factory=dict)
    active: set[str] = field(default_factory=set)
    mutation_type: Any = None

    def fragment(self, name: str) -> Measure:
        if name in self.memo:
            return self.memo[name]
        fragment = self.fragments.get(name)
        if fragment is None or name in self.active:
            return Measure()  # unknown or cyclic: validation reports it
        self.active.add(name)
        parent = self.schema.get_type(fragment.type_condition.name.value)
        measured = self.selection_set(fragment.selection_set, parent)
        self.active.discard(name)
        self.memo[name] = measured
        return measured

    def selection_set(self, selection_set: SelectionSetNode | None, parent: Any) -> Measure:
        total = Measure()
        if selection_set is None:
            return total
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                m = self.field(selection, parent)
            elif isinstance(selection, InlineFragmentNode):
                inner = (
                    self.schema.get_type(selection.type_condition.name.value) if selection.type_condition else parent
                )
                m = self.selection_set(selection.selection_set, inner)
            elif isinstance(selection, FragmentSpreadNode):
                m = self.fragment(selection.name.value)
            else:  # pragma: no cover
                continue
            _merge(total, m)
        return total

    def field(self, node: FieldNode, parent: Any) -> Measure:
        root_mutation = parent is not None and parent is self.mutation_type
        name = node.name.value
        definition = _META_FIELDS.get(name) or (parent.fields.get(name) if hasattr(parent, "fields") else None)
        return_type = definition.type if definition is not None else None
        named = get_named_type(return_type) if return_type is not None else None
        children = self.selection_set(node.selection_set, named)
        introspection = name.startswith("__") or str(getattr(parent, "name", "")).startswith("__")
        strawberry_field = (definition.extensions or {}).get(_BACKREF) if definition is not None else None
        metadata = getattr(strawberry_field, "metadata", None) or {}
        if introspection:
            base = 0
        elif "cost" in metadata:
            base = int(metadata["cost"])
        elif root_mutation:
            base = MUTATION_COST
        else:
            base = 1 if named is not None and is_composite_type(named) else 0
        aliases = children.aliases + (1 if node.alias else 0)
        if introspection:
            inner = return_type.of_type if isinstance(return_type, GraphQLNonNull) else return_type
            lists = children.introspection_lists + (1 if isinstance(inner, GraphQLList) else 0)
            return Measure(children.depth, aliases, children.cost, children.introspection_depth + 1, lists)
        factor = self._factor(node, definition, parent, return_type)
        return Measure(
            children.depth + 1,
            aliases,
            min(base + factor * children.cost, COST_CEILING),
            children.introspection_depth,
            children.introspection_lists,
        )

    def _factor(self, node: FieldNode, definition: Any, parent: Any, return_type: Any) -> int:
        if definition is None:
            return 1
        for arg_name in ("first", "last"):
            if arg_name in definition.args:
                value = self._argument(node, arg_name)
                if value is None:
                    default = definition.args[arg_name].default_value
                    value = default if isinstance(default, int) else DEFAULT_PAGE
                return max(int(value), 0)
        inner = return_type.of_type if isinstance(return_type, GraphQLNonNull) else return_type
        if isinstance(inner, GraphQLList):
            if hasattr(parent, "fields") and "pageInfo" in parent.fields:
                return 1  # edges and nodes of a connection: `first` already counted them
            return ASSUMED_LIST_SIZE
        return 1

    def _argument(self, node: FieldNode, name: str) -> int | None:
        for arg in node.arguments or ():
            if arg.name.value != name:
                continue
            value: object = None
            if isinstance(arg.value, IntValueNode) and len(arg.value.value) <= 11:
                value = int(arg.value.value)
            elif isinstance(arg.value, VariableNode):
                value = self.variables.get(arg.value.name.value)  # not coerced yet: any JSON value
            if isinstance(value, int) and not isinstance(value, bool) and -MAX_INT - 1 <= value <= MAX_INT:
                return value
            return None
        return None


def _selected_operation(document: DocumentNode, operation_name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name:
        return next((o for o in operations if o.name and o.name.value == operation_name), None)
    return operations[0] if len(operations) == 1 else None


def _root_names(walk: Walk, selection_set: SelectionSetNode, memo: dict[str, Counter], active: set[str]) -> Counter:
    """How many times each root field is selected, through fragments (each fragment counted once)."""
    names: Counter = Counter()
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            names[selection.name.value] += 1
        elif isinstance(selection, InlineFragmentNode):
            names.update(_root_names(walk, selection.selection_set, memo, active))
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name not in memo:
                fragment = walk.fragments.get(name)
                if fragment is None or name in active:
                    continue
                active.add(name)
                memo[name] = _root_names(walk, fragment.selection_set, memo, active)
                active.discard(name)
            names.update(memo[name])
    return names


class _DirectiveCounter(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def enter_directive(self, node: DirectiveNode, *_args: Any) -> None:
        self.count += 1


def too_complex(limit: str, actual: int, maximum: int, message: str) -> QueryTooComplex:
    return QueryTooComplex(message, limit=limit, max=maximum, actual=actual)


def measure(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    limits: dict[str, int],
) -> tuple[int, list[ParleyError]]:
    """The operation's cost and the limits it breaks."""
    problems: list[ParleyError] = []
    counter = _DirectiveCounter()
    visit(document, counter)
    if counter.count > limits["max_directives"]:
        problems.append(
            too_complex(
                "directives",
                counter.count,
                limits["max_directives"],
                f"The document has {counter.count} directives; at most {limits['max_directives']} are allowed",
            )
        )
        return 0, problems
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    walk = Walk(schema, fragments, variables if variables is not None else {})
    operation = _selected_operation(document, operation_name)
    if operation is None:
        return 0, problems  # no operation to run: graphql-core explains why
    root_type = {
        OperationType.QUERY: schema.query_type,
        OperationType.MUTATION: schema.mutation_type,
        OperationType.SUBSCRIPTION: schema.subscription_type,
    }[operation.operation]
    roots = _root_names(walk, operation.selection_set, {}, set())
    root_count = sum(roots.values())
    if root_count > limits["max_root_fields"]:
        problems.append(
            too_complex(
                "rootFields",
                root_count,
                limits["max_root_fields"],
                f"The operation selects {root_count} root fields; at most {limits['max_root_fields']} are allowed",
            )
        )
    if operation.operation == OperationType.MUTATION:
        walk.mutation_type = root_type
        if root_count > limits["max_mutations"]:
            problems.append(
                too_complex(
                    "mutations",
                    root_count,
                    limits["max_mutations"],
                    f"The request runs {root_count} mutations; at most {limits['max_mutations']} are allowed",
                )
            )
        sensitive = sum(count for name, count in roots.items() if name in SENSITIVE_MUTATIONS)
        if sensitive > 1:
            names = sorted(name for name in roots if name in SENSITIVE_MUTATIONS)
            problems.append(
                too_complex("sensitiveMutations", sensitive, 1, f"{', '.join(names)} may run only once per request")
            )
    total = walk.selection_set(operation.selection_set, root_type) if root_type is not None else Measure()
    # Aliases in every operation of the document count (an unused operation is still parsed and checked).
    for other in document.definitions:
        if isinstance(other, OperationDefinitionNode) and other is not operation:
            total.aliases += walk.selection_set(other.selection_set, None).aliases
    if total.depth > limits["max_depth"]:
        problems.append(
            too_complex(
                "depth",
                total.depth,
                limits["max_depth"],
                f"The query is {total.depth} levels deep; at most {limits['max_depth']} are allowed",
            )
        )
    if total.introspection_depth > INTROSPECTION_MAX_DEPTH or total.introspection_lists > INTROSPECTION_MAX_LISTS:
        problems.append(
            too_complex(
                "introspection",
                total.introspection_lists,
                INTROSPECTION_MAX_LISTS,
                f"Introspection may nest {INTROSPECTION_MAX_DEPTH} levels and {INTROSPECTION_MAX_LISTS} lists "
                f"(types, fields, args) deep; this query nests {total.introspection_depth} and {total.introspection_lists}",
            )
        )
    if total.aliases > limits["max_aliases"]:
        problems.append(
            too_complex(
                "aliases",
                total.aliases,
                limits["max_aliases"],
                f"The document uses {total.aliases} aliases; at most {limits['max_aliases']} are allowed",
            )
        )
    if total.cost > limits["max_cost"]:
        problems.append(
            too_complex(
                "cost",
                total.cost,
                limits["max_cost"],
                f"The query costs {total.cost}; at most {limits['max_cost']} is allowed",
            )
        )
    return total.cost, problems


class _ReadVariables(dict):
    """The variables, noting which ones the walk asked for (the only ones the cost depends on)."""

    def __init__(self, values: dict[str, Any]) -> None:
        super().__init__(values)
        self.read: set[str] = set()

    def get(self, key: Any, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)


def _page_value(value: object) -> int | None:
    """A variable as the walk sees it: an integer in GraphQL's range, or nothing."""
    if isinstance(value, int) and not isinstance(value, bool) and -MAX_INT - 1 <= value <= MAX_INT:
        return value
    return None


@dataclass
class _Plan:
    document: DocumentNode  # kept so an id() is never reused by another document while cached
    variables: tuple[str, ...]  # the variables the cost depends on (page sizes)
    results: dict[tuple[int | None, ...], tuple[int, list[ParleyError]]] = field(default_factory=dict)


class CostCache:
    """Measures each (document, operation, limits) once: the walk of a cached document is replaced by
    a look-up of the page-size variables it read (`first: $n`), each set of their values measured
    once. Bounded; parsed documents are cached (guard.py), so a document's identity is stable."""

    def __init__(self, max_entries: int = 1024, max_results: int = 64) -> None:
        self.max_entries = max_entries
        self.max_results = max_results
        self._plans: OrderedDict[tuple[Any, ...], _Plan] = OrderedDict()
        self.walks = 0

    def measure(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation_name: str | None,
        variables: dict[str, Any] | None,
        limits: dict[str, int],
    ) -> tuple[int, list[ParleyError]]:
        key = (id(schema), id(document), operation_name, tuple(sorted(limits.items())))
        values = variables or {}
        plan = self._plans.get(key)
        if plan is not None and plan.document is document:
            self._plans.move_to_end(key)
            point = tuple(_page_value(values.get(name)) for name in plan.variables)
            found = plan.results.get(point)
            if found is not None:
                return found
        recording = _ReadVariables(values)
        self.walks += 1
        result = measure(schema, document, operation_name, recording, limits)
        if plan is None or plan.document is not document:
            plan = _Plan(document, tuple(sorted(recording.read)))
            self._plans[key] = plan
            while len(self._plans) > self.max_entries:
                self._plans.popitem(last=False)
        point = tuple(_page_value(values.get(name)) for name in plan.variables)
        if len(plan.results) < self.max_results:
            plan.results[point] = result
        return result
