"""GraphQL types of the catalog: teams, labels, canned responses and custom attribute definitions,
with their inputs, payloads and errors."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from domain import catalog as limits
from domain.enums import AttributeDisplayType, AttributeModel
from schema.accounts import User
from schema.ids import encode_id

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


@strawberry.enum(description="Why a catalog mutation (teams, labels, canned responses, custom attributes) was refused.")
class CatalogErrorCode(Enum):
    INVALID = "INVALID"
    REQUIRED = "REQUIRED"
    TOO_LONG = "TOO_LONG"
    TOO_MANY = "TOO_MANY"
    TAKEN = "TAKEN"
    LIMIT_REACHED = "LIMIT_REACHED"
    NOT_A_MEMBER = "NOT_A_MEMBER"
    INVALID_TITLE = "INVALID_TITLE"
    INVALID_COLOR = "INVALID_COLOR"
    INVALID_SHORT_CODE = "INVALID_SHORT_CODE"
    INVALID_KEY = "INVALID_KEY"
    RESERVED_KEY = "RESERVED_KEY"
    INVALID_LIST_VALUES = "INVALID_LIST_VALUES"
    INVALID_REGEX = "INVALID_REGEX"


@strawberry.type(description="A user error of a catalog mutation.")
class CatalogError:
    field: str | None = strawberry.field(description="The camelCase input field at fault, or null.")
    code: CatalogErrorCode = strawberry.field(description="What went wrong.")
    message: str = strawberry.field(description="A human-readable explanation.")


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
        return cls(pk=row.id, name=row.name, description=row.description, allow_auto_assign=row.allow_auto_assign,
                   created_at=row.created_at)


@strawberry.type(description="A label that conversations carry; its title is how clients name it.")
class Label:
    pk: strawberry.Private[int]
    title: str = strawberry.field(description="Lower-case letters, digits, underscores and hyphens; unique within the account.")
    description: str = strawberry.field(description="What the label means.")
    color: str = strawberry.field(description="Display colour as `#rrggbb` (lower-case).")
    show_on_sidebar: bool = strawberry.field(description="Whether the dashboard lists it in the sidebar.")
    created_at: datetime = strawberry.field(description="When the label was created.")

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("Label", self.pk))

    @classmethod
    def from_row(cls, row) -> Label:
        return cls(pk=row.id, title=row.title, description=row.description, color=row.color,
                   show_on_sidebar=row.show_on_sidebar, created_at=row.created_at)


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
        return cls(pk=row.id, model=row.attribute_model, key=row.attribute_key, display_name=row.display_name,
                   display_type=row.display_type, description=row.description, list_values=list(row.list_values or []),
                   regex_pattern=row.regex_pattern, regex_cue=row.regex_cue, created_at=row.created_at)


# --- teams: inputs and payloads ------------------------------------------------------------------------


@strawberry.input(description="Create a team.")
class TeamCreateInput:
    name: str = strawberry.field(description="Unique within the account (any case), up to 100 characters.")
    description: str = strawberry.field(default="", description=f"Up to {limits.MAX_DESCRIPTION} characters.")
    allow_auto_assign: bool = strawberry.field(
        default=True, description="Give the team's conversations to its members automatically."
    )


@strawberry.input(description="Change a team; omitted (or null) fields stay as they are.")
class TeamUpdateInput:
    name: str | None = strawberry.field(default=None, description="New name.")
    description: str | None = strawberry.field(default=None, description="New description.")
    allow_auto_assign: bool | None = strawberry.field(default=None, description="New auto-assignment setting.")


@strawberry.input(description="Users to add to a team, remove from it, or make its members.")
class TeamMembersInput:
    user_ids: list[strawberry.ID] = strawberry.field(
        description=f"User IDs (at most {limits.MAX_USER_IDS}); each must be a member of the account, "
        "except when removing."
    )


@strawberry.type(description="Result of the team mutations.")
class TeamPayload:
    team: Team | None = strawberry.field(description="The team (as it was, after a deletion).")
    errors: list[CatalogError] = strawberry.field(description="User errors; empty on success.")


# --- labels --------------------------------------------------------------------------------------------


@strawberry.input(description="Create a label.")
class LabelCreateInput:
    title: str = strawberry.field(
        description="Letters, digits, underscores and hyphens, up to 100 characters; stored lower-case and unique "
        "within the account."
    )
    description: str = strawberry.field(default="", description=f"Up to {limits.MAX_DESCRIPTION} characters.")
    color: str = strawberry.field(default=limits.DEFAULT_COLOR, description="Display colour as `#rrggbb`.")
    show_on_sidebar: bool = strawberry.field(default=True, description="List it in the dashboard's sidebar.")


@strawberry.input(description="Change a label; omitted (or null) fields stay as they are.")
class LabelUpdateInput:
    title: str | None = strawberry.field(default=None, description="New title; conversations keep the label.")
    description: str | None = strawberry.field(default=None, description="New description.")
    color: str | None = strawberry.field(default=None, description="New colour as `#rrggbb`.")
    show_on_sidebar: bool | None = strawberry.field(default=None, description="New sidebar setting.")


@strawberry.type(description="Result of the label mutations.")
class LabelPayload:
    label: Label | None = strawberry.field(description="The label (as it was, after a deletion).")
    errors: list[CatalogError] = strawberry.field(description="User errors; empty on success.")


# --- canned responses ----------------------------------------------------------------------------------


@strawberry.input(description="Create a canned response.")
class CannedResponseCreateInput:
    short_code: str = strawberry.field(description="Up to 100 characters without spaces; unique within the account (any case).")
    content: str = strawberry.field(description=f"The reply text, up to {limits.MAX_CANNED_CONTENT} characters.")


@strawberry.input(description="Change a canned response; omitted (or null) fields stay as they are.")
class CannedResponseUpdateInput:
    short_code: str | None = strawberry.field(default=None, description="New short code.")
    content: str | None = strawberry.field(default=None, description="New reply text.")


@strawberry.type(description="Result of the canned response mutations.")
class CannedResponsePayload:
    canned_response: CannedResponse | None = strawberry.field(description="The canned response (as it was, after a deletion).")
    errors: list[CatalogError] = strawberry.field(description="User errors; empty on success.")


# --- custom attribute definitions ----------------------------------------------------------------------


@strawberry.input(description="Define a custom attribute.")
class CustomAttributeDefinitionCreateInput:
    model: AttributeModelEnum = strawberry.field(description="Conversations or contacts.")
    key: str = strawberry.field(
        description="Letters, digits, underscores, dots and hyphens, up to 100 characters; unique per model, and not one of "
        "Chatwoot's standard attributes (such as `status` or `email`). Cannot change later."
    )
    display_name: str = strawberry.field(description="The name shown to agents, up to 255 characters.")
    display_type: AttributeDisplayTypeEnum = strawberry.field(description="The type of its values. Cannot change later.")
    description: str = strawberry.field(default="", description=f"Up to {limits.MAX_DESCRIPTION} characters.")
    list_values: list[str] = strawberry.field(
        default_factory=list,
        description=f"For LIST attributes (required there, nowhere else): 1 to {limits.MAX_LIST_VALUES} distinct values.",
    )
    regex_pattern: str | None = strawberry.field(
        default=None,
        description="For TEXT attributes: a regular expression (up to 255 characters) values must match somewhere. "
        "Backreferences and lookarounds are not supported.",
    )
    regex_cue: str | None = strawberry.field(default=None, description="What to say when a value does not match.")


@strawberry.input(description="Change a custom attribute definition; its model, key and type stay.")
class CustomAttributeDefinitionUpdateInput:
    display_name: str | None = strawberry.field(default=None, description="New display name; omitted or null keeps it.")
    description: str | None = strawberry.field(default=None, description="New description; omitted or null keeps it.")
    list_values: list[str] | None = strawberry.field(
        default=None, description="New values of a LIST attribute; omitted or null keeps them."
    )
    regex_pattern: str | None = strawberry.field(
        default=strawberry.UNSET, description="New pattern of a TEXT attribute; explicit null removes it."
    )
    regex_cue: str | None = strawberry.field(default=strawberry.UNSET, description="New cue; explicit null removes it.")


@strawberry.type(description="Result of the custom attribute definition mutations.")
class CustomAttributeDefinitionPayload:
    custom_attribute_definition: CustomAttributeDefinition | None = strawberry.field(
        description="The definition (as it was, after a deletion)."
    )
    errors: list[CatalogError] = strawberry.field(description="User errors; empty on success.")
