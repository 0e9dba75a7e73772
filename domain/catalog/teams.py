"""Teams and their members: administrators create, change and delete them and set who belongs;
every member reads them (Chatwoot's rules). Other domains ask here whether a team is the
account's and whether a user is in it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Team
from db.repositories import catalog as repo
from domain import audit
from domain.accounts.actor import Actor
from domain.audit import RequestMeta
from domain.catalog.checks import description_of, flush_unique, refuse_beyond, required
from domain.catalog.limits import MAX_TEAMS, MAX_USER_IDS
from domain.errors import FieldError, NotFound, ValidationError


async def team_in_account(session: AsyncSession, account_id: int, team_id: int) -> Team | None:
    """The team with this id if it belongs to the account; None otherwise."""
    return await repo.team_in_account(session, account_id, team_id)


async def is_team_member(session: AsyncSession, team_id: int, user_id: int) -> bool:
    """Whether the user belongs to the team (and is still a member of the team's account)."""
    return await repo.is_team_member(session, team_id, user_id)


async def _team_or_404(session: AsyncSession, actor: Actor, team_id: int, *, lock: bool = False) -> Team:
    team = await repo.team_in_account(session, actor.require_account_id(), team_id, lock=lock)
    if team is None:
        raise NotFound("No such team")
    return team


async def _check_team_name(
    session: AsyncSession, actor: Actor, name: str, errors: list[FieldError], own_id: int | None
) -> str:
    name = required(name, "name", errors, 100)
    if name and not errors:
        other = await repo.team_by_name(session, actor.require_account_id(), name)
        if other is not None and other.id != own_id:
            errors.append(FieldError("name", "TAKEN", "A team with this name exists."))
    return name


async def create_team(
    session: AsyncSession, actor: Actor, *, name: str, description: str, allow_auto_assign: bool, meta: RequestMeta
) -> Team:
    errors: list[FieldError] = []
    description = description_of(description, errors)
    name = await _check_team_name(session, actor, name, errors, None)
    if errors:
        raise ValidationError(errors)
    refuse_beyond(await repo.count_teams(session, actor.require_account_id()), MAX_TEAMS, "teams")
    team = Team(account_id=actor.account_id, name=name, description=description, allow_auto_assign=allow_auto_assign)
    session.add(team)
    await flush_unique(session, "name", "A team with this name exists.")
    audit.record(
        session,
        actor,
        "team.create",
        "Team",
        team.id,
        {"name": name, "description": description, "allowAutoAssign": allow_auto_assign},
        meta,
    )
    await session.flush()
    return team


async def update_team(
    session: AsyncSession,
    actor: Actor,
    team_id: int,
    *,
    name: str | None,
    description: str | None,
    allow_auto_assign: bool | None,
    meta: RequestMeta,
) -> Team:
    team = await _team_or_404(session, actor, team_id)
    errors: list[FieldError] = []
    if description is not None:
        description = description_of(description, errors)
    if name is not None:
        name = await _check_team_name(session, actor, name, errors, team.id)
    if errors:
        raise ValidationError(errors)
    changes: dict[str, list[Any]] = {}
    for attr, key, value in (
        ("name", "name", name),
        ("description", "description", description),
        ("allow_auto_assign", "allowAutoAssign", allow_auto_assign),
    ):
        if value is not None and getattr(team, attr) != value:
            changes[key] = [getattr(team, attr), value]
            setattr(team, attr, value)
    if changes:
        await flush_unique(session, "name", "A team with this name exists.")
        audit.record(session, actor, "team.update", "Team", team.id, changes, meta)
        await session.flush()
    return team


async def delete_team(session: AsyncSession, actor: Actor, team_id: int, meta: RequestMeta) -> Team:
    """Its memberships go with it; its conversations stay, without a team (ON DELETE SET NULL)."""
    team = await _team_or_404(session, actor, team_id)
    audit.record(session, actor, "team.delete", "Team", team.id, {"name": team.name}, meta)
    await session.delete(team)
    await session.flush()
    return team


TeamMembersMode = Literal["add", "remove", "set"]


async def change_team_members(
    session: AsyncSession, actor: Actor, team_id: int, user_ids: Sequence[int], mode: TeamMembersMode, meta: RequestMeta
) -> Team:
    """Add users to the team, remove them, or make the team exactly these users. Added users must be
    members of the account; removing someone who is not in the team is a no-op."""
    team = await _team_or_404(session, actor, team_id, lock=True)
    if len(user_ids) > MAX_USER_IDS:
        raise ValidationError.single("userIds", "TOO_MANY", f"At most {MAX_USER_IDS} users at once.")
    wanted = list(dict.fromkeys(user_ids))
    current = await repo.team_member_user_ids(session, team.id)
    if mode != "remove":
        members = await repo.account_member_user_ids(session, actor.require_account_id(), wanted)
        # One answer for "no such user" and "not in this account": user ids of other accounts stay unknown.
        errors = [
            FieldError("userIds", "NOT_A_MEMBER", f"userIds[{user_ids.index(u)}] is not a member of this account.")
            for u in wanted
            if u not in members
        ]
        if errors:
            raise ValidationError(errors)
    if mode == "add":
        added, removed = [u for u in wanted if u not in current], []
    elif mode == "remove":
        added, removed = [], [u for u in wanted if u in current]
    else:
        added, removed = [u for u in wanted if u not in current], sorted(current - set(wanted))
    await repo.add_team_members(session, actor.require_account_id(), team.id, added)
    await repo.remove_team_members(session, team.id, removed)
    if added or removed:
        audit.record(
            session, actor, f"team.members_{mode}", "Team", team.id, {"added": sorted(added), "removed": removed}, meta
        )
    await session.flush()
    return team
