"""Parley's graphql-core execution context: Strawberry's, with compiled completion of plain
sub-selections (completion.py)."""

from __future__ import annotations

from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from schema.execution.completion import CompiledCompletion


class ParleyExecutionContext(CompiledCompletion, StrawberryGraphQLCoreExecutionContext):
    pass
