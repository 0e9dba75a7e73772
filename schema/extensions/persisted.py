"""Persisted operations, filled in before parsing (`execution_context.query`):

- Automatic persisted queries (Apollo's protocol) for everyone: `extensions.persistedQuery
  {version: 1, sha256Hash}`; an unknown hash answers PERSISTED_QUERY_NOT_FOUND so the client resends
  with the document, which is checked against the hash and remembered once it validates.
- Trusted documents for partner tokens: only operations of the app's current manifest run, named by
  `documentId` (GraphQL-over-HTTP persisted documents; "sha256:<hash>" ids match by hash) or by
  `extensions.persistedQuery.sha256Hash`. Anything else is PERSISTED_QUERY_NOT_ALLOWED.

APQ is a cache that saves bandwidth, not a control; the partner allowlist is the control.
"""

from __future__ import annotations

import re
from typing import Any

from strawberry.extensions import SchemaExtension

from db.repositories import partners as repo
from domain.errors import BadUserInput
from domain.partners.errors import PersistedQueryNotAllowed, PersistedQueryNotFound
from domain.partners.manifest import sha256
from domain.partners.service import PartnerActor
from resolvers.caller import caller_of
from schema.extensions.refusals import refuse

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
DOCUMENT_ID = "documentId"  # the view folds a request's top-level `documentId` into the extensions


def _requested(extensions: dict[str, Any]) -> tuple[str | None, str | None]:
    """(document id, sha256) named by the request; raises BadUserInput when they are malformed."""
    document_id = extensions.get(DOCUMENT_ID)
    if document_id is not None and (not isinstance(document_id, str) or not 0 < len(document_id) <= 200):
        raise BadUserInput("`documentId` must be a string of 1 to 200 characters")
    sha = None
    pq = extensions.get("persistedQuery")
    if pq is not None:
        if not isinstance(pq, dict) or pq.get("version") != 1:
            raise BadUserInput("Unsupported persisted query: send {version: 1, sha256Hash}")
        sha = pq.get("sha256Hash")
        if not isinstance(sha, str) or not _HEX64.match(sha):
            raise BadUserInput("`persistedQuery.sha256Hash` must be a lowercase hex SHA-256")
    if document_id and document_id.startswith("sha256:"):
        bare = document_id.removeprefix("sha256:")
        if not _HEX64.match(bare):
            raise BadUserInput("A `sha256:` document id needs a lowercase hex SHA-256")
        if sha is not None and sha != bare:
            raise BadUserInput("`documentId` and `persistedQuery.sha256Hash` name different documents")
        sha, document_id = bare, None
    return document_id, sha


class PersistedOperations(SchemaExtension):
    """A part of OperationPipeline (schema/extensions/pipeline.py)."""

    async def fill_document(self) -> None:
        """The document a persisted or registered operation names, in place of the query."""
        ec = self.execution_context
        self._remember: tuple[str, str] | None = None
        try:
            await self._fill(ec)
        except Exception as exc:  # noqa: BLE001 - expected errors keep their code, others are masked
            refuse(ec, exc)

    async def _fill(self, ec: Any) -> None:
        extensions = ec.operation_extensions or {}
        caller = await caller_of(ec.context)
        if caller.kind == "partner":
            await self._trusted(ec, caller.actor, extensions)
            return
        document_id, sha = _requested(extensions)
        if document_id is not None:
            raise PersistedQueryNotFound("Only partner tokens run registered documents by id; send the query")
        if sha is None:
            return
        if ec.query:
            if sha256(ec.query) != sha:
                raise BadUserInput("provided sha does not match query")
            settings = ec.context.services.settings
            if len(ec.query.encode()) <= settings.apq_max_document_bytes:
                self._remember = (sha, ec.query)
            return
        store = getattr(getattr(ec.context, "services", None), "documents", None)
        document = await store.get(sha) if store is not None else None
        if document is None:
            raise PersistedQueryNotFound()
        ec.query = document

    async def _trusted(self, ec: Any, actor: Any, extensions: dict[str, Any]) -> None:
        if not isinstance(actor, PartnerActor):
            # The token did not resolve: say why, before anything else.
            await ec.context.actor()
            raise PersistedQueryNotAllowed()
        document_id, sha = _requested(extensions)
        if document_id is None and sha is None:
            raise PersistedQueryNotAllowed(
                "Partner tokens run only registered operations: send `documentId` (or "
                "extensions.persistedQuery.sha256Hash) instead of a query"
            )
        if actor.manifest_version is None:
            raise PersistedQueryNotAllowed("This app has no manifest yet: upload one with partnerManifestUpload")
        services = ec.context.services
        key = (actor.partner_app_id, actor.manifest_version, document_id, sha)
        found = services.operations.get(key) if services.operations is not None else None
        if found is None:
            async with ec.context.db() as session:
                row = await repo.registered_operation(
                    session, actor.partner_app_id, actor.manifest_version, document_id=document_id, sha256=sha
                )
                await session.commit()
            if row is None:
                raise PersistedQueryNotAllowed(
                    f"Operation {document_id or sha} is not registered in version {actor.manifest_version} of "
                    "this app's manifest"
                )
            found = (row.body, row.sha256)
            if services.operations is not None:
                services.operations.put(key, found)
        body, body_sha = found
        if ec.query and sha256(ec.query) != body_sha:
            raise PersistedQueryNotAllowed("The query sent differs from the registered operation")
        ec.query = body

    async def remember_document(self) -> None:
        # Reached only by documents that parsed and validated: those are worth remembering.
        if self._remember is not None:
            store = getattr(getattr(self.execution_context.context, "services", None), "documents", None)
            if store is not None:
                await store.put(*self._remember)
            self._remember = None
