"""Inputs of partners mutations and queries."""

from __future__ import annotations

import strawberry


@strawberry.input(description="Create a partner app.")
class PartnerAppCreateInput:
    name: str = strawberry.field(description="Display name, up to 255 characters.")
    description: str = strawberry.field(default="", description="Up to 1000 characters.")


@strawberry.input(description="Change a partner app; omitted fields stay as they are.")
class PartnerAppUpdateInput:
    name: str | None = strawberry.field(default=None, description="New name.")
    description: str | None = strawberry.field(default=None, description="New description.")
    disabled: bool | None = strawberry.field(
        default=None, description="Disable (or enable) the app: its tokens are refused."
    )


@strawberry.input(description="Create a token for a partner app.")
class PartnerTokenCreateInput:
    partner_app_id: strawberry.ID = strawberry.field(description="The app.")
    name: str = strawberry.field(description="What the token is for, up to 100 characters.")


@strawberry.input(description="Upload a new version of a partner app's manifest.")
class PartnerManifestUploadInput:
    partner_app_id: strawberry.ID = strawberry.field(description="The app.")
    manifest: str = strawberry.field(
        description="The manifest's JSON text: Apollo's persisted query manifest "
        '(`{format: "apollo-persisted-query-manifest", version: 1, operations: [{id, name, type, body}]}`) '
        "or Relay's `{id: body}`. At most 1000 operations."
    )
    skip_invalid: bool = strawberry.field(
        default=False,
        description="Store the operations that validate and leave out the others (reported either way). "
        "Without it, one invalid operation refuses the whole upload.",
    )


@strawberry.input(description="Make an earlier (or later) manifest version the current one.")
class PartnerManifestActivateInput:
    partner_app_id: strawberry.ID = strawberry.field(description="The app.")
    version: int = strawberry.field(description="An uploaded version of its manifest.")
