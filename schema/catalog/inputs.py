"""Inputs of catalog mutations and queries."""

from __future__ import annotations

import strawberry

from domain.catalog import limits
from schema.catalog.types import AttributeDisplayTypeEnum, AttributeModelEnum


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


@strawberry.input(description="Create a canned response.")
class CannedResponseCreateInput:
    short_code: str = strawberry.field(
        description="Up to 100 characters without spaces; unique within the account (any case)."
    )
    content: str = strawberry.field(description=f"The reply text, up to {limits.MAX_CANNED_CONTENT} characters.")


@strawberry.input(description="Change a canned response; omitted (or null) fields stay as they are.")
class CannedResponseUpdateInput:
    short_code: str | None = strawberry.field(default=None, description="New short code.")
    content: str | None = strawberry.field(default=None, description="New reply text.")


@strawberry.input(description="Define a custom attribute.")
class CustomAttributeDefinitionCreateInput:
    model: AttributeModelEnum = strawberry.field(description="Conversations or contacts.")
    key: str = strawberry.field(
        description="Letters, digits, underscores, dots and hyphens, up to 100 characters; unique per model, and not one of "
        "Chatwoot's standard attributes (such as `status` or `email`). Cannot change later."
    )
    display_name: str = strawberry.field(description="The name shown to agents, up to 255 characters.")
    display_type: AttributeDisplayTypeEnum = strawberry.field(
        description="The type of its values. Cannot change later."
    )
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
