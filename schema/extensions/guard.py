"""Query limits in one schema extension that owns parsing and validation, per kind of caller, from
settings: the document's size and tokens, the static limits and cost (schema/extensions/cost.py),
validation (introspection and field suggestions only for callers the settings allow), then the
caller's cost budget (schema/extensions/budget.py). The limits run before graphql-core's validation,
so an oversized document is refused before any further work; parsing and validation are cached."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from graphql import DocumentNode, GraphQLError, parse
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document
from strawberry.types.graphql import OperationType

from domain.partners.errors import QueryTooComplex
from resolvers.caller import CostReport, caller_of
from schema.extensions import budget
from schema.extensions.cost import CostCache, too_complex
from schema.extensions.refusals import as_graphql_error, deduplicate, refuse, without_suggestions

DEFAULT_MAX_DOCUMENT_CHARS = 32_000  # settings.query_max_document_chars


@lru_cache(maxsize=1024)
def _parse(query: str, max_tokens: int) -> DocumentNode:
    return parse(query, max_tokens=max_tokens)


_validate = lru_cache(maxsize=1024)(validate_document)
_costs = CostCache()  # each cached document measured once (per set of page-size variables)


class QueryGuard(SchemaExtension):
    """Parses with a cache and the caller's token limit, measures, validates (cached) and charges the
    caller's cost budget — in that order, each step only when the previous passed. A part of
    OperationPipeline (schema/extensions/pipeline.py), which calls `start_operation` first."""

    async def start_operation(self) -> None:
        """Before anything else (schema/extensions/pipeline.py): who calls, and the document's size."""
        ec = self.execution_context
        self.caller = await caller_of(ec.context)
        self.report: CostReport | None = None
        ec.parse_options["max_tokens"] = self.caller.limits["max_tokens"]
        services = getattr(ec.context, "services", None)
        self.window = services.settings.query_cost_window_seconds if services is not None else 3600
        # The document as the client sent it (before a persisted one replaces it), measured before
        # anything reads it: comments and whitespace count, the token limit does not see them.
        max_chars = services.settings.query_max_document_chars if services is not None else DEFAULT_MAX_DOCUMENT_CHARS
        if isinstance(ec.query, str) and len(ec.query) > max_chars:
            refuse(
                ec,
                too_complex(
                    "documentSize",
                    len(ec.query),
                    max_chars,
                    f"The document has {len(ec.query)} characters; at most {max_chars} are allowed",
                ),
            )

    def on_parse(self) -> Iterator[None]:
        ec = self.execution_context
        if ec.graphql_document is None and ec.query:
            try:
                ec.graphql_document = _parse(ec.query, ec.parse_options.get("max_tokens", 5000))
            except GraphQLError as exc:
                refuse(ec, exc)  # the syntax or token-limit error stands; nothing parses the document again
        yield

    async def on_validate(self):  # type: ignore[override]
        ec = self.execution_context
        if ec.graphql_document is not None and hasattr(ec.context, "operation_name"):
            with contextlib.suppress(Exception):  # several operations and no name: strawberry refuses later
                ec.context.operation_name = ec.operation_name
        if ec.pre_execution_errors:  # refused earlier (persisted operations)
            yield
            return
        caller = self.caller
        schema = ec.schema._schema
        try:
            cost, problems = _costs.measure(schema, ec.graphql_document, ec.operation_name, ec.variables, caller.limits)
        except RecursionError:
            cost, problems = 0, [QueryTooComplex("The document is nested too deeply", limit="depth")]
        if problems:
            ec.pre_execution_errors = [as_graphql_error(p) for p in problems]
            yield
            return
        rules = ec.validation_rules
        if not caller.introspection:
            rules = (*rules, NoSchemaIntrospectionCustomRule)
        errors = list(_validate(schema, ec.graphql_document, rules))
        if errors:
            errors = deduplicate(errors)
            ec.pre_execution_errors = errors if caller.introspection else without_suggestions(errors)
            yield
            return
        ec.pre_execution_errors = []
        self.report, refused = await budget.charge(ec.context, caller, cost, self.window)
        if refused:
            ec.pre_execution_errors = refused
        yield

    def get_results(self) -> dict[str, Any]:
        if getattr(self, "report", None) is None:
            return {}
        if self._subscription():
            # A subscription is charged once, when it starts: its report rides on its first result
            # only. The events after it carry their data alone, so the JSON a visibility group
            # shares is encoded once for all its sockets (schema/execution/events.py).
            if getattr(self, "reported", False):
                return {}
            self.reported = True
        if self.caller.kind == "anonymous":
            # Anonymous answers may be cached and shared (GET): nothing caller-specific in them.
            # Anonymous callers ask `rateLimit` for their budget.
            return {}
        return {"cost": self.report.as_extension()}

    def _subscription(self) -> bool:
        try:
            return self.execution_context.operation_type == OperationType.SUBSCRIPTION
        except Exception:  # noqa: BLE001 - no operation could be chosen: not a stream
            return False
