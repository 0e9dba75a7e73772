"""GraphQL types of the catalog: teams, labels, canned responses and custom attribute definitions,
and their payloads (inputs and errors beside them)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain.enums import AttributeDisplayType, AttributeModel
from schema.accounts.types import User
from schema.catalog.errors import CatalogError
from schema.core.ids import encode_id

AttributeModelEnum = strawberry.enum(
    AttributeModel, name="AttributeModel", description="What a custom attribute describes: a conversation or a contact."
)
AttributeDisplayTypeEnum = strawberry.enum(
    AttributeDisplayType,
    name="AttributeDisplayType",
    description="The type of a custom attribute's values: TEXT (a string, optionally matching a pattern), NUMBER, "
    "CURRENCY and PERCENT (JSON numbers), LINK (an http or https URL), DATE (an ISO 8601 date or date-time), "
    "LIST (one of the definition's values), CHECKBOX (true or false).",
)


# --- objects -------------------------------------------------------------------------------------------


@strawberry.type(description="A group of agents that conversations can be assigned to.")
class Team:
    pk: strawberry.Private[int]
    name: str = strawberry.field(description="Unique within the account (any case).")
    description: str = strawberry.field(description="What the team handles.")
    allow_auto_assign: bool = strawberry.field(
        description="Whether conversations assigned to the team are given to one of its members automatically."
    )
    created_at: datetime = strawberry.field(description="When the team was created.")

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("Team", self.pk))

    @strawberry.field(description="The team's members (agents and administrators of the account), by name.")
    async def members(self, info: strawberry.Info) -> list[User]:
        return [User.from_row(u) for u in await info.context.loaders.team_members_by_team_id.load(self.pk)]

    @classmethod
    def from_row(cls, row) -> Team:
        return cls(
            pk=row.id,
            name=row.name,
            description=row.description,
            allow_auto_assign=row.allow_auto_assign,
            created_at=row.created_at,
        )


@strawberry.type(description="A label that conversations carry; its title is how clients name it.")
class Label:
    pk: strawberry.Private[int]
    title: str = strawberry.field(
        description="Lower-case letters, digits, underscores and hyphens; unique within the account."
    )
    description: str = strawberry.field(description="What the label means.")
    color: str = strawberry.field(description="Display colour as `#rrggbb` (lower-case).")
    show_on_sidebar: bool = strawberry.field(description="Whether the dashboard lists it in the sidebar.")
    created_at: datetime = strawberry.field(description="When the label was created.")

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("Label", self.pk))

    @classmethod
    def from_row(cls, row) -> Label:
        return cls(
            pk=row.id,
            title=row.title,
            description=row.description,
            color=row.color,
            show_on_sidebar=row.show_on_sidebar,
            created_at=row.created_at,
        )


@strawberry.type(description="A saved reply that agents insert by typing `/` and its short code.")
class CannedResponse:
    pk: strawberry.Private[int]
    short_code: str = strawberry.field(description="What agents type after `/`; unique within the account (any case).")
    content: str = strawberry.field(description="The text inserted into the reply.")
    created_at: datetime = strawberry.field(description="When it was created.")

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("CannedResponse", self.pk))

    @classmethod
    def from_row(cls, row) -> CannedResponse:
        return cls(pk=row.id, short_code=row.short_code, content=row.content, created_at=row.created_at)


@strawberry.type(
    description="An account-defined attribute of conversations or contacts; their `customAttributes` values are "
    "checked against these definitions."
)
class CustomAttributeDefinition:
    pk: strawberry.Private[int]
    model: AttributeModelEnum = strawberry.field(description="Whether it describes conversations or contacts.")
    key: str = strawberry.field(description="The key in `customAttributes`; unique per model within the account.")
    display_name: str = strawberry.field(description="The name shown to agents.")
    display_type: AttributeDisplayTypeEnum = strawberry.field(description="The type of its values.")
    description: str = strawberry.field(description="What it records.")
    list_values: list[str] = strawberry.field(description="The allowed values of a LIST attribute; empty otherwise.")
    regex_pattern: str | None = strawberry.field(
        description="A TEXT attribute's values must match this pattern somewhere (anchor it with ^…$ for the whole value)."
    )
    regex_cue: str | None = strawberry.field(description="What to tell someone whose value does not match the pattern.")
    created_at: datetime = strawberry.field(description="When it was defined.")

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("CustomAttributeDefinition", self.pk))

    @classmethod
    def from_row(cls, row) -> CustomAttributeDefinition:
        return cls(
            pk=row.id,
            model=row.attribute_model,
            key=row.attribute_key,
            display_name=row.display_name,
            display_type=row.display_type,
            description=row.description,
            list_values=list(row.list_values or []),
            regex_pattern=row.regex_pattern,
            regex_cue=row.regex_cue,
            created_at=row.created_at,
        )


# --- teams: inputs and payloads ------------------------------------------------------------------------


@strawberry.type(description="Result of the team mutations.")
class TeamPayload:
    team: Team | None = strawberry.field(description="The team (as it was, after a deletion).")
    errors: list[CatalogError] = strawberry.field(description="User errors; empty on success.")


# --- labels --------------------------------------------------------------------------------------------


@strawberry.type(description="Result of the label mutations.")
class LabelPayload:
    label: Label | None = strawberry.field(description="The label (as it was, after a deletion).")
    errors: list[CatalogError] = strawberry.field(description="User errors; empty on success.")


# --- canned responses ----------------------------------------------------------------------------------


@strawberry.type(description="Result of the canned response mutations.")
class CannedResponsePayload:
    canned_response: CannedResponse | None = strawberry.field(
        description="The canned response (as it was, after a deletion)."
    )
    errors: list[CatalogError] = strawberry.field(description="User errors; empty on success.")


# --- custom attribute definitions ----------------------------------------------------------------------


@strawberry.type(description="Result of the custom attribute definition mutations.")
class CustomAttributeDefinitionPayload:
    custom_attribute_definition: CustomAttributeDefinition | None = strawberry.field(
        description="The definition (as it was, after a deletion)."
    )
    errors: list[CatalogError] = strawberry.field(description="User errors; empty on success.")
