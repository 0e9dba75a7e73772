"""Resolvers of the catalog (teams, labels, canned responses, custom attribute definitions): parse
input, call one domain service, build the payload."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from db.repositories import catalog as repo
from domain.catalog import canned as canned_service
from domain.catalog import custom_attributes as attribute_service
from domain.catalog import labels as label_service
from domain.catalog import teams as team_service
from domain.catalog.limits import MAX_SEARCH
from domain.enums import AttributeDisplayType, AttributeModel
from domain.errors import NotFound
from resolvers.context import Context
from resolvers.mutations import mutate
from schema.catalog import inputs as i
from schema.catalog import types as t
from schema.catalog.errors import CatalogError, CatalogErrorCode
from schema.core.errors import PayloadErrors
from schema.core.ids import decode_id

Ctx = Info[Context, None]
_errors = PayloadErrors(CatalogError, CatalogErrorCode)


# Argument types with their descriptions.
TeamID = Annotated[strawberry.ID, strawberry.argument(description="The team's global ID.")]
LabelID = Annotated[strawberry.ID, strawberry.argument(description="The label's global ID.")]
CannedResponseID = Annotated[strawberry.ID, strawberry.argument(description="The canned response's global ID.")]
DefinitionID = Annotated[strawberry.ID, strawberry.argument(description="The custom attribute definition's global ID.")]
TeamCreate = Annotated[i.TeamCreateInput, strawberry.argument(description="The new team.")]
TeamUpdate = Annotated[i.TeamUpdateInput, strawberry.argument(description="What to change.")]
TeamMembers = Annotated[i.TeamMembersInput, strawberry.argument(description="The users.")]
LabelCreate = Annotated[i.LabelCreateInput, strawberry.argument(description="The new label.")]
LabelUpdate = Annotated[i.LabelUpdateInput, strawberry.argument(description="What to change.")]
CannedResponseCreate = Annotated[
    i.CannedResponseCreateInput, strawberry.argument(description="The new canned response.")
]
CannedResponseUpdate = Annotated[i.CannedResponseUpdateInput, strawberry.argument(description="What to change.")]
DefinitionCreate = Annotated[
    i.CustomAttributeDefinitionCreateInput, strawberry.argument(description="The new definition.")
]
DefinitionUpdate = Annotated[i.CustomAttributeDefinitionUpdateInput, strawberry.argument(description="What to change.")]
Search = Annotated[
    str | None,
    strawberry.argument(
        description=f"Only those whose short code or content contains this (any case, up to {MAX_SEARCH} "
        "characters); short codes that start with it come first, then other short codes, then content matches.",
    ),
]
ModelFilter = Annotated[t.AttributeModelEnum | None, strawberry.argument(description="Only those of this model.")]


def _unset(value: Any) -> Any:
    return attribute_service.KEEP if value is strawberry.UNSET else value


# --- queries -------------------------------------------------------------------------------------------


async def teams(info: Ctx) -> list[t.Team]:
    actor = await info.context.actor()
    async with info.context.db() as session:
        rows = await repo.teams_of_account(session, actor.account_id)
    return [t.Team.from_row(r) for r in rows]


async def team(info: Ctx, id: TeamID) -> t.Team:
    actor = await info.context.actor()
    pk = decode_id(id, "Team")
    async with info.context.db() as session:
        row = await team_service.team_in_account(session, actor.account_id, pk)
    if row is None:
        raise NotFound("No Team with this ID")
    return t.Team.from_row(row)


async def labels(info: Ctx) -> list[t.Label]:
    actor = await info.context.actor()
    async with info.context.db() as session:
        rows = await repo.labels_of_account(session, actor.account_id)
    return [t.Label.from_row(r) for r in rows]


async def canned_responses(
    info: Ctx,
    search: Search = None,
) -> list[t.CannedResponse]:
    actor = await info.context.actor()
    async with info.context.db() as session:
        rows = await canned_service.search_canned_responses(session, actor, search)
    return [t.CannedResponse.from_row(r) for r in rows]


async def custom_attribute_definitions(
    info: Ctx,
    model: ModelFilter = None,
) -> list[t.CustomAttributeDefinition]:
    actor = await info.context.actor()
    async with info.context.db() as session:
        rows = await repo.attribute_definitions(session, actor.account_id, AttributeModel(model) if model else None)
    return [t.CustomAttributeDefinition.from_row(r) for r in rows]


# --- teams ---------------------------------------------------------------------------------------------


async def team_create(info: Ctx, input: TeamCreate) -> t.TeamPayload:
    actor = await info.context.actor()

    async def work(session) -> t.TeamPayload:
        row = await team_service.create_team(
            session,
            actor,
            name=input.name,
            description=input.description,
            allow_auto_assign=input.allow_auto_assign,
            meta=info.context.meta,
        )
        return t.TeamPayload(team=t.Team.from_row(row), errors=[])

    return await mutate(info, _errors, work, lambda e: t.TeamPayload(team=None, errors=e))


async def team_update(info: Ctx, id: TeamID, input: TeamUpdate) -> t.TeamPayload:
    actor = await info.context.actor()
    pk = decode_id(id, "Team")

    async def work(session) -> t.TeamPayload:
        row = await team_service.update_team(
            session,
            actor,
            pk,
            name=input.name,
            description=input.description,
            allow_auto_assign=input.allow_auto_assign,
            meta=info.context.meta,
        )
        return t.TeamPayload(team=t.Team.from_row(row), errors=[])

    return await mutate(info, _errors, work, lambda e: t.TeamPayload(team=None, errors=e))


async def team_delete(info: Ctx, id: TeamID) -> t.TeamPayload:
    actor = await info.context.actor()
    pk = decode_id(id, "Team")

    async def work(session) -> t.TeamPayload:
        row = await team_service.delete_team(session, actor, pk, info.context.meta)
        return t.TeamPayload(team=t.Team.from_row(row), errors=[])

    return await mutate(info, _errors, work, lambda e: t.TeamPayload(team=None, errors=e))


def _team_members(mode: team_service.TeamMembersMode):
    async def resolve(info: Ctx, id: TeamID, input: TeamMembers) -> t.TeamPayload:
        actor = await info.context.actor()
        pk = decode_id(id, "Team")
        user_pks = [decode_id(u, "User") for u in input.user_ids]

        async def work(session) -> t.TeamPayload:
            row = await team_service.change_team_members(session, actor, pk, user_pks, mode, info.context.meta)
            return t.TeamPayload(team=t.Team.from_row(row), errors=[])

        return await mutate(info, _errors, work, lambda e: t.TeamPayload(team=None, errors=e))

    return resolve


team_members_add = _team_members("add")
team_members_remove = _team_members("remove")
team_members_set = _team_members("set")


# --- labels --------------------------------------------------------------------------------------------


async def label_create(info: Ctx, input: LabelCreate) -> t.LabelPayload:
    actor = await info.context.actor()

    async def work(session) -> t.LabelPayload:
        row = await label_service.create_label(
            session,
            actor,
            title=input.title,
            description=input.description,
            color=input.color,
            show_on_sidebar=input.show_on_sidebar,
            meta=info.context.meta,
        )
        return t.LabelPayload(label=t.Label.from_row(row), errors=[])

    return await mutate(info, _errors, work, lambda e: t.LabelPayload(label=None, errors=e))


async def label_update(info: Ctx, id: LabelID, input: LabelUpdate) -> t.LabelPayload:
    actor = await info.context.actor()
    pk = decode_id(id, "Label")

    async def work(session) -> t.LabelPayload:
        row = await label_service.update_label(
            session,
            actor,
            pk,
            title=input.title,
            description=input.description,
            color=input.color,
            show_on_sidebar=input.show_on_sidebar,
            meta=info.context.meta,
        )
        return t.LabelPayload(label=t.Label.from_row(row), errors=[])

    return await mutate(info, _errors, work, lambda e: t.LabelPayload(label=None, errors=e))


async def label_delete(info: Ctx, id: LabelID) -> t.LabelPayload:
    actor = await info.context.actor()
    pk = decode_id(id, "Label")

    async def work(session) -> t.LabelPayload:
        row = await label_service.delete_label(session, actor, pk, info.context.meta)
        return t.LabelPayload(label=t.Label.from_row(row), errors=[])

    return await mutate(info, _errors, work, lambda e: t.LabelPayload(label=None, errors=e))


# --- canned responses ----------------------------------------------------------------------------------


async def canned_response_create(info: Ctx, input: CannedResponseCreate) -> t.CannedResponsePayload:
    actor = await info.context.actor()

    async def work(session) -> t.CannedResponsePayload:
        row = await canned_service.create_canned_response(
            session, actor, short_code=input.short_code, content=input.content
        )
        return t.CannedResponsePayload(canned_response=t.CannedResponse.from_row(row), errors=[])

    return await mutate(info, _errors, work, lambda e: t.CannedResponsePayload(canned_response=None, errors=e))


async def canned_response_update(
    info: Ctx, id: CannedResponseID, input: CannedResponseUpdate
) -> t.CannedResponsePayload:
    actor = await info.context.actor()
    pk = decode_id(id, "CannedResponse")

    async def work(session) -> t.CannedResponsePayload:
        row = await canned_service.update_canned_response(
            session, actor, pk, short_code=input.short_code, content=input.content
        )
        return t.CannedResponsePayload(canned_response=t.CannedResponse.from_row(row), errors=[])

    return await mutate(info, _errors, work, lambda e: t.CannedResponsePayload(canned_response=None, errors=e))


async def canned_response_delete(info: Ctx, id: CannedResponseID) -> t.CannedResponsePayload:
    actor = await info.context.actor()
    pk = decode_id(id, "CannedResponse")

    async def work(session) -> t.CannedResponsePayload:
        row = await canned_service.delete_canned_response(session, actor, pk)
        return t.CannedResponsePayload(canned_response=t.CannedResponse.from_row(row), errors=[])

    return await mutate(info, _errors, work, lambda e: t.CannedResponsePayload(canned_response=None, errors=e))


# --- custom attribute definitions ----------------------------------------------------------------------


async def custom_attribute_definition_create(info: Ctx, input: DefinitionCreate) -> t.CustomAttributeDefinitionPayload:
    actor = await info.context.actor()

    async def work(session) -> t.CustomAttributeDefinitionPayload:
        row = await attribute_service.create_attribute_definition(
            session,
            actor,
            model=AttributeModel(input.model),
            key=input.key,
            display_name=input.display_name,
            display_type=AttributeDisplayType(input.display_type),
            description=input.description,
            list_values=list(input.list_values),
            regex_pattern=input.regex_pattern,
            regex_cue=input.regex_cue,
            meta=info.context.meta,
        )
        return t.CustomAttributeDefinitionPayload(
            custom_attribute_definition=t.CustomAttributeDefinition.from_row(row), errors=[]
        )

    return await mutate(
        info, _errors, work, lambda e: t.CustomAttributeDefinitionPayload(custom_attribute_definition=None, errors=e)
    )


async def custom_attribute_definition_update(
    info: Ctx, id: DefinitionID, input: DefinitionUpdate
) -> t.CustomAttributeDefinitionPayload:
    actor = await info.context.actor()
    pk = decode_id(id, "CustomAttributeDefinition")

    async def work(session) -> t.CustomAttributeDefinitionPayload:
        row = await attribute_service.update_attribute_definition(
            session,
            actor,
            pk,
            display_name=input.display_name,
            description=input.description,
            list_values=None if input.list_values is None else list(input.list_values),
            regex_pattern=_unset(input.regex_pattern),
            regex_cue=_unset(input.regex_cue),
            meta=info.context.meta,
        )
        return t.CustomAttributeDefinitionPayload(
            custom_attribute_definition=t.CustomAttributeDefinition.from_row(row), errors=[]
        )

    return await mutate(
        info, _errors, work, lambda e: t.CustomAttributeDefinitionPayload(custom_attribute_definition=None, errors=e)
    )


async def custom_attribute_definition_delete(info: Ctx, id: DefinitionID) -> t.CustomAttributeDefinitionPayload:
    actor = await info.context.actor()
    pk = decode_id(id, "CustomAttributeDefinition")

    async def work(session) -> t.CustomAttributeDefinitionPayload:
        row = await attribute_service.delete_attribute_definition(session, actor, pk, info.context.meta)
        return t.CustomAttributeDefinitionPayload(
            custom_attribute_definition=t.CustomAttributeDefinition.from_row(row), errors=[]
        )

    return await mutate(
        info, _errors, work, lambda e: t.CustomAttributeDefinitionPayload(custom_attribute_definition=None, errors=e)
    )
