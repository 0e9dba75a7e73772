"""Queries of partner apps, their tokens, manifests and operations. Everything an administrator
reaches is filtered by the acting account, so another account's ids are simply not found."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import PartnerApp, PartnerManifest, PartnerOperation, PartnerToken


async def apps_of_account(session: AsyncSession, account_id: int) -> Sequence[PartnerApp]:
    stmt = select(PartnerApp).where(PartnerApp.account_id == account_id).order_by(PartnerApp.id)
    return (await session.scalars(stmt)).all()


async def app_in_account(
    session: AsyncSession, account_id: int, app_id: int, *, lock: bool = False
) -> PartnerApp | None:
    stmt = select(PartnerApp).where(PartnerApp.id == app_id, PartnerApp.account_id == account_id)
    if lock:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)


async def tokens_of_apps(session: AsyncSession, account_id: int, app_ids: Sequence[int]) -> Sequence[PartnerToken]:
    stmt = (
        select(PartnerToken)
        .where(PartnerToken.account_id == account_id, PartnerToken.partner_app_id.in_(app_ids))
        .order_by(PartnerToken.id)
    )
    return (await session.scalars(stmt)).all()


async def manifests_of_apps(
    session: AsyncSession, account_id: int, app_ids: Sequence[int]
) -> Sequence[PartnerManifest]:
    stmt = (
        select(PartnerManifest)
        .where(PartnerManifest.account_id == account_id, PartnerManifest.partner_app_id.in_(app_ids))
        .order_by(PartnerManifest.partner_app_id, PartnerManifest.version.desc())
    )
    return (await session.scalars(stmt)).all()


async def manifest_version(session: AsyncSession, account_id: int, app_id: int, version: int) -> PartnerManifest | None:
    stmt = select(PartnerManifest).where(
        PartnerManifest.account_id == account_id,
        PartnerManifest.partner_app_id == app_id,
        PartnerManifest.version == version,
    )
    return await session.scalar(stmt)


async def latest_version(session: AsyncSession, app_id: int) -> int:
    return (
        await session.scalar(select(func.max(PartnerManifest.version)).where(PartnerManifest.partner_app_id == app_id))
        or 0
    )


async def operations_of_manifest(
    session: AsyncSession, account_id: int, manifest_id: int
) -> Sequence[PartnerOperation]:
    stmt = (
        select(PartnerOperation)
        .join(PartnerManifest, PartnerManifest.id == PartnerOperation.manifest_id)
        .where(PartnerOperation.manifest_id == manifest_id, PartnerManifest.account_id == account_id)
        .order_by(PartnerOperation.id)
    )
    return (await session.scalars(stmt)).all()


async def token_in_account(session: AsyncSession, account_id: int, token_id: int) -> PartnerToken | None:
    return await session.scalar(
        select(PartnerToken).where(PartnerToken.id == token_id, PartnerToken.account_id == account_id)
    )


async def token_with_app(session: AsyncSession, token_hash: str) -> tuple[PartnerToken, PartnerApp] | None:
    row = (
        await session.execute(
            select(PartnerToken, PartnerApp)
            .join(PartnerApp, PartnerApp.id == PartnerToken.partner_app_id)
            .where(PartnerToken.token_hash == token_hash)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def touch_token(session: AsyncSession, token_id: int, now: datetime) -> None:
    await session.execute(update(PartnerToken).where(PartnerToken.id == token_id).values(last_used_at=now))


async def registered_operation(
    session: AsyncSession, app_id: int, version: int, *, document_id: str | None, sha256: str | None
) -> PartnerOperation | None:
    """The operation of an app's manifest version, by its registered id or by the hash of its body."""
    conds = []
    if document_id is not None:
        conds.append(PartnerOperation.document_id == document_id)
    if sha256 is not None:
        conds.append(PartnerOperation.sha256 == sha256)
    if not conds:
        return None
    stmt = (
        select(PartnerOperation)
        .join(PartnerManifest, PartnerManifest.id == PartnerOperation.manifest_id)
        .where(PartnerManifest.partner_app_id == app_id, PartnerManifest.version == version, or_(*conds))
        .order_by(PartnerOperation.id)
        .limit(1)
    )
    return await session.scalar(stmt)
