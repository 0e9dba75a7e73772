"""Partner apps: administrators create them, give them tokens and upload their manifests.

A partner token acts on its app's account with a bot's rights, and only through the operations of
the app's current manifest (the persisted-operations extension enforces that). Manifests are
versioned and never edited: an upload adds a version and makes it current; `activate` moves back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import PartnerApp, PartnerManifest, PartnerOperation, PartnerToken
from db.repositories import accounts as accounts_repo
from db.repositories import partners as repo
from domain import audit
from domain.accounts import tokens
from domain.accounts.actor import Actor, ActorKind
from domain.audit import RequestMeta
from domain.enums import AccountStatus
from domain.errors import AccountSuspended, FieldError, Forbidden, NotAuthenticated, NotFound, ValidationError
from domain.partners.manifest import ManifestError, ManifestOperation, parse_manifest

PREFIX_PARTNER = "plya_"
MAX_NAME = 255

# Validates one operation's text against the schema and the partner's limits: the problems found.
Validator = Callable[[str], list[str]]


@dataclass(frozen=True)
class PartnerActor(Actor):
    """A partner app acting on its account: a bot's rights, plus the manifest version it may run."""

    partner_app_id: int | None = None
    partner_token_id: int | None = None
    manifest_version: int | None = None


def is_partner_token(token: str | None) -> bool:
    return token is not None and token.startswith(PREFIX_PARTNER)


def _name(value: str, field_name: str, errors: list[FieldError], max_len: int = MAX_NAME) -> str:
    value = value.strip()
    if not value:
        errors.append(FieldError(field_name, "REQUIRED", "This field is required."))
    elif len(value) > max_len:
        errors.append(FieldError(field_name, "TOO_LONG", f"At most {max_len} characters."))
    return value


async def _app(session: AsyncSession, actor: Actor, app_id: int, *, lock: bool = False) -> PartnerApp:
    app = await repo.app_in_account(session, actor.require_account_id(), app_id, lock=lock)
    if app is None:
        raise NotFound("No such partner app")
    return app


async def create_app(
    session: AsyncSession, actor: Actor, *, name: str, description: str, meta: RequestMeta
) -> PartnerApp:
    errors: list[FieldError] = []
    name = _name(name, "name", errors)
    if len(description) > 1000:
        errors.append(FieldError("description", "TOO_LONG", "At most 1000 characters."))
    if errors:
        raise ValidationError(errors)
    app = PartnerApp(account_id=actor.account_id, name=name, description=description, created_by_id=actor.user_id)
    session.add(app)
    await session.flush()
    audit.record(session, actor, "partner_app.create", "PartnerApp", app.id, {"name": name}, meta)
    return app


async def update_app(
    session: AsyncSession,
    actor: Actor,
    app_id: int,
    *,
    name: str | None,
    description: str | None,
    disabled: bool | None,
    meta: RequestMeta,
) -> PartnerApp:
    app = await _app(session, actor, app_id, lock=True)
    errors: list[FieldError] = []
    changes: dict[str, Any] = {}
    if name is not None:
        name = _name(name, "name", errors)
    if description is not None and len(description) > 1000:
        errors.append(FieldError("description", "TOO_LONG", "At most 1000 characters."))
    if errors:
        raise ValidationError(errors)
    if name is not None and name != app.name:
        changes["name"] = [app.name, name]
        app.name = name
    if description is not None:
        app.description = description
    if disabled is not None and disabled != (app.disabled_at is not None):
        changes["disabled"] = [not disabled, disabled]
        app.disabled_at = utcnow() if disabled else None
    audit.record(session, actor, "partner_app.update", "PartnerApp", app.id, changes, meta)
    await session.flush()
    return app


async def create_token(
    session: AsyncSession, actor: Actor, app_id: int, *, name: str, meta: RequestMeta
) -> tuple[PartnerToken, str]:
    errors: list[FieldError] = []
    name = _name(name, "name", errors, 100)
    if errors:
        raise ValidationError(errors)
    app = await _app(session, actor, app_id)
    secret, secret_hash = tokens.new_secret(PREFIX_PARTNER)
    row = PartnerToken(
        account_id=actor.account_id,
        partner_app_id=app.id,
        name=name,
        token_prefix=secret[:12],
        token_hash=secret_hash,
        created_by_id=actor.user_id,
    )
    session.add(row)
    await session.flush()
    audit.record(
        session,
        actor,
        "partner_token.create",
        "PartnerToken",
        row.id,
        {"name": name, "partnerAppId": app.id, "prefix": row.token_prefix},
        meta,
    )
    return row, secret


