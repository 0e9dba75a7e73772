"""Account administration: sign-up, invitations, memberships, custom roles, bots and API tokens.

Each function takes the acting Actor; the root field's rule has already been checked, and every
lookup goes through repositories scoped to `actor.account_id`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import Account, AccountMembership, ApiToken, CustomRole, Invitation, User
from db.repositories import accounts as repo
from domain import audit, events
from domain.accounts import tokens
from domain.accounts.actor import Actor
from domain.accounts.auth import (
    TokenPair,
    _mark_verified,
    consume_one_time_token,
    send_email_verification,
    start_session,
)
from domain.accounts.passwords import hash_password, password_problem
from domain.audit import RequestMeta
from domain.enums import OneTimePurpose, Permission, Role
from domain.errors import FieldError, Forbidden, NotFound, ValidationError
from domain.events.enums import EventType
from domain.mail import invitation_email, invitation_for_existing_user_email, signup_attempt_email
from domain.validation import is_email

MAX_NAME = 255


def _check_name(value: str, field: str, errors: list[FieldError], max_len: int = MAX_NAME) -> str:
    value = value.strip()
    if not value:
        errors.append(FieldError(field, "REQUIRED", "This field is required."))
    elif len(value) > max_len:
        errors.append(FieldError(field, "TOO_LONG", f"At most {max_len} characters."))
    return value


def _check_email(value: str, field: str, errors: list[FieldError]) -> str:
    value = value.strip().lower()
    if not is_email(value):
        errors.append(FieldError(field, "INVALID_EMAIL", "Enter a valid email address."))
    return value


def _check_timezone(value: str, field: str, errors: list[FieldError]) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        errors.append(FieldError(field, "INVALID_TIMEZONE", "Use an IANA time zone such as Europe/Berlin."))
    return value


# --- sign-up ---------------------------------------------------------------------------------------


@dataclass
class AccountCreated:
    account: Account | None  # None for an anonymous sign-up: the answer never says whether the email was new
    user: User | None


async def create_account(
    session: AsyncSession,
    actor: Actor,
    *,
    account_name: str,
    user_name: str | None,
    email: str | None,
    password: str | None,
    signup_enabled: bool,
    base_url: str,
    meta: RequestMeta,
) -> AccountCreated:
    """A signed-in user creates another account; anyone else signs up (when the installation allows).

    A sign-up answers the same whether or not the email has a login, so it cannot be used to find
    out who uses Parley: a new email gets its user (unverified) and account and a confirmation link;
    a known one gets nothing but an email to its owner. Either way the caller then signs in."""
    errors: list[FieldError] = []
    account_name = _check_name(account_name, "accountName", errors)
    if actor.user_id is None:
        from domain.installation import settings as installation_settings

        if not await installation_settings.signup_enabled(session, signup_enabled):
            raise Forbidden("Sign-up is disabled on this installation")
        user_name = _check_name(user_name or "", "name", errors)
        address = _check_email(email or "", "email", errors)
        if problem := password_problem(password or ""):
            errors.append(problem)
    if errors:
        raise ValidationError(errors)
    if actor.user_id is None:
        # Hash first, whatever the outcome: a known email must not answer faster.
        password_hash = await hash_password(password or "")
        existing = await repo.user_by_email(session, address)
        if existing is not None:
            signup_attempt_email(session, to=existing.email, reset_link=f"{base_url}/auth/reset")
            await session.flush()
            return AccountCreated(None, None)
        user = User(name=user_name, email=address, password_hash=password_hash, email_verified=False)
        try:
            async with session.begin_nested():
                session.add(user)
                await session.flush()
        except IntegrityError:
            return AccountCreated(None, None)  # the same email signed up concurrently: the same answer
        send_email_verification(session, user, base_url)
    else:
        member = await repo.user_by_id(session, actor.user_id)
        assert member is not None
        user = member
    account = Account(name=account_name, locale="en", timezone="UTC", settings={})
    session.add(account)
    await session.flush()
    session.add(AccountMembership(account_id=account.id, user_id=user.id, role=Role.ADMINISTRATOR))
    audit.record(
        session,
        actor if actor.user_id else Actor(user_id=user.id, label=user.email),
        "account.create",
        "Account",
        account.id,
        {"name": account.name},
        meta,
        account_id=account.id,
    )
    await session.flush()
    return AccountCreated(account if actor.user_id is not None else None, user)


async def update_account(
    session: AsyncSession,
    actor: Actor,
    *,
    name: str | None,
    locale: str | None,
    timezone: str | None,
    meta: RequestMeta,
) -> Account:
    account = await repo.account_by_id(session, actor.require_account_id())
    if account is None:
        raise NotFound()
    errors: list[FieldError] = []
    changes: dict[str, list[Any]] = {}
    if name is not None:
        name = _check_name(name, "name", errors)
        changes["name"] = [account.name, name]
    if locale is not None:
        if not re.match(r"^[a-z]{2,3}([_-][A-Za-z]{2,4})?$", locale):
            errors.append(FieldError("locale", "INVALID", "Use a locale such as en or pt_BR."))
        changes["locale"] = [account.locale, locale]
    if timezone is not None:
        _check_timezone(timezone, "timezone", errors)
        changes["timezone"] = [account.timezone, timezone]
    if errors:
        raise ValidationError(errors)
    if name is not None:
        account.name = name
    if locale is not None:
        account.locale = locale
    if timezone is not None:
        account.timezone = timezone
    audit.record(session, actor, "account.update", "Account", account.id, changes, meta)
    if changes:
        # Reports rebuild their daily roll-ups when the reporting time zone changes.
        events.record(
            session,
            account_id=account.id,
            type=EventType.ACCOUNT_UPDATED,
            actor_user_id=actor.user_id,
            payload={"changed_attributes": changes},
        )
    await session.flush()
    return account


# --- invitations and memberships --------------------------------------------------------------------


async def invite_agent(
    session: AsyncSession,
    actor: Actor,
    *,
    email: str,
    name: str,
    role: Role,
    custom_role_id: int | None,
    base_url: str,
    meta: RequestMeta,
) -> Invitation:
    """An invitation, pending until its recipient accepts it: a new person through the emailed link
    (choosing a password), someone with a login by signing in and accepting. The answer is the same
    whether or not the email has a login, and the account learns nothing of the person before they
    accept. Inviting the same email again renews the pending invitation."""
    errors: list[FieldError] = []
    email = _check_email(email, "email", errors)
    name = _check_name(name, "name", errors)
    if (
        custom_role_id is not None
        and await repo.custom_role_in_account(session, actor.require_account_id(), custom_role_id) is None
    ):
        errors.append(FieldError("customRoleId", "NOT_FOUND", "No such custom role in this account."))
    if errors:
        raise ValidationError(errors)
    account = await repo.account_by_id(session, actor.require_account_id())
    inviter = await repo.user_by_id(session, actor.require_user_id())
    assert account is not None and inviter is not None
    if not inviter.email_verified:
        raise ValidationError.single(
            None, "EMAIL_NOT_VERIFIED", "Confirm your own email address (see the link we sent) before inviting anyone."
        )
    user = await repo.user_by_email(session, email)
    if user is not None and await repo.membership_with_role(session, account.id, user.id) is not None:
        raise ValidationError.single("email", "ALREADY_MEMBER", "This person is already a member of the account.")
    now = utcnow()
    token, token_hash = tokens.new_secret(tokens.PREFIX_ONE_TIME)
    invitation = await repo.pending_invitation(session, account.id, email, now, lock=True)
    if invitation is None:
        from domain.installation import limits

        await limits.check_agents(session, account.id, "email", pending=True)
        invitation = Invitation(account_id=account.id, email=email)
        session.add(invitation)
    invitation.name = name
    invitation.role = role
    invitation.custom_role_id = custom_role_id
    invitation.inviter_id = inviter.id
    invitation.token_hash = token_hash  # a renewed invitation's earlier link stops working
    invitation.created_at = now
    invitation.expires_at = now + tokens.INVITATION_TTL
    await session.flush()
    if user is not None and user.password_hash is not None:
        invitation_for_existing_user_email(
            session, to=user.email, inviter=inviter.name, account=account.name, link=f"{base_url}/auth/invitations"
        )
    else:
        invitation_email(
            session,
            to=email,
            inviter=inviter.name,
            account=account.name,
            link=f"{base_url}/auth/invitation?token={token}",
        )
    audit.record(
        session,
        actor,
        "membership.invite",
        "Invitation",
        invitation.id,
        {"email": email, "role": role.value, "customRoleId": custom_role_id},
        meta,
    )
    await session.flush()
    return invitation


def _check_pending(invitation: Invitation, field: str) -> None:
    if invitation.accepted_at is not None or invitation.declined_at is not None:
        raise ValidationError.single(field, "TOKEN_USED", "This invitation was already answered.")
    if invitation.expires_at <= utcnow():
        raise ValidationError.single(field, "TOKEN_EXPIRED", "This invitation has expired; ask for a new one.")


async def _join(session: AsyncSession, invitation: Invitation, user: User) -> AccountMembership:
    """The recipient said yes: now, and only now, they become a member."""
    invitation.accepted_at = utcnow()
    found = await repo.membership_with_role(session, invitation.account_id, user.id)
    if found is not None:
        return found[0]
    from domain.installation import limits

    await limits.check_agents(session, invitation.account_id, None, pending=False)
    membership = AccountMembership(
        account_id=invitation.account_id,
        user_id=user.id,
        role=invitation.role,
        custom_role_id=invitation.custom_role_id,
        inviter_id=invitation.inviter_id,
    )
    session.add(membership)
    await session.flush()
    return membership


async def accept_invitation(
    session: AsyncSession, secret_key: str, presented: str, password: str, name: str | None, meta: RequestMeta
) -> TokenPair:
    """The emailed link of someone without a login: choose a password, become a member, sign in."""
    errors: list[FieldError] = []
    if problem := password_problem(password):
        errors.append(problem)
    if name is not None:
        name = _check_name(name, "name", errors)
    if errors:
        raise ValidationError(errors)
    invitation = None
    if presented.startswith(tokens.PREFIX_ONE_TIME) and len(presented) < 200:
        invitation = await repo.invitation_by_token_hash(session, tokens.hash_secret(presented), lock=True)
    if invitation is None:
        return await _accept_earlier_invitation(session, secret_key, presented, password, name, meta)
    _check_pending(invitation, "token")
    user = await repo.user_by_email(session, invitation.email)
    if user is not None and user.password_hash is not None:
        raise ValidationError.single(
            "token", "SIGN_IN_REQUIRED", "You already have a Parley login: sign in and accept the invitation there."
        )
    password_hash = await hash_password(password)
    if user is None:
        user = User(name=name or invitation.name, email=invitation.email, password_hash=password_hash)
        try:
            async with session.begin_nested():
                session.add(user)
                await session.flush()
        except IntegrityError:
            raise ValidationError.single(
                "token", "SIGN_IN_REQUIRED", "You already have a Parley login: sign in and accept the invitation there."
            ) from None
    else:
        user.password_hash = password_hash
        if name:
            user.name = name
    _mark_verified(user)  # the link reached this address
    await _join(session, invitation, user)
    return await start_session(session, secret_key, user, meta)


async def _accept_earlier_invitation(
    session: AsyncSession, secret_key: str, presented: str, password: str, name: str | None, meta: RequestMeta
) -> TokenPair:
    """Links sent before invitations waited for an answer: their membership already exists."""
    row = await consume_one_time_token(session, presented, OneTimePurpose.INVITATION)
    user = await repo.user_by_id(session, row.user_id)
    assert user is not None
    user.password_hash = await hash_password(password)
    if name:
        user.name = name
    _mark_verified(user)
    return await start_session(session, secret_key, user, meta)


async def pending_invitations(session: AsyncSession, actor: Actor) -> list[tuple[Invitation, Account, User | None]]:
    """Invitations waiting for the signed-in user's answer; none until their email is confirmed, since
    an invitation is addressed to whoever owns the address."""
    user = await repo.user_by_id(session, actor.require_user_id())
    if user is None or not user.email_verified:
        return []
    return await repo.pending_invitations_for_email(session, user.email, utcnow())


async def respond_to_invitation(
    session: AsyncSession, actor: Actor, invitation_id: int, accept: bool, meta: RequestMeta
) -> tuple[Invitation, AccountMembership | None]:
    user = await repo.user_by_id(session, actor.require_user_id())
    assert user is not None
    invitation = (
        await repo.invitation_for_email(session, invitation_id, user.email, lock=True) if user.email_verified else None
    )
    if (
        invitation is None
        or invitation.accepted_at is not None
        or invitation.declined_at is not None
        or invitation.expires_at <= utcnow()
    ):
        raise ValidationError.single("id", "NOT_FOUND", "No such pending invitation.")
    if not accept:
        invitation.declined_at = utcnow()
        await session.flush()
        return invitation, None
    membership = await _join(session, invitation, user)
    audit.record(
        session,
        Actor(user_id=user.id, label=user.email),
        "membership.join",
        "Membership",
        membership.id,
        {"invitationId": invitation.id, "role": membership.role.value},
        meta,
        account_id=invitation.account_id,
    )
    await session.flush()
    return invitation, membership


async def _guard_last_administrator(session: AsyncSession, membership: AccountMembership, field: str | None) -> None:
    if membership.role == Role.ADMINISTRATOR and await repo.count_administrators(session, membership.account_id) <= 1:
        raise ValidationError.single(field, "LAST_ADMINISTRATOR", "An account needs at least one administrator.")


async def update_membership(
    session: AsyncSession,
    actor: Actor,
    membership_id: int,
    *,
    role: Role | None,
    custom_role_id: int | None,
    clear_custom_role: bool,
    meta: RequestMeta,
    max_open_conversations: int | None = None,
    set_max_open_conversations: bool = False,
) -> AccountMembership:
    from domain.events.outbox import add_job
    from domain.helpdesk.assignment import check_limit

    membership = await repo.membership_in_account(session, actor.require_account_id(), membership_id, lock=True)
    if membership is None:
        raise NotFound("No such membership")
    changes: dict[str, list[Any]] = {}
    if set_max_open_conversations:
        errors: list[FieldError] = []
        check_limit(max_open_conversations, "maxOpenConversations", errors)
        if errors:
            raise ValidationError(errors)
        if max_open_conversations != membership.max_open_conversations:
            changes["maxOpenConversations"] = [membership.max_open_conversations, max_open_conversations]
            membership.max_open_conversations = max_open_conversations
            add_job(session, "assignment.run", account_id=membership.account_id)
    if role is not None and role != membership.role:
        if role != Role.ADMINISTRATOR:
            await _guard_last_administrator(session, membership, "role")
        changes["role"] = [membership.role.value, role.value]
        membership.role = role
    if clear_custom_role and membership.custom_role_id is not None:
        changes["customRoleId"] = [membership.custom_role_id, None]
        membership.custom_role_id = None
    elif custom_role_id is not None and custom_role_id != membership.custom_role_id:
        if await repo.custom_role_in_account(session, actor.require_account_id(), custom_role_id) is None:
            raise ValidationError.single("customRoleId", "NOT_FOUND", "No such custom role in this account.")
        changes["customRoleId"] = [membership.custom_role_id, custom_role_id]
        membership.custom_role_id = custom_role_id
    if changes:
        audit.record(session, actor, "membership.update", "Membership", membership.id, changes, meta)
    await session.flush()
    return membership


async def remove_membership(
    session: AsyncSession, actor: Actor, membership_id: int, meta: RequestMeta
) -> AccountMembership:
    membership = await repo.membership_in_account(session, actor.require_account_id(), membership_id, lock=True)
    if membership is None:
        raise NotFound("No such membership")
    await _guard_last_administrator(session, membership, None)
    audit.record(
        session,
        actor,
        "membership.remove",
        "Membership",
        membership.id,
        {"userId": membership.user_id, "role": membership.role.value},
        meta,
    )
    # As Chatwoot: a removed member leaves the account's inboxes and teams too.
    await repo.remove_from_inboxes_and_teams(session, membership.account_id, membership.user_id)
    await session.delete(membership)
    await session.flush()
    return membership


# --- custom roles ------------------------------------------------------------------------------------

PERMISSION_VALUES = {p.value for p in Permission}


def _check_permissions(values: list[str], errors: list[FieldError]) -> list[str]:
    unknown = [v for v in values if v not in PERMISSION_VALUES]
    if unknown:
        errors.append(FieldError("permissions", "INVALID_PERMISSION", f"Unknown permission(s): {', '.join(unknown)}."))
    return sorted(set(values))


async def create_custom_role(
    session: AsyncSession, actor: Actor, *, name: str, description: str, permissions: list[str], meta: RequestMeta
) -> CustomRole:
    errors: list[FieldError] = []
    name = _check_name(name, "name", errors, 100)
    perms = _check_permissions(permissions, errors)
    if len(description) > 1000:
        errors.append(FieldError("description", "TOO_LONG", "At most 1000 characters."))
    if not errors and await repo.custom_role_by_name(session, actor.require_account_id(), name):
        errors.append(FieldError("name", "TAKEN", "A custom role with this name exists."))
    if errors:
        raise ValidationError(errors)
    role = CustomRole(account_id=actor.account_id, name=name, description=description, permissions=perms)
    session.add(role)
    await session.flush()
    audit.record(
        session, actor, "custom_role.create", "CustomRole", role.id, {"name": name, "permissions": perms}, meta
    )
    return role


async def update_custom_role(
    session: AsyncSession,
    actor: Actor,
    role_id: int,
    *,
    name: str | None,
    description: str | None,
    permissions: list[str] | None,
    meta: RequestMeta,
) -> CustomRole:
    role = await repo.custom_role_in_account(session, actor.require_account_id(), role_id)
    if role is None:
        raise NotFound("No such custom role")
    errors: list[FieldError] = []
    changes: dict[str, list[Any]] = {}
    if name is not None:
        name = _check_name(name, "name", errors, 100)
        other = await repo.custom_role_by_name(session, actor.require_account_id(), name) if name else None
        if other is not None and other.id != role.id:
            errors.append(FieldError("name", "TAKEN", "A custom role with this name exists."))
    perms = _check_permissions(permissions, errors) if permissions is not None else None
    if description is not None and len(description) > 1000:
        errors.append(FieldError("description", "TOO_LONG", "At most 1000 characters."))
    if errors:
        raise ValidationError(errors)
    if name is not None:
        changes["name"] = [role.name, name]
        role.name = name
    if description is not None:
        role.description = description
    if perms is not None:
        changes["permissions"] = [role.permissions, perms]
        role.permissions = perms
    audit.record(session, actor, "custom_role.update", "CustomRole", role.id, changes, meta)
    await session.flush()
    return role


async def delete_custom_role(session: AsyncSession, actor: Actor, role_id: int, meta: RequestMeta) -> CustomRole:
    role = await repo.custom_role_in_account(session, actor.require_account_id(), role_id)
    if role is None:
        raise NotFound("No such custom role")
    audit.record(session, actor, "custom_role.delete", "CustomRole", role.id, {"name": role.name}, meta)
    await session.delete(role)  # memberships fall back to their base role (ON DELETE SET NULL)
    await session.flush()
    return role


# --- bots and API tokens -----------------------------------------------------------------------------


async def create_api_token(
    session: AsyncSession, actor: Actor, *, name: str, bot_id: int | None, meta: RequestMeta
) -> tuple[ApiToken, str]:
    """A personal token of the acting user, or (administrators only) a token of a bot. The secret is
    returned once and only its hash is stored."""
    errors: list[FieldError] = []
    name = _check_name(name, "name", errors, 100)
    if errors:
        raise ValidationError(errors)
    if bot_id is not None:
        if not actor.is_administrator:
            raise Forbidden("Only administrators can create bot tokens")
        if await repo.bot_in_account(session, actor.require_account_id(), bot_id) is None:
            raise ValidationError.single("botId", "NOT_FOUND", "No such bot in this account.")
        secret, secret_hash = tokens.new_secret(tokens.PREFIX_BOT)
    else:
        secret, secret_hash = tokens.new_secret(tokens.PREFIX_PERSONAL)
    row = ApiToken(
        account_id=actor.account_id,
        user_id=None if bot_id is not None else actor.user_id,
        bot_id=bot_id,
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
        "api_token.create",
        "ApiToken",
        row.id,
        {"name": name, "botId": bot_id, "prefix": row.token_prefix},
        meta,
    )
    return row, secret


async def revoke_api_token(session: AsyncSession, actor: Actor, token_id: int, meta: RequestMeta) -> ApiToken:
    row = await repo.api_token_in_account(session, actor.require_account_id(), token_id)
    own = row is not None and row.user_id == actor.user_id
    if row is None or not (own or (row.bot_id is not None and actor.is_administrator)):
        raise NotFound("No such API token")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(session, actor, "api_token.revoke", "ApiToken", row.id, {"name": row.name}, meta)
    await session.flush()
    return row
