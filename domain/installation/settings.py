"""Installation-wide settings a super admin may change at run time. A setting without a stored row
keeps the value the process was started with (its environment setting)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from db.repositories import installation as repo

SIGNUP_ENABLED = "signupEnabled"


@dataclass(frozen=True)
class InstallationSettings:
    signup_enabled: bool


async def current(session: AsyncSession, *, signup_default: bool) -> InstallationSettings:
    stored = await repo.settings(session)
    return InstallationSettings(signup_enabled=bool(stored.get(SIGNUP_ENABLED, signup_default)))


async def signup_enabled(session: AsyncSession, default: bool) -> bool:
    row = await repo.setting(session, SIGNUP_ENABLED)
    return default if row is None else bool(row.value)
