"""GraphQL types of partner apps, their tokens and manifests, and of the caller's rate limit."""

from __future__ import annotations

from datetime import datetime

import strawberry

from db.repositories import partners as repo
from domain.partners.enums import ManifestFormat, OperationKind
from schema.core.ids import encode_id
from schema.partners.errors import PartnerError

ManifestFormatEnum = strawberry.enum(
    ManifestFormat,
    name="ManifestFormat",
    description="How a manifest was written: Apollo's persisted query manifest or Relay's {id: body} JSON.",
)
OperationKindEnum = strawberry.enum(OperationKind, name="OperationKind", description="The type of a GraphQL operation.")


@strawberry.type(description="A token of a partner app (`plya_…`); the secret is shown only once, when created.")
class PartnerToken:
    pk: strawberry.Private[int]
    name: str = strawberry.field(description="What the token is for.")
    prefix: str = strawberry.field(description="The first characters of the secret, to recognise it.")
    created_at: datetime = strawberry.field(description="When it was created.")
    last_used_at: datetime | None = strawberry.field(description="When it was last used (to the minute).")
    revoked_at: datetime | None = strawberry.field(description="When it was revoked; revoked tokens are refused.")

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("PartnerToken", self.pk))

    @classmethod
    def from_row(cls, row) -> PartnerToken:
        return cls(
            pk=row.id,
            name=row.name,
            prefix=row.token_prefix,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            revoked_at=row.revoked_at,
        )


@strawberry.type(description="An operation registered in a manifest.")
class PartnerOperation:
    document_id: str = strawberry.field(
        description="The id clients send as `documentId` (or the persisted query hash)."
    )
    name: str | None = strawberry.field(description="The operation's name, when the manifest gave one.")
    kind: OperationKindEnum = strawberry.field(description="Query, mutation or subscription.")
    sha256: str = strawberry.field(description="SHA-256 of the body (also accepted as `sha256:<hash>`).")
    body: str = strawberry.field(description="The operation's text.")

    @classmethod
    def from_row(cls, row) -> PartnerOperation:
        return cls(document_id=row.document_id, name=row.name, kind=row.kind, sha256=row.sha256, body=row.body)


@strawberry.type(description="One uploaded version of a partner app's operations. Versions never change.")
class PartnerManifest:
    pk: strawberry.Private[int]
    version: int = strawberry.field(description="1 for the first upload, then one more for each.")
    format: ManifestFormatEnum = strawberry.field(description="The format it was uploaded in.")
    operation_count: int = strawberry.field(description="How many operations it registers.")
    current: bool = strawberry.field(description="Whether the app's tokens run this version now.")
    created_at: datetime = strawberry.field(description="When it was uploaded.")

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("PartnerManifest", self.pk))

    @strawberry.field(description="The registered operations, in manifest order.")
    async def operations(self, info: strawberry.Info) -> list[PartnerOperation]:
        actor = await info.context.actor()
        async with info.context.db() as session:
            rows = await repo.operations_of_manifest(session, actor.account_id, self.pk)
        return [PartnerOperation.from_row(r) for r in rows]

    @classmethod
    def from_row(cls, row, current_version: int | None) -> PartnerManifest:
        return cls(
            pk=row.id,
            version=row.version,
            format=row.format,
            operation_count=row.operation_count,
            current=row.version == current_version,
            created_at=row.created_at,
        )


@strawberry.type(
    description="A third-party integration of this account: runs only the operations of its current manifest."
)
class PartnerApp:
    pk: strawberry.Private[int]
    name: str = strawberry.field(description="Display name.")
    description: str = strawberry.field(description="What the integration does.")
    current_version: int | None = strawberry.field(
        description="The manifest version its tokens run; null before the first upload."
    )
    disabled: bool = strawberry.field(description="Disabled apps' tokens are refused.")
    created_at: datetime = strawberry.field(description="When it was created.")
    tokens: list[PartnerToken] = strawberry.field(description="Its tokens, oldest first (revoked ones included).")
    manifests: list[PartnerManifest] = strawberry.field(description="Its manifest versions, newest first.")

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("PartnerApp", self.pk))

    @classmethod
    def from_row(cls, row, tokens=(), manifests=()) -> PartnerApp:
        return cls(
            pk=row.id,
            name=row.name,
            description=row.description,
            current_version=row.current_version,
            disabled=row.disabled_at is not None,
            created_at=row.created_at,
            tokens=[PartnerToken.from_row(t) for t in tokens],
            manifests=[PartnerManifest.from_row(m, row.current_version) for m in manifests],
        )


@strawberry.type(description="An operation of an uploaded manifest that does not validate, and why.")
class PartnerOperationProblem:
    document_id: str = strawberry.field(description="Its id in the manifest.")
    name: str | None = strawberry.field(description="Its name, when given.")
    messages: list[str] = strawberry.field(description="What is wrong with it.")


@strawberry.type(
    description="The caller's query cost budget (GitHub's rateLimit): costs are objects a query may return, lists counted by `first`/`last`."
)
class RateLimit:
    cost: int = strawberry.field(description="What this query cost.")
    max_cost: int = strawberry.field(description="The most one query may cost.")
    limit: int = strawberry.field(description="The budget of the current hour.")
    used: int = strawberry.field(description="Spent in the current hour, this query included.")
    remaining: int = strawberry.field(description="Left in the current hour.")
    reset_at: datetime = strawberry.field(description="When the budget is full again.")


# --- inputs and payloads ------------------------------------------------------------------------------


@strawberry.type(description="Result of the partner app mutations.")
class PartnerAppPayload:
    partner_app: PartnerApp | None = strawberry.field(description="The app after the change.")
    errors: list[PartnerError] = strawberry.field(description="User errors; empty on success.")


@strawberry.type(description="Result of `partnerTokenCreate`.")
class PartnerTokenCreatePayload:
    partner_token: PartnerToken | None = strawberry.field(description="The token's record.")
    secret: str | None = strawberry.field(description="The token itself (`plya_…`): shown this once, never again.")
    errors: list[PartnerError] = strawberry.field(description="User errors; empty on success.")


@strawberry.type(description="Result of `partnerTokenRevoke`.")
class PartnerTokenRevokePayload:
    partner_token: PartnerToken | None = strawberry.field(description="The revoked token's record.")
    errors: list[PartnerError] = strawberry.field(description="User errors; empty on success.")


@strawberry.type(description="Result of `partnerManifestUpload`.")
class PartnerManifestUploadPayload:
    manifest: PartnerManifest | None = strawberry.field(description="The new version, now current; null when refused.")
    partner_app: PartnerApp | None = strawberry.field(description="The app after the upload.")
    invalid_operations: list[PartnerOperationProblem] = strawberry.field(
        description="Operations that do not validate against the schema (or break the partner limits)."
    )
    errors: list[PartnerError] = strawberry.field(description="User errors; empty on success.")
