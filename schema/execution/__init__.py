"""Parley's graphql-core execution context: Strawberry's, with three shortcuts that give the same
answers as stock execution — dashboard documents compiled into one SQL statement (documents.py),
compiled completion of plain sub-selections (completion.py), and one result per subscription event
and visibility group (events.py)."""

from __future__ import annotations

from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from schema.execution.completion import CompiledCompletion
from schema.execution.documents import SqlDocuments
from schema.execution.events import SharedEventResults


class ParleyExecutionContext(
    SharedEventResults, SqlDocuments, CompiledCompletion, StrawberryGraphQLCoreExecutionContext
):
    pass
