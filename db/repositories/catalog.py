"""Queries of the account's catalog: teams and their members, labels, canned responses and custom
attribute definitions.

Every function that reads catalog rows takes the acting member's account id and filters by it, so
an id from another account is simply not found."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import case, delete, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from db.models import (
    AccountMembership,
    CannedResponse,
    CustomAttributeDefinition,
    Label,
    Team,
    TeamMember,
    User,
)
from db.session import dialect_name
from domain.enums import AttributeModel


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def _count(session: AsyncSession, model: Any, account_id: int, *conditions: ColumnElement[bool]) -> int:
    return (
        await session.scalar(select(func.count()).select_from(model).where(model.account_id == account_id, *conditions))
        or 0
    )


# --- teams ---------------------------------------------------------------------------------------------


async def teams_of_account(session: AsyncSession, account_id: int) -> Sequence[Team]:
    stmt = select(Team).where(Team.account_id == account_id).order_by(func.lower(Team.name), Team.id)
    return (await session.scalars(stmt)).all()


async def team_in_account(session: AsyncSession, account_id: int, team_id: int, *, lock: bool = False) -> Team | None:
    stmt = select(Team).where(Team.id == team_id, Team.account_id == account_id)
    if lock:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)


async def team_by_name(session: AsyncSession, account_id: int, name: str) -> Team | None:
    return await session.scalar(
        select(Team).where(Team.account_id == account_id, func.lower(Team.name) == name.lower())
    )


async def count_teams(session: AsyncSession, account_id: int) -> int:
    return await _count(session, Team, account_id)


async def team_member_user_ids(session: AsyncSession, team_id: int) -> set[int]:
    return set((await session.scalars(select(TeamMember.user_id).where(TeamMember.team_id == team_id))).all())


async def is_team_member(session: AsyncSession, team_id: int, user_id: int) -> bool:
    """A member of the team who is still a member of the team's account."""
    stmt = (
        select(TeamMember.id)
        .join(
            AccountMembership,
            (AccountMembership.account_id == TeamMember.account_id) & (AccountMembership.user_id == TeamMember.user_id),
        )
        .where(TeamMember.team_id == team_id, TeamMember.user_id == user_id)
    )
    return await session.scalar(stmt) is not None


async def members_of_teams(session: AsyncSession, team_ids: Sequence[int]) -> dict[int, list[User]]:
    """Users of each team, by name. Only users who are still members of the team's account count:
    a row left behind by a removed member must not show that user to the account."""
    rows = await session.execute(
        select(TeamMember.team_id, User)
        .join(User, User.id == TeamMember.user_id)
        .join(
            AccountMembership,
            (AccountMembership.account_id == TeamMember.account_id) & (AccountMembership.user_id == TeamMember.user_id),
        )
        .where(TeamMember.team_id.in_(list(team_ids)))
        .order_by(TeamMember.team_id, func.lower(User.name), User.id)
    )
    grouped: dict[int, list[User]] = defaultdict(list)
    for team_id, user in rows:
        grouped[team_id].append(user)
    return grouped


async def account_member_user_ids(session: AsyncSession, account_id: int, user_ids: Sequence[int]) -> set[int]:
    """Which of these users are members of the account (bots are not users, so never)."""
    if not user_ids:
        return set()
    stmt = select(AccountMembership.user_id).where(
        AccountMembership.account_id == account_id, AccountMembership.user_id.in_(list(user_ids))
    )
    return set((await session.scalars(stmt)).all())


async def add_team_members(session: AsyncSession, account_id: int, team_id: int, user_ids: Sequence[int]) -> None:
    """Insert memberships, skipping those that exist (also when a concurrent request just added one)."""
    if not user_ids:
        return
    rows = [{"account_id": account_id, "team_id": team_id, "user_id": u} for u in user_ids]
    dialect = dialect_name(session)
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(TeamMember).values(rows).on_conflict_do_nothing(index_elements=["team_id", "user_id"])
    await session.execute(stmt)


async def remove_team_members(session: AsyncSession, team_id: int, user_ids: Sequence[int]) -> None:
    if user_ids:
        await session.execute(
            delete(TeamMember).where(TeamMember.team_id == team_id, TeamMember.user_id.in_(list(user_ids)))
        )


# --- labels --------------------------------------------------------------------------------------------


