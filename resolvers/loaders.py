"""Per-request DataLoaders (`<model>_by_<key>`). They load rows by primary key for objects reached
through an already-authorized parent; results come back in key order, None for a miss."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import select
from strawberry.dataloader import DataLoader

from db.models import Account, Bot, CustomRole, User


class Loaders:
    def __init__(self, db: Callable[[], Any]) -> None:
        self._db = db
        self.user_by_id = DataLoader(self._by_pk(User))
        self.account_by_id = DataLoader(self._by_pk(Account))
        self.custom_role_by_id = DataLoader(self._by_pk(CustomRole))
        self.bot_by_id = DataLoader(self._by_pk(Bot))

    def _by_pk(self, model) -> Callable[[Sequence[int]], Awaitable[list[Any]]]:
        async def load(keys: Sequence[int]) -> list[Any]:
            async with self._db() as session:
                rows = await session.scalars(select(model).where(model.id.in_(list(keys))))
                found = {r.id: r for r in rows}
            return [found.get(k) for k in keys]

        return load
