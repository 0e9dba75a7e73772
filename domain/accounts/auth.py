"""Authentication: sign-in, refresh-token rotation with reuse detection, sign-out, password change and
reset, and turning a presented credential into an Actor."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import OneTimeToken, RefreshToken, User, UserSession
from db.repositories import accounts as repo
from domain.accounts import tokens
from domain.accounts.actor import ANONYMOUS, Actor, ActorKind, effective_permissions
from domain.accounts.passwords import hash_password, password_problem, verify_password
from domain.accounts.throttle import LoginThrottle
from domain.audit import RequestMeta
from domain.enums import AccountStatus, OneTimePurpose
from domain.errors import AccountSuspended, FieldError, Forbidden, NotAuthenticated, ValidationError
from domain.mail import email_verification_email, password_reset_email
from domain.validation import is_email


@dataclass(frozen=True)
class TokenPair:
    user: User
    session_id: str
    access_token: str
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime
    device_token: str | None = None  # after a sign-in: marks this client as one of the user's devices


async def start_session(
    session: AsyncSession, secret_key: str, user: User, meta: RequestMeta | None, now: datetime | None = None
) -> TokenPair:
    now = now or utcnow()
    user_session = UserSession(
        id=tokens.new_session_id(),
        user_id=user.id,
        created_at=now,
        last_used_at=now,
        expires_at=now + tokens.REFRESH_TTL,
        user_agent=(meta.user_agent or "")[:512] if meta else None,
        ip=meta.ip if meta else None,
    )
    session.add(user_session)
    await session.flush()  # no ORM relationships: rows are inserted in flush order
    refresh, refresh_hash = tokens.new_secret(tokens.PREFIX_REFRESH)
    session.add(RefreshToken(session_id=user_session.id, token_hash=refresh_hash, created_at=now))
    access, access_exp = tokens.issue_access_token(secret_key, user.id, user_session.id, now)
    await session.flush()
    return TokenPair(user, user_session.id, access, access_exp, refresh, user_session.expires_at)


INVALID_LOGIN = "The email or password is not correct."


async def login(
    session: AsyncSession,
    secret_key: str,
    throttle: LoginThrottle,
    email: str,
    password: str,
    meta: RequestMeta,
    device_token: str | None = None,
) -> TokenPair:
    if not is_email(email.strip()):  # never an account: refused before the throttle and bcrypt (no oracle)
        raise ValidationError.single(None, "INVALID_CREDENTIALS", INVALID_LOGIN)
    user = await repo.user_by_email(session, email)
    # A device token of this very user, issued since its sessions were last ended: its attempts are
    # throttled apart from everyone else's.
    device = tokens.decode_device_token(secret_key, device_token)
    device_id = (
        device.device_id
        if device is not None and user is not None and device.current_for(user.id, user.sessions_valid_after)
        else None
    )
    # Reserve the attempt before hashing (bcrypt is a CPU lever for an attacker): concurrent guesses
    # are counted one by one, and at most the limit are ever evaluated.
    reservation = await throttle.reserve_login(email, meta.ip, device_id)
    ok = await verify_password(password, user.password_hash if user else None)
    if not ok or user is None:
        # The reservation stays counted as the failure. One message whether or not the email exists.
        raise ValidationError.single(None, "INVALID_CREDENTIALS", INVALID_LOGIN)
    await throttle.succeeded(reservation)
    if not user.is_super_admin:
        memberships = await repo.memberships_of_user(session, user.id)
        if memberships and all(account.status == AccountStatus.SUSPENDED for _, account in memberships):
            raise ValidationError.single(None, "ACCOUNT_SUSPENDED", "Every account you are a member of is suspended.")
    pair = await start_session(session, secret_key, user, meta)
    return replace(pair, device_token=tokens.issue_device_token(secret_key, user.id, utcnow()))


class RefreshRefused(Exception):
    """The refresh token cannot be used; `reused` means its whole family was revoked."""

    def __init__(self, reused: bool = False) -> None:
        super().__init__("refresh token refused")
        self.reused = reused


async def refresh(session: AsyncSession, secret_key: str, presented: str, now: datetime | None = None) -> TokenPair:
    """Rotate: the presented token is spent and a new one issued in the same session. A spent token
    presented again means it was stolen or replayed: the session (the family) is revoked."""
    now = now or utcnow()
    if not presented.startswith(tokens.PREFIX_REFRESH):
        raise RefreshRefused()
    row = await repo.refresh_token_by_hash(session, tokens.hash_secret(presented), lock=True)
    if row is None:
        raise RefreshRefused()
    user_session = await repo.user_session(session, row.session_id, lock=True)
    if user_session is None or user_session.revoked_at is not None or user_session.expires_at <= now:
        raise RefreshRefused()
    if row.used_at is not None:
        user_session.revoked_at = now
        user_session.revoked_reason = "refresh_token_reuse"
        await session.flush()
        raise RefreshRefused(reused=True)
    user = await repo.user_by_id(session, user_session.user_id)
    if user is None:
        raise RefreshRefused()
    row.used_at = now
    user_session.last_used_at = now
    new_refresh, new_hash = tokens.new_secret(tokens.PREFIX_REFRESH)
    session.add(RefreshToken(session_id=user_session.id, token_hash=new_hash, created_at=now))
    access, access_exp = tokens.issue_access_token(secret_key, user.id, user_session.id, now)
    await session.flush()
    return TokenPair(user, user_session.id, access, access_exp, new_refresh, user_session.expires_at)


async def logout(session: AsyncSession, actor: Actor) -> list[str]:
    if actor.session_id is None:
        raise Forbidden("Only a signed-in session can sign out; revoke API tokens instead")
    user_session = await repo.user_session(session, actor.session_id, lock=True)
    if user_session is not None and user_session.revoked_at is None:
        user_session.revoked_at = utcnow()
        user_session.revoked_reason = "logout"
        await session.flush()
    return [actor.session_id]


async def logout_everywhere(session: AsyncSession, actor: Actor) -> list[str]:
    assert actor.user_id is not None
    now = utcnow()
    user = await repo.user_by_id(session, actor.user_id)
    assert user is not None
    user.sessions_valid_after = now
    ids = await repo.revoke_sessions(session, actor.user_id, now, "logout_everywhere")
    await session.flush()
    return ids


async def change_password(
    session: AsyncSession,
    secret_key: str,
    actor: Actor,
    current: str,
    new: str,
    meta: RequestMeta,
    throttle: LoginThrottle | None = None,
) -> tuple[TokenPair, list[str]]:
    """Every session of the user ends (stolen ones included); this client gets a fresh one. Wrong
    current passwords are throttled (someone holding a stolen session may be guessing)."""
    assert actor.user_id is not None
    user = await repo.user_by_id(session, actor.user_id)
    assert user is not None
    errors = []
    if problem := password_problem(new, "newPassword"):
        errors.append(problem)
    reservation = await throttle.reserve_password_check(user.id) if throttle is not None else None
    if not await verify_password(current, user.password_hash):
        errors.append(FieldError("currentPassword", "INVALID_CREDENTIALS", "The current password is not correct."))
    elif throttle is not None and reservation is not None:
        await throttle.succeeded(reservation)
    if errors:
        raise ValidationError(errors)
    return await _replace_password(session, secret_key, user, new, "password_change", meta)


async def _replace_password(
    session: AsyncSession, secret_key: str, user: User, password: str, reason: str, meta: RequestMeta
) -> tuple[TokenPair, list[str]]:
    """Set the password, end every session of the user, and start a fresh one for this client."""
    now = utcnow()
    user.password_hash = await hash_password(password)
    user.sessions_valid_after = now
    # Every reset link still out there dies with the old password.
    await repo.spend_one_time_tokens(session, user.id, OneTimePurpose.PASSWORD_RESET, now)
    if reason == "password_reset":
        # Opening the emailed link proved control of the address.
        _mark_verified(user)
    revoked = await repo.revoke_sessions(session, user.id, now, reason)
    pair = await start_session(session, secret_key, user, meta, now)
    return pair, revoked


async def request_password_reset(session: AsyncSession, email: str, base_url: str) -> None:
    """Sends a reset link when the email is known; says nothing either way."""
    user = await repo.user_by_email(session, email)
    if user is None:
        return
    now = utcnow()
    token, token_hash = tokens.new_secret(tokens.PREFIX_ONE_TIME)
    session.add(
        OneTimeToken(
            purpose=OneTimePurpose.PASSWORD_RESET,
            user_id=user.id,
            token_hash=token_hash,
            created_at=now,
            expires_at=now + tokens.PASSWORD_RESET_TTL,
        )
    )
    password_reset_email(session, to=user.email, link=f"{base_url}/auth/reset?token={token}")
    await session.flush()


async def consume_one_time_token(
    session: AsyncSession, presented: str, purpose: OneTimePurpose, field: str = "token"
) -> OneTimeToken:
    now = utcnow()
    row = None
    if presented.startswith(tokens.PREFIX_ONE_TIME):
        row = await repo.one_time_token_by_hash(session, tokens.hash_secret(presented), lock=True)
    if row is None or row.purpose != purpose:
        raise ValidationError.single(field, "INVALID_TOKEN", "This link is not valid.")
    if row.used_at is not None:
        raise ValidationError.single(field, "TOKEN_USED", "This link was already used.")
    if row.expires_at <= now:
        raise ValidationError.single(field, "TOKEN_EXPIRED", "This link has expired; ask for a new one.")
    row.used_at = now
    return row


async def confirm_password_reset(
    session: AsyncSession, secret_key: str, presented: str, new_password: str, meta: RequestMeta
) -> tuple[TokenPair, list[str]]:
    if problem := password_problem(new_password, "newPassword"):
        raise ValidationError(problem)
    row = await consume_one_time_token(session, presented, OneTimePurpose.PASSWORD_RESET)
    user = await repo.user_by_id(session, row.user_id)
    assert user is not None
    return await _replace_password(session, secret_key, user, new_password, "password_reset", meta)


# --- email verification (sign-ups) --------------------------------------------------------------------


def _mark_verified(user: User) -> None:
    user.email_verified = True
    user.email_verification_hash = None
    user.email_verification_expires_at = None


def send_email_verification(session: AsyncSession, user: User, base_url: str) -> None:
    """A new link (earlier ones stop working) to confirm the user owns their sign-in email."""
    now = utcnow()
    token, token_hash = tokens.new_secret(tokens.PREFIX_ONE_TIME)
    user.email_verification_hash = token_hash
    user.email_verification_expires_at = now + tokens.EMAIL_VERIFICATION_TTL
    email_verification_email(session, to=user.email, link=f"{base_url}/auth/verify-email?token={token}")


async def verify_email(session: AsyncSession, presented: str) -> User:
    user = None
    if presented.startswith(tokens.PREFIX_ONE_TIME) and len(presented) < 200:
        user = await repo.user_by_verification_hash(session, tokens.hash_secret(presented), lock=True)
    if user is None:
        raise ValidationError.single("token", "INVALID_TOKEN", "This link is not valid.")
    if user.email_verification_expires_at is None or user.email_verification_expires_at <= utcnow():
        raise ValidationError.single("token", "TOKEN_EXPIRED", "This link has expired; ask for a new one.")
    _mark_verified(user)
    await session.flush()
    return user


async def resend_email_verification(session: AsyncSession, actor: Actor, base_url: str) -> User:
    assert actor.user_id is not None
    user = await repo.user_by_id(session, actor.user_id)
    assert user is not None
    if not user.email_verified:
        send_email_verification(session, user, base_url)
    await session.flush()
    return user


# --- turning credentials into an actor -------------------------------------------------------------


def session_ended(user_session: UserSession, user: User, user_id: int, issued_at: datetime) -> bool:
    """Whether an access token (its user and issue time) no longer stands for its session."""
    if user.id != user_id or user_session.revoked_at is not None:
        return True
    # Tokens are second-granular: compare against the second the revocation happened in.
    return bool(user.sessions_valid_after and issued_at < user.sessions_valid_after.replace(microsecond=0))


async def actor_for_access_token(
    session: AsyncSession, secret_key: str, token: str, account_id: int | None, now: datetime | None = None
) -> Actor:
    return await actor_for_access_claims(session, access_claims(secret_key, token), account_id)


def access_claims(secret_key: str, token: str) -> tokens.AccessClaims:
    """The access token's claims once its signature and expiry are verified (no database read)."""
    try:
        return tokens.decode_access_token(secret_key, token)
    except tokens.InvalidToken:
        raise NotAuthenticated("The access token is invalid or expired") from None


