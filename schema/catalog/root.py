"""Root fields of the catalog (teams, labels, canned responses, custom attribute definitions), merged
into the schema's Query and Mutation.

These lists are plain lists, not connections: each is complete and small, because an account holds
at most 200 teams, 1000 labels, 1000 canned responses and 200 custom attribute definitions per model
(creating more answers LIMIT_REACHED)."""

from __future__ import annotations

import strawberry

from domain.accounts.policy import Rule
from domain.catalog import limits
from resolvers import catalog as cat
from schema.catalog import types as t
from schema.core.access import field, mutation


@strawberry.type
class CatalogQuery:
    teams: list[t.Team] = field(
        cat.teams, Rule.member, f"Every team of the account (at most {limits.MAX_TEAMS}), by name."
    )
    team: t.Team = field(cat.team, Rule.member, "One team of the account; NOT_FOUND for any other ID.")
    labels: list[t.Label] = field(
        cat.labels, Rule.member, f"Every label of the account (at most {limits.MAX_LABELS}), by title."
    )
    canned_responses: list[t.CannedResponse] = field(
        cat.canned_responses,
        Rule.member,
        f"The account's canned responses (at most {limits.MAX_CANNED_RESPONSES}), by short code, or those matching `search`.",
    )
    custom_attribute_definitions: list[t.CustomAttributeDefinition] = field(
        cat.custom_attribute_definitions,
        Rule.member,
        f"The account's custom attribute definitions (at most {limits.MAX_DEFINITIONS_PER_MODEL} per model), oldest first.",
    )


@strawberry.type
class CatalogMutation:
    team_create: t.TeamPayload = mutation(cat.team_create, Rule.administrator, "Create a team.")
    team_update: t.TeamPayload = mutation(
        cat.team_update, Rule.administrator, "Change a team's name, description or auto-assignment."
    )
    team_delete: t.TeamPayload = mutation(
        cat.team_delete, Rule.administrator, "Delete a team; its conversations stay, without a team."
    )
    team_members_add: t.TeamPayload = mutation(
        cat.team_members_add, Rule.administrator, "Add members of the account to a team (those already in it stay)."
    )
    team_members_remove: t.TeamPayload = mutation(
        cat.team_members_remove, Rule.administrator, "Remove users from a team (users not in it are ignored)."
    )
    team_members_set: t.TeamPayload = mutation(
        cat.team_members_set, Rule.administrator, "Make a team's members exactly these members of the account."
    )
    label_create: t.LabelPayload = mutation(cat.label_create, Rule.administrator, "Create a label.")
    label_update: t.LabelPayload = mutation(
        cat.label_update, Rule.administrator, "Change a label; a new title shows on every conversation that carries it."
    )
    label_delete: t.LabelPayload = mutation(
        cat.label_delete, Rule.administrator, "Delete a label; it also leaves every conversation that carried it."
    )
    canned_response_create: t.CannedResponsePayload = mutation(
        cat.canned_response_create, Rule.agent, "Create a canned response for the whole account."
    )
    canned_response_update: t.CannedResponsePayload = mutation(
        cat.canned_response_update, Rule.agent, "Change a canned response."
    )
    canned_response_delete: t.CannedResponsePayload = mutation(
        cat.canned_response_delete, Rule.agent, "Delete a canned response."
    )
    custom_attribute_definition_create: t.CustomAttributeDefinitionPayload = mutation(
        cat.custom_attribute_definition_create,
        Rule.administrator,
        "Define a custom attribute of conversations or contacts.",
    )
    custom_attribute_definition_update: t.CustomAttributeDefinitionPayload = mutation(
        cat.custom_attribute_definition_update,
        Rule.administrator,
        "Change a custom attribute definition's name, description, list values or pattern.",
    )
    custom_attribute_definition_delete: t.CustomAttributeDefinitionPayload = mutation(
        cat.custom_attribute_definition_delete,
        Rule.administrator,
        "Delete a custom attribute definition; values already stored under its key stay.",
    )
