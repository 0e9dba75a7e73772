"""What a super admin does to the installation: list accounts with their usage, suspend and reactivate
an account, set its feature limits, change installation-wide settings. Every change is audited; a
suspension changes `accounts.status`, which the auth cache's flush listener announces to every process.

The `Rule.super_admin` access rule guards the GraphQL fields; these services check again, since the CLI
and other callers reach them too."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Account, InstallationSetting
from db.repositories import installation as repo
from domain import audit
from domain.accounts import auth_cache  # noqa: F401  # its flush listener announces suspensions and grants
from domain.accounts.actor import Actor, ActorKind
from domain.audit import RequestMeta
from domain.enums import AccountStatus
from domain.errors import FieldError, Forbidden, NotFound, ValidationError
from domain.installation import settings as installation_settings
from domain.installation.limits import MAX_LIMIT

_UNSET: Any = object()


def require_super_admin(actor: Actor) -> None:
    if actor.kind != ActorKind.user or not actor.is_super_admin:
        raise Forbidden("Only super admins of the installation can do this")


async def accounts(
    session: AsyncSession,
    actor: Actor,
    *,
    after_id: int | None,
    limit: int,
    status: AccountStatus | None = None,
    search: str | None = None,
) -> list[repo.AccountUsage]:
    require_super_admin(actor)
    return await repo.accounts_page(session, after_id=after_id, limit=limit, status=status, search=search)


async def _account(session: AsyncSession, account_id: int) -> Account:
    account = await repo.account(session, account_id, lock=True)
    if account is None:
        raise ValidationError.single("accountId", "NOT_FOUND", "No such account.")
    return account


async def set_status(
    session: AsyncSession, actor: Actor, account_id: int, status: AccountStatus, reason: str | None, meta: RequestMeta
) -> Account:
    """Suspend (every user, bot and token of the account refused from the next request on, in every
    process) or reactivate an account. Setting the status it already has changes nothing."""
    require_super_admin(actor)
    reason = (reason or "").strip()
    if len(reason) > 500:
        raise ValidationError.single("reason", "TOO_LONG", "Give a reason of up to 500 characters.")
    account = await _account(session, account_id)
    if account.status != status:
        before = account.status
        account.status = status
        action = (
            "installation.account_suspend" if status == AccountStatus.SUSPENDED else "installation.account_reactivate"
        )
        changes: dict[str, Any] = {"status": [before.value, status.value]}
        if reason:
            changes["reason"] = reason
        audit.record(session, actor, action, "Account", account.id, changes, meta, account_id=account.id)
        await session.flush()
    return account


async def update_limits(
    session: AsyncSession,
    actor: Actor,
    account_id: int,
    *,
    max_agents: int | None = _UNSET,
    max_inboxes: int | None = _UNSET,
    meta: RequestMeta,
) -> Account:
    """Set (a number) or lift (null) an account's feature limits; an omitted one stays."""
    require_super_admin(actor)
    errors: list[FieldError] = []
    for name, value in (("maxAgents", max_agents), ("maxInboxes", max_inboxes)):
        if value is not _UNSET and value is not None and not 0 <= value <= MAX_LIMIT:
            errors.append(FieldError(name, "OUT_OF_RANGE", f"Give a number from 0 to {MAX_LIMIT:,}, or null for none."))
    if errors:
        raise ValidationError(errors)
    account = await _account(session, account_id)
    changes: dict[str, list[Any]] = {}
    if max_agents is not _UNSET and max_agents != account.max_agents:
        changes["maxAgents"] = [account.max_agents, max_agents]
        account.max_agents = max_agents
    if max_inboxes is not _UNSET and max_inboxes != account.max_inboxes:
        changes["maxInboxes"] = [account.max_inboxes, max_inboxes]
        account.max_inboxes = max_inboxes
    if changes:
        audit.record(
            session,
            actor,
            "installation.account_limits_update",
            "Account",
            account.id,
            changes,
            meta,
            account_id=account.id,
        )
        await session.flush()
    return account


async def update_settings(
    session: AsyncSession, actor: Actor, *, signup_enabled: bool | None, signup_default: bool, meta: RequestMeta
) -> installation_settings.InstallationSettings:
    require_super_admin(actor)
    current = await installation_settings.current(session, signup_default=signup_default)
    if signup_enabled is not None and signup_enabled != current.signup_enabled:
        row = await repo.setting(session, installation_settings.SIGNUP_ENABLED)
        if row is None:
            session.add(InstallationSetting(key=installation_settings.SIGNUP_ENABLED, value=signup_enabled))
        else:
            row.value = signup_enabled
        audit.record(
            session,
            actor,
            "installation.settings_update",
            "Installation",
            None,
            {"signupEnabled": [current.signup_enabled, signup_enabled]},
            meta,
            installation_wide=True,
        )
        await session.flush()
    return await installation_settings.current(session, signup_default=signup_default)


@dataclass(frozen=True)
class Granted:
    email: str
    changed: bool


async def grant_super_admin(session: AsyncSession, email: str) -> Granted:
    """The CLI's `parley superadmin grant EMAIL`: whoever runs it on the server is trusted; audited
    (on the user's accounts) as done by the operator."""
    user = await repo.user_by_email(session, email)
    if user is None:
        raise NotFound(f"No user with the email {email.strip()!r}")
    if user.is_super_admin:
        return Granted(user.email, False)
    user.is_super_admin = True
    audit.record(
        session,
        Actor(label="cli"),
        "installation.super_admin_grant",
        "User",
        user.id,
        {"isSuperAdmin": [False, True], "email": user.email},
        installation_wide=True,
    )
    await session.flush()
    return Granted(user.email, True)