async def labels_of_account(session: AsyncSession, account_id: int) -> Sequence[Label]:
    return (
        await session.scalars(select(Label).where(Label.account_id == account_id).order_by(Label.title, Label.id))
    ).all()


async def label_in_account(session: AsyncSession, account_id: int, label_id: int) -> Label | None:
    return await session.scalar(select(Label).where(Label.id == label_id, Label.account_id == account_id))


async def label_by_title(session: AsyncSession, account_id: int, title: str) -> Label | None:
    """`title` is already lower-case, as stored."""
    return await session.scalar(select(Label).where(Label.account_id == account_id, Label.title == title))


async def labels_with_titles(session: AsyncSession, account_id: int, titles: Sequence[str]) -> Sequence[Label]:
    """`titles` are already lower-case, as stored."""
    if not titles:
        return []
    return (
        await session.scalars(select(Label).where(Label.account_id == account_id, Label.title.in_(list(titles))))
    ).all()


async def count_labels(session: AsyncSession, account_id: int) -> int:
    return await _count(session, Label, account_id)


# --- canned responses ----------------------------------------------------------------------------------


async def canned_responses(
    session: AsyncSession, account_id: int, search: str | None = None
) -> Sequence[CannedResponse]:
    """All of the account's canned responses by short code; with `search`, those whose short code or
    content contains it (any case), short codes starting with it first, then short codes containing
    it, then matches in the content — the order the composer's `/` menu wants."""
    stmt = select(CannedResponse).where(CannedResponse.account_id == account_id)
    code = func.lower(CannedResponse.short_code)
    if search:
        term = _like_escape(search.lower())
        contains = f"%{term}%"
        stmt = stmt.where(
            or_(code.like(contains, escape="\\"), func.lower(CannedResponse.content).like(contains, escape="\\"))
        )
        rank = case((code.like(f"{term}%", escape="\\"), 0), (code.like(contains, escape="\\"), 1), else_=2)
        stmt = stmt.order_by(rank, code, CannedResponse.id)
    else:
        stmt = stmt.order_by(code, CannedResponse.id)
    return (await session.scalars(stmt)).all()


async def canned_response_in_account(session: AsyncSession, account_id: int, canned_id: int) -> CannedResponse | None:
    return await session.scalar(
        select(CannedResponse).where(CannedResponse.id == canned_id, CannedResponse.account_id == account_id)
    )


async def canned_response_by_short_code(
    session: AsyncSession, account_id: int, short_code: str
) -> CannedResponse | None:
    return await session.scalar(
        select(CannedResponse).where(
            CannedResponse.account_id == account_id, func.lower(CannedResponse.short_code) == short_code.lower()
        )
    )


async def count_canned_responses(session: AsyncSession, account_id: int) -> int:
    return await _count(session, CannedResponse, account_id)


# --- custom attribute definitions ----------------------------------------------------------------------


async def attribute_definitions(
    session: AsyncSession, account_id: int, model: AttributeModel | None = None
) -> Sequence[CustomAttributeDefinition]:
    stmt = select(CustomAttributeDefinition).where(CustomAttributeDefinition.account_id == account_id)
    if model is not None:
        stmt = stmt.where(CustomAttributeDefinition.attribute_model == model)
    return (await session.scalars(stmt.order_by(CustomAttributeDefinition.id))).all()


async def attribute_definition_in_account(
    session: AsyncSession, account_id: int, definition_id: int
) -> CustomAttributeDefinition | None:
    return await session.scalar(
        select(CustomAttributeDefinition).where(
            CustomAttributeDefinition.id == definition_id, CustomAttributeDefinition.account_id == account_id
        )
    )


async def attribute_definitions_by_keys(
    session: AsyncSession, account_id: int, model: AttributeModel, keys: Sequence[str]
) -> dict[str, CustomAttributeDefinition]:
    if not keys:
        return {}
    rows = await session.scalars(
        select(CustomAttributeDefinition).where(
            CustomAttributeDefinition.account_id == account_id,
            CustomAttributeDefinition.attribute_model == model,
            CustomAttributeDefinition.attribute_key.in_(list(keys)),
        )
    )
    return {d.attribute_key: d for d in rows}


async def count_attribute_definitions(session: AsyncSession, account_id: int, model: AttributeModel) -> int:
    return await _count(
        session, CustomAttributeDefinition, account_id, CustomAttributeDefinition.attribute_model == model
    )