async def actor_for_access_claims(session: AsyncSession, claims: tokens.AccessClaims, account_id: int | None) -> Actor:
    """The actor of a verified access token: its session must still be open, its user a member."""
    found = await repo.session_with_user(session, claims.session_id)
    if found is None:
        raise NotAuthenticated("The session has ended")
    user_session, user = found
    if session_ended(user_session, user, claims.user_id, claims.issued_at):
        raise NotAuthenticated("The session has ended")
    return await actor_for_user(session, user, account_id, session_id=user_session.id)


async def actor_for_user(
    session: AsyncSession,
    user: User,
    account_id: int | None,
    *,
    session_id: str | None = None,
    api_token_id: int | None = None,
) -> Actor:
    base = Actor(
        kind=ActorKind.user,
        user_id=user.id,
        session_id=session_id,
        api_token_id=api_token_id,
        is_super_admin=user.is_super_admin,
        label=user.email,
    )
    chosen = account_id is not None
    if account_id is None:
        memberships = await repo.memberships_of_user(session, user.id)
        if len(memberships) != 1:
            return base  # no account chosen: only account-less fields are open
        account_id = memberships[0][0].account_id
    found = await repo.membership_with_role(session, account_id, user.id)
    if found is None:
        raise Forbidden("You are not a member of this account")
    membership, account, custom_role = found
    if account.status == AccountStatus.SUSPENDED:
        if user.is_super_admin and not chosen:
            return base  # a super admin's only account was suspended: the installation stays open to them
        raise AccountSuspended()
    return replace(
        base,
        account_id=account.id,
        role=membership.role,
        custom_role_id=membership.custom_role_id,
        permissions=effective_permissions(membership.role, custom_role.permissions if custom_role else None),
    )


