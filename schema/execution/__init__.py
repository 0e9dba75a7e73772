"""The schema's graphql-core executor: Strawberry's, with Parley's execution shortcuts mixed in."""

from __future__ import annotations

from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from schema.execution.documents import SqlDocuments


class ParleyExecutionContext(SqlDocuments, StrawberryGraphQLCoreExecutionContext):
    pass
