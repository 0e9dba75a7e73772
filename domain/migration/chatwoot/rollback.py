"""Undo an import, one account at a time: `parley import chatwoot-rollback --source … --account N`.

Drops the Parley account the import made of Chatwoot account N — with everything in it, including
what was written in Parley since (every account-scoped table cascades from `accounts`) — its copied
files, the users the import created who now belong to no account, and the source's checkpoints (so
a later import reads the source again; the id map of the other accounts keeps it from duplicating
them). An account Parley had before the import is never touched: only id-map rows marked `created`
are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, exists, select
from sqlalchemy.ext.asyncio import AsyncEngine

from db.models import Account, AccountMembership, Attachment, ImportCheckpoint, ImportIdMap, ImportSkip, User
from domain.migration.chatwoot.importer import source_name
from infra.settings import Settings


class NothingToRollBack(Exception):
    pass


@dataclass
class Rollback:
    account_id: int  # the Parley account dropped
    users_dropped: int
    files_dropped: int


async def rollback_account(engine: AsyncEngine, settings: Settings, source_url: str, chatwoot_account: int) -> Rollback:
    source = source_name(source_url)
    async with engine.begin() as conn:
        target = await conn.scalar(
            select(ImportIdMap.target_id).where(
                ImportIdMap.source == source,
                ImportIdMap.source_table == "accounts",
                ImportIdMap.source_id == chatwoot_account,
                ImportIdMap.created.is_(True),
            )
        )
        if target is None:
            raise NothingToRollBack(f"Chatwoot account {chatwoot_account} of {source} was not imported here")
        keys = list(await conn.scalars(select(Attachment.storage_key).where(Attachment.account_id == target)))
        user_ids = list(
            await conn.scalars(
                select(ImportIdMap.target_id).where(
                    ImportIdMap.source == source, ImportIdMap.source_table == "users", ImportIdMap.created.is_(True)
                )
            )
        )
        # The account's rows and their id-map entries go with it (ON DELETE CASCADE).
        await conn.execute(delete(Account).where(Account.id == target))
        orphans = list(
            await conn.scalars(
                select(User.id).where(
                    User.id.in_(user_ids),
                    ~exists().where(AccountMembership.user_id == User.id),
                )
            )
        )
        if orphans:
            await conn.execute(delete(User).where(User.id.in_(orphans)))
            await conn.execute(
                delete(ImportIdMap).where(
                    ImportIdMap.source == source,
                    ImportIdMap.source_table == "users",
                    ImportIdMap.target_id.in_(orphans),
                )
            )
        await conn.execute(
            delete(ImportSkip).where(ImportSkip.source == source, ImportSkip.account_id == chatwoot_account)
        )
        await conn.execute(delete(ImportCheckpoint).where(ImportCheckpoint.source == source))
    if keys:
        from domain.storage import get_storage

        storage = get_storage(settings)
        for key in keys:
            await storage.delete(key)
    return Rollback(int(target), len(orphans), len(keys))
