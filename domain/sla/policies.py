"""SLA policies of an account (administrators): a name, first response, next response and resolution
targets in seconds (at least one), and whether only the inbox's working hours count."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.models import SlaPolicy
from db.repositories import sla as repo
from domain import audit
from domain.accounts.actor import Actor
from domain.audit import RequestMeta
from domain.errors import FieldError, NotFound, ValidationError

MAX_POLICIES = 100
MAX_NAME = 100
MAX_DESCRIPTION = 1000
MAX_TARGET = 366 * 24 * 3600  # a year and a day
TARGETS = ("firstResponseSeconds", "nextResponseSeconds", "resolutionSeconds")
KEEP: Any = object()


def _check_target(field: str, value: int | None, errors: list[FieldError]) -> None:
    if value is not None and not 1 <= value <= MAX_TARGET:
        errors.append(
            FieldError(
                field, "OUT_OF_RANGE", f"A target is a whole number of seconds from 1 to {MAX_TARGET} (or null)."
            )
        )


async def _check(
    session: AsyncSession, account_id: int, values: dict[str, Any], errors: list[FieldError], except_id: int | None
) -> None:
    name = values["name"]
    if not name or len(name) > MAX_NAME:
        errors.append(FieldError("name", "REQUIRED", f"Give the policy a name of up to {MAX_NAME} characters."))
    elif await repo.name_taken(session, account_id, name, except_id):
        errors.append(FieldError("name", "TAKEN", "Another SLA policy of the account has this name."))
    if len(values["description"]) > MAX_DESCRIPTION:
        errors.append(FieldError("description", "TOO_LONG", f"At most {MAX_DESCRIPTION} characters."))
    for field in TARGETS:
        _check_target(field, values[field], errors)
    if all(values[f] is None for f in TARGETS):
        errors.append(FieldError(None, "NO_TARGET", "Give at least one target."))


def _apply(row: SlaPolicy, values: dict[str, Any]) -> None:
    row.name = values["name"]
    row.description = values["description"]
    row.first_response_seconds = values["firstResponseSeconds"]
    row.next_response_seconds = values["nextResponseSeconds"]
    row.resolution_seconds = values["resolutionSeconds"]
    row.business_hours_only = values["businessHoursOnly"]


async def list_policies(session: AsyncSession, actor: Actor) -> Sequence[SlaPolicy]:
    return await repo.policies(session, actor.require_account_id())


async def get_policy(session: AsyncSession, actor: Actor, policy_id: int) -> SlaPolicy:
    row = await repo.policy(session, actor.require_account_id(), policy_id)
    if row is None:
        raise NotFound("No such SLA policy")
    return row


async def create_policy(session: AsyncSession, actor: Actor, values: dict[str, Any], meta: RequestMeta) -> SlaPolicy:
    account_id = actor.require_account_id()
    values = {**values, "name": (values.get("name") or "").strip(), "description": values.get("description") or ""}
    errors: list[FieldError] = []
    if await repo.policy_count(session, account_id) >= MAX_POLICIES:
        errors.append(FieldError(None, "LIMIT_REACHED", f"An account has at most {MAX_POLICIES} SLA policies."))
    await _check(session, account_id, values, errors, None)
    if errors:
        raise ValidationError(errors)
    row = SlaPolicy(account_id=account_id)
    _apply(row, values)
    session.add(row)
    await session.flush()
    audit.record(session, actor, "sla_policy.create", "SlaPolicy", row.id, {"name": row.name}, meta)
    return row


async def update_policy(
    session: AsyncSession, actor: Actor, policy_id: int, changes: dict[str, Any], meta: RequestMeta
) -> SlaPolicy:
    """Change a policy; `changes` holds only what the caller gave (a target given as None stops being
    timed). SLAs already applied keep their running deadlines; new ones follow the new targets."""
    account_id = actor.require_account_id()
    row = await repo.policy(session, account_id, policy_id, lock=True)
    if row is None:
        raise NotFound("No such SLA policy")
    values = {
        "name": row.name,
        "description": row.description,
        "firstResponseSeconds": row.first_response_seconds,
        "nextResponseSeconds": row.next_response_seconds,
        "resolutionSeconds": row.resolution_seconds,
        "businessHoursOnly": row.business_hours_only,
    }
    given = {k: v for k, v in changes.items() if v is not KEEP}
    if "name" in given:
        given["name"] = (given["name"] or "").strip()
    if given.get("description") is None and "description" in given:
        given["description"] = ""
    if given.get("businessHoursOnly") is None:
        given.pop("businessHoursOnly", None)
    values.update(given)
    errors: list[FieldError] = []
    await _check(session, account_id, values, errors, row.id)
    if errors:
        raise ValidationError(errors)
    _apply(row, values)
    await session.flush()
    audit.record(session, actor, "sla_policy.update", "SlaPolicy", row.id, {k: v for k, v in given.items()}, meta)
    return row


async def delete_policy(session: AsyncSession, actor: Actor, policy_id: int, meta: RequestMeta) -> SlaPolicy:
    """Delete a policy; the SLAs it applied go with it (Chatwoot), the conversations stay."""
    row = await get_policy(session, actor, policy_id)
    from domain.sla.tracking import detach_policy

    await detach_policy(session, row)
    await session.delete(row)
    await session.flush()
    audit.record(session, actor, "sla_policy.delete", "SlaPolicy", row.id, {"name": row.name}, meta)
    return row
