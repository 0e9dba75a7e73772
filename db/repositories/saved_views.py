"""Queries of saved views. Every function takes the account id and filters by it, so a view of
another account is simply not found; `visible` adds the caller's own-or-account-wide rule."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from db.models import SavedView


def _visible(account_id: int, user_id: int | None) -> list[ColumnElement[bool]]:
    mine = SavedView.owner_user_id == user_id if user_id is not None else SavedView.owner_user_id.is_(None)
    return [SavedView.account_id == account_id, or_(SavedView.owner_user_id.is_(None), mine)]


async def visible_views(session: AsyncSession, account_id: int, user_id: int | None, kind: str) -> Sequence[SavedView]:
    """The caller's own views of `kind` and the account-wide ones: account-wide first, then by name."""
    stmt = (
        select(SavedView)
        .where(*_visible(account_id, user_id), SavedView.kind == kind)
        .order_by(SavedView.owner_user_id.is_not(None), func.lower(SavedView.name), SavedView.id)
    )
    return (await session.scalars(stmt)).all()


async def visible_view(session: AsyncSession, account_id: int, user_id: int | None, view_id: int) -> SavedView | None:
    return await session.scalar(select(SavedView).where(*_visible(account_id, user_id), SavedView.id == view_id))


async def view_named(
    session: AsyncSession, account_id: int, owner_user_id: int | None, kind: str, name: str
) -> SavedView | None:
    owner = SavedView.owner_user_id == owner_user_id if owner_user_id is not None else SavedView.owner_user_id.is_(None)
    return await session.scalar(
        select(SavedView).where(
            SavedView.account_id == account_id,
            owner,
            SavedView.kind == kind,
            func.lower(SavedView.name) == name.lower(),
        )
    )


async def count_owned(session: AsyncSession, account_id: int, owner_user_id: int | None) -> int:
    owner = SavedView.owner_user_id == owner_user_id if owner_user_id is not None else SavedView.owner_user_id.is_(None)
    count = await session.scalar(select(func.count()).where(SavedView.account_id == account_id, owner))
    return int(count or 0)
