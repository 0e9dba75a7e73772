"""DataLoaders of the catalog, built per request from the context's `db` session factory (see
resolvers/loaders.py): one SQL statement per loader per request, results in key order.

`loader(context, name)` returns the request's loader of that name: the one `Loaders` holds if it has
it, otherwise one built here and kept on that same `Loaders` object (so subscriptions, which build
fresh loaders per event, get fresh ones here too)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import select
from strawberry.dataloader import DataLoader

from db.models import Label, Team, User
from db.repositories import catalog as repo

Db = Callable[[], Any]  # an async context manager factory yielding the request's AsyncSession


def _by_pk(db: Db, model) -> DataLoader:
    async def load(keys: Sequence[int]) -> list[Any]:
        async with db() as session:
            rows = await session.scalars(select(model).where(model.id.in_(list(keys))))
            found = {r.id: r for r in rows}
        return [found.get(k) for k in keys]

    return DataLoader(load)


def label_by_id(db: Db) -> DataLoader[int, Label | None]:
    """Labels by primary key, for labels reached through an already-authorized parent."""
    return _by_pk(db, Label)


def team_by_id(db: Db) -> DataLoader[int, Team | None]:
    """Teams by primary key, for teams reached through an already-authorized parent."""
    return _by_pk(db, Team)


def team_members_by_team_id(db: Db) -> DataLoader[int, list[User]]:
    """Each team's members (users still in the team's account), by name; empty for a miss."""

    async def load(keys: Sequence[int]) -> list[list[User]]:
        async with db() as session:
            grouped = await repo.members_of_teams(session, keys)
        return [grouped.get(k, []) for k in keys]

    return DataLoader(load)


FACTORIES: dict[str, Callable[[Db], DataLoader]] = {
    "label_by_id": label_by_id,
    "team_by_id": team_by_id,
    "team_members_by_team_id": team_members_by_team_id,
}


def loader(context: Any, name: str) -> DataLoader:
    loaders = context.loaders
    found = getattr(loaders, name, None)
    if found is None:
        found = FACTORIES[name](context.db)
        setattr(loaders, name, found)
    return found
