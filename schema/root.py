"""The root Query, Mutation and Subscription types and the schema factory. Every root field names
its access rule (schema/access.py)."""

from __future__ import annotations

import strawberry
from strawberry.extensions import (
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig

from schema.accounts_root import AccountsMutation, AccountsQuery
from schema.diagnostics_root import DiagnosticsMutation, DiagnosticsQuery, DiagnosticsSubscription
from schema.extensions import CloseSession, ErrorContract

# Each domain contributes its root fields in schema/<domain>_root.py; add its classes here.


@strawberry.type(description="Everything that can be read.")
class Query(DiagnosticsQuery, AccountsQuery):
    pass


@strawberry.type(description="Everything that can be changed.")
class Mutation(AccountsMutation, DiagnosticsMutation):
    pass


@strawberry.type(description="Streams of events over WebSocket (graphql-transport-ws).")
class Subscription(DiagnosticsSubscription):
    pass


class ParleySchema(strawberry.Schema):
    def process_errors(self, errors, execution_context=None) -> None:
        # Expected errors (authentication, validation, limits) are answers, not incidents; the
        # unexpected ones are logged with their stack by the ErrorContract extension.
        return None


def build_schema(*, introspection: bool = True) -> strawberry.Schema:
    extensions: list = [
        ErrorContract,
        CloseSession,
        lambda: ParserCache(maxsize=1024),
        lambda: ValidationCache(maxsize=1024),
        lambda: MaxTokensLimiter(max_token_count=5000),
        lambda: MaxAliasesLimiter(max_alias_count=30),
        lambda: QueryDepthLimiter(max_depth=12),
    ]
    if not introspection:
        extensions.append(DisableIntrospection)
    return ParleySchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        config=StrawberryConfig(disable_field_suggestions=not introspection),
    )


schema = build_schema()
