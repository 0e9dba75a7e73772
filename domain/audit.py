"""The audit log: administrator actions with who, what, which target, the changes, IP and request id."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.models import AuditLog
from domain.accounts.actor import Actor
from infra.logs import request_id_var


@dataclass(frozen=True)
class RequestMeta:
    ip: str | None = None
    user_agent: str | None = None


def record(
    session: AsyncSession,
    actor: Actor,
    action: str,
    target_type: str,
    target_id: int | str | None,
    changes: dict[str, Any] | None = None,
    meta: RequestMeta | None = None,
    *,
    account_id: int | None = None,
    installation_wide: bool = False,
) -> None:
    """`installation_wide`: a super admin's change that concerns no one account (kept without one)."""
    session.add(
        AuditLog(
            account_id=None if installation_wide else account_id if account_id is not None else actor.account_id,
            actor_user_id=actor.user_id,
            actor_label=actor.label,
            action=action,
            target_type=target_type,
            target_id=None if target_id is None else str(target_id),
            changes=changes or {},
            ip=meta.ip if meta else None,
            request_id=request_id_var.get(),
        )
    )
