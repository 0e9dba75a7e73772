"""Parley's graphql-core execution context: Strawberry's, with compiled completion of plain
sub-selections (completion.py) and one result per subscription event and visibility group
(events.py)."""

from __future__ import annotations

from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from schema.execution.completion import CompiledCompletion
from schema.execution.events import SharedEventResults


class ParleyExecutionContext(SharedEventResults, CompiledCompletion, StrawberryGraphQLCoreExecutionContext):
    pass