async def actor_for_api_token(session: AsyncSession, token: str, account_id: int | None) -> Actor:
    row = await repo.api_token_by_hash(session, tokens.hash_secret(token))
    if row is None or row.revoked_at is not None:
        raise NotAuthenticated("The API token is invalid or revoked")
    if account_id is not None and account_id != row.account_id:
        raise Forbidden("This token belongs to another account")
    if row.bot_id is not None:
        bot = await repo.bot_in_account(session, row.account_id, row.bot_id)
        if bot is None:
            raise NotAuthenticated("The API token is invalid or revoked")
        account = await repo.account_by_id(session, row.account_id)
        if account is None or account.status == AccountStatus.SUSPENDED:
            raise AccountSuspended()
        return Actor(
            kind=ActorKind.bot,
            bot_id=bot.id,
            account_id=row.account_id,
            api_token_id=row.id,
            label=f"bot:{bot.name}",
        )
    user = await repo.user_by_id(session, row.user_id) if row.user_id else None
    if user is None:
        raise NotAuthenticated("The API token is invalid or revoked")
    return await actor_for_user(session, user, row.account_id, api_token_id=row.id)


async def touch_api_token(sessions: Any, token_id: int, now: datetime) -> None:
    """Keep an API token's last-used time (in a transaction of its own, off the request's path)."""
    async with sessions() as session, session.begin():
        await repo.touch_api_token(session, token_id, now)


def is_api_token(token: str) -> bool:
    return token.startswith((tokens.PREFIX_PERSONAL, tokens.PREFIX_BOT))


__all__ = ["ANONYMOUS", "RefreshRefused", "TokenPair"]