async def revoke_token(session: AsyncSession, actor: Actor, token_id: int, meta: RequestMeta) -> PartnerToken:
    row = await repo.token_in_account(session, actor.require_account_id(), token_id)
    if row is None:
        raise NotFound("No such partner token")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(session, actor, "partner_token.revoke", "PartnerToken", row.id, {"name": row.name}, meta)
    await session.flush()
    return row


@dataclass
class UploadResult:
    manifest: PartnerManifest | None
    app: PartnerApp
    invalid: list[ManifestOperation] = field(default_factory=list)


async def upload_manifest(
    session: AsyncSession,
    actor: Actor,
    app_id: int,
    *,
    text: str,
    validate: Validator,
    skip_invalid: bool,
    meta: RequestMeta,
) -> UploadResult:
    """Store a new version of the app's manifest and make it current. Every operation is validated
    against the schema as it is now; invalid ones refuse the upload, or with `skip_invalid` are left
    out. Either way they are reported."""
    app = await _app(session, actor, app_id, lock=True)
    try:
        parsed = parse_manifest(text)
    except ManifestError as exc:
        raise ValidationError.single("manifest", "INVALID_MANIFEST", str(exc)) from None
    for op in parsed.operations:
        if not op.problems:
            op.problems.extend(validate(op.body))
    invalid = [op for op in parsed.operations if op.problems]
    valid = [op for op in parsed.operations if not op.problems]
    if invalid and not skip_invalid:
        return UploadResult(None, app, invalid)
    if not valid:
        raise ValidationError.single("manifest", "INVALID_MANIFEST", "No operation of the manifest is valid")
    version = await repo.latest_version(session, app.id) + 1
    manifest = PartnerManifest(
        account_id=app.account_id,
        partner_app_id=app.id,
        version=version,
        format=parsed.format,
        operation_count=len(valid),
        created_by_id=actor.user_id,
    )
    session.add(manifest)
    await session.flush()
    session.add_all(
        PartnerOperation(
            manifest_id=manifest.id,
            document_id=op.document_id,
            sha256=op.sha256,
            name=op.name,
            kind=op.kind,
            body=op.body,
        )
        for op in valid
    )
    app.current_version = version
    audit.record(
        session,
        actor,
        "partner_manifest.upload",
        "PartnerApp",
        app.id,
        {"version": version, "operations": len(valid), "skipped": len(invalid)},
        meta,
    )
    await session.flush()
    return UploadResult(manifest, app, invalid)


async def activate_manifest(
    session: AsyncSession, actor: Actor, app_id: int, version: int, meta: RequestMeta
) -> PartnerApp:
    app = await _app(session, actor, app_id, lock=True)
    if await repo.manifest_version(session, actor.require_account_id(), app.id, version) is None:
        raise ValidationError.single("version", "NOT_FOUND", "This app has no manifest of that version.")
    if app.current_version != version:
        audit.record(
            session,
            actor,
            "partner_manifest.activate",
            "PartnerApp",
            app.id,
            {"version": [app.current_version, version]},
            meta,
        )
        app.current_version = version
    await session.flush()
    return app


async def actor_for_partner_token(session: AsyncSession, token: str, account_id: int | None) -> PartnerActor:
    found = await repo.token_with_app(session, tokens.hash_secret(token))
    if found is None or found[0].revoked_at is not None:
        raise NotAuthenticated("The partner token is invalid or revoked")
    row, app = found
    if account_id is not None and account_id != row.account_id:
        raise Forbidden("This token belongs to another account")
    if app.disabled_at is not None:
        raise Forbidden("This partner app is disabled")
    account = await accounts_repo.account_by_id(session, row.account_id)
    if account is None or account.status == AccountStatus.SUSPENDED:
        raise AccountSuspended()
    return PartnerActor(
        kind=ActorKind.bot,
        account_id=row.account_id,
        label=f"partner:{app.name}",
        partner_token_id=row.id,
        partner_app_id=app.id,
        manifest_version=app.current_version,
    )


async def touch_token(sessions: Any, token_id: int, now: datetime) -> None:
    """Keep a partner token's last-used time (in a transaction of its own, off the request's path)."""
    async with sessions() as session, session.begin():
        await repo.touch_token(session, token_id, now)
