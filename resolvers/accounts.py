"""Resolvers of accounts and authentication: parse input, call one domain service, build the payload."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from db.repositories import accounts as repo
from domain.accounts import auth, service
from domain.accounts import bots as bot_service
from domain.accounts.auth import RefreshRefused, TokenPair
from domain.enums import Permission, Role
from domain.errors import Forbidden, ValidationError
from resolvers.context import REFRESH_COOKIE, Context
from resolvers.mutations import mutate
from schema.accounts import inputs as i
from schema.accounts import types as t
from schema.accounts.errors import AccountError, AccountErrorCode
from schema.core.errors import PayloadErrors
from schema.core.ids import decode_id, decode_optional
from schema.core.pagination import Connection, build_connection, decode_int_cursor, page_size

Ctx = Info[Context, None]
DEVICE_COOKIE = "parley_device"


_errors = PayloadErrors(AccountError, AccountErrorCode)


def _session_tokens(info: Ctx, pair: TokenPair, use_cookies: bool) -> t.SessionTokens:
    info.context.written_sessions.append(pair.session_id)  # its first reads see what started it
    if use_cookies:
        info.context.set_session_cookies(pair)
    return t.SessionTokens(
        access_token=None if use_cookies else pair.access_token,
        access_token_expires_at=pair.access_expires_at,
        refresh_token=None if use_cookies else pair.refresh_token,
        refresh_token_expires_at=pair.refresh_expires_at,
    )


def _require_csrf_for_cookies(info: Ctx, use_cookies: bool) -> None:
    """Setting session cookies is itself guarded: a cross-site page must not log a victim in."""
    from resolvers.context import csrf_problem

    request = info.context.request
    if use_cookies and request is not None and (problem := csrf_problem(request, info.context.services)):
        raise Forbidden(f"Cookie sessions refused: {problem}")


# --- queries -----------------------------------------------------------------------------------------


async def me(info: Ctx) -> t.Me:
    actor = await info.context.actor()
    async with info.context.db() as session:
        user = await repo.user_by_id(session, actor.user_id)
        memberships = await repo.memberships_of_user(session, actor.user_id)
    current = next((a for m, a in memberships if a.id == actor.account_id), None)
    return t.Me(
        user=t.User.from_row(user),
        memberships=[t.Membership.from_row(m) for m, _a in memberships],
        current_account=t.Account.from_row(current) if current else None,
        role=actor.role,
        permissions=sorted((Permission(p) for p in actor.permissions), key=lambda p: p.value),
    )


async def current_account(info: Ctx) -> t.Account:
    actor = await info.context.actor()
    return t.Account.from_row(await info.context.loaders.account_by_id.load(actor.account_id))


async def memberships(info: Ctx, first: int | None = 25, after: str | None = None) -> Connection[t.Membership]:
    actor = await info.context.actor()
    limit = page_size(first)
    after_id = decode_int_cursor(after)
    async with info.context.db() as session:
        rows = await repo.memberships_page(session, actor.account_id, after_id=after_id, limit=limit + 1)
    return build_connection(rows, limit, t.Membership.from_row, lambda r: r.id, after is not None)


async def custom_roles(info: Ctx) -> list[t.CustomRole]:
    actor = await info.context.actor()
    async with info.context.db() as session:
        rows = await repo.custom_roles_of_account(session, actor.account_id)
    return [t.CustomRole.from_row(r) for r in rows]


async def bots(info: Ctx) -> list[t.Bot]:
    actor = await info.context.actor()
    async with info.context.db() as session:
        rows = await repo.bots_of_account(session, actor.account_id)
    return [t.Bot.from_row(r) for r in rows]


async def api_tokens(info: Ctx) -> list[t.ApiToken]:
    actor = await info.context.actor()
    async with info.context.db() as session:
        rows = await repo.api_tokens_visible(session, actor.account_id, actor.user_id, actor.is_administrator)
    return [t.ApiToken.from_row(r) for r in rows]


async def audit_logs(
    info: Ctx,
    first: int | None = 25,
    after: str | None = None,
    action: str | None = None,
    actor_id: strawberry.ID | None = None,
) -> Connection[t.AuditLogEntry]:
    actor = await info.context.actor()
    limit = page_size(first)
    before_id = decode_int_cursor(after)
    actor_pk = decode_optional(actor_id, "User")
    async with info.context.db() as session:
        rows = await repo.audit_page(
            session, actor.account_id, before_id=before_id, limit=limit + 1, action=action, actor_user_id=actor_pk
        )
    return build_connection(rows, limit, t.AuditLogEntry.from_row, lambda r: r.id, after is not None)


# --- authentication ----------------------------------------------------------------------------------


async def login(info: Ctx, input: i.LoginInput) -> t.LoginPayload:
    _require_csrf_for_cookies(info, input.use_cookies)
    ctx = info.context
    device = input.device_token or ctx.cookie(DEVICE_COOKIE)

    async def work(session) -> t.LoginPayload:
        pair = await auth.login(
            session,
            ctx.settings.secret_key,
            ctx.services.login_throttle,
            input.email,
            input.password,
            ctx.meta,
            device_token=device,
        )
        device_token = pair.device_token
        if input.use_cookies and ctx.response is not None and device_token:
            ctx.response.set_cookie(
                DEVICE_COOKIE,
                device_token,
                max_age=365 * 24 * 3600,
                path="/graphql",
                secure=ctx.settings.cookies_secure,
                httponly=True,
                samesite="strict",
            )
            device_token = None
        return t.LoginPayload(
            tokens=_session_tokens(info, pair, input.use_cookies),
            user=t.User.from_row(pair.user),
            device_token=device_token,
            errors=[],
        )

    return await mutate(
        info, _errors, work, lambda e: t.LoginPayload(tokens=None, user=None, device_token=None, errors=e)
    )


async def token_refresh(info: Ctx, input: i.TokenRefreshInput) -> t.TokenRefreshPayload:
    ctx = info.context
    presented = input.refresh_token
    use_cookies = input.use_cookies or presented is None
    if presented is None:
        from resolvers.context import csrf_problem

        presented = ctx.cookie(REFRESH_COOKIE)
        if presented and ctx.request is not None and (problem := csrf_problem(ctx.request, ctx.services)):
            raise Forbidden(f"Cookie authentication refused: {problem}")
    _require_csrf_for_cookies(info, use_cookies)
    if not presented:
        return t.TokenRefreshPayload(
            tokens=None,
            errors=[
                AccountError(
                    field="refreshToken", code=AccountErrorCode.REQUIRED, message="No refresh token was presented."
                )
            ],
        )
    reused = False
    try:
        async with ctx.transaction() as session:
            try:
                pair = await auth.refresh(session, ctx.settings.secret_key, presented)
            except RefreshRefused as exc:
                reused = exc.reused  # the family's revocation is committed below
                pair = None
    except ValidationError as exc:  # pragma: no cover - refresh raises none today
        return t.TokenRefreshPayload(tokens=None, errors=_errors(exc))
    if pair is None:
        code = AccountErrorCode.REFRESH_TOKEN_REUSED if reused else AccountErrorCode.INVALID_TOKEN
        message = (
            "This refresh token was already used; the session was ended for safety. Sign in again."
            if reused
            else "The refresh token is invalid or expired. Sign in again."
        )
        if use_cookies:
            ctx.clear_session_cookies()
        return t.TokenRefreshPayload(
            tokens=None, errors=[AccountError(field="refreshToken", code=code, message=message)]
        )
    return t.TokenRefreshPayload(tokens=_session_tokens(info, pair, use_cookies), errors=[])


async def logout(info: Ctx) -> t.LogoutPayload:
    actor = await info.context.actor()
    async with info.context.transaction() as session:
        ids = await auth.logout(session, actor)
        info.context.revoked_session_ids.extend(ids)
    info.context.clear_session_cookies()
    return t.LogoutPayload(revoked_sessions=len(ids), errors=[])


async def logout_everywhere(info: Ctx) -> t.LogoutPayload:
    actor = await info.context.actor()
    async with info.context.transaction() as session:
        ids = await auth.logout_everywhere(session, actor)
        info.context.revoked_session_ids.extend(ids)
    info.context.clear_session_cookies()
    return t.LogoutPayload(revoked_sessions=len(ids), errors=[])


async def password_change(info: Ctx, input: i.PasswordChangeInput) -> t.PasswordChangePayload:
    _require_csrf_for_cookies(info, input.use_cookies)
    actor = await info.context.actor()
    ctx = info.context

    async def work(session) -> t.PasswordChangePayload:
        pair, revoked = await auth.change_password(
            session,
            ctx.settings.secret_key,
            actor,
            input.current_password,
            input.new_password,
            ctx.meta,
            ctx.services.login_throttle,
        )
        ctx.revoked_session_ids.extend(revoked)
        return t.PasswordChangePayload(tokens=_session_tokens(info, pair, input.use_cookies), errors=[])

    return await mutate(info, _errors, work, lambda e: t.PasswordChangePayload(tokens=None, errors=e))


async def password_reset_request(info: Ctx, input: i.PasswordResetRequestInput) -> t.PasswordResetRequestPayload:
    ctx = info.context
    # Its own limits (per email and per IP): asking for links never blocks anyone's sign-in.
    await ctx.services.login_throttle.reserve_reset_request(input.email, ctx.meta.ip)

    async def work(session) -> t.PasswordResetRequestPayload:
        await auth.request_password_reset(session, input.email, ctx.settings.base_url)
        return t.PasswordResetRequestPayload(accepted=True, errors=[])

    return await mutate(info, _errors, work, lambda e: t.PasswordResetRequestPayload(accepted=False, errors=e))


async def password_reset_confirm(info: Ctx, input: i.PasswordResetConfirmInput) -> t.PasswordChangePayload:
    _require_csrf_for_cookies(info, input.use_cookies)
    ctx = info.context
    reset_email: list[str] = []

    async def work(session) -> t.PasswordChangePayload:
        pair, revoked = await auth.confirm_password_reset(
            session, ctx.settings.secret_key, input.token, input.new_password, ctx.meta
        )
        ctx.revoked_session_ids.extend(revoked)
        reset_email.append(pair.user.email)
        return t.PasswordChangePayload(tokens=_session_tokens(info, pair, input.use_cookies), errors=[])

    payload = await mutate(info, _errors, work, lambda e: t.PasswordChangePayload(tokens=None, errors=e))
    if reset_email:  # the owner proved control of the address: their sign-in throttle starts afresh
        await ctx.services.login_throttle.clear_email(reset_email[0], ctx.meta.ip)
    return payload


async def email_verify(info: Ctx, input: i.EmailVerifyInput) -> t.EmailVerifyPayload:
    async def work(session) -> t.EmailVerifyPayload:
        await auth.verify_email(session, input.token)
        return t.EmailVerifyPayload(email_verified=True, errors=[])

    return await mutate(info, _errors, work, lambda e: t.EmailVerifyPayload(email_verified=False, errors=e))


async def email_verification_resend(info: Ctx) -> t.EmailVerifyPayload:
    actor = await info.context.actor()
    ctx = info.context
    await ctx.services.login_throttle.reserve_reset_request(f"verify:{actor.user_id}", ctx.meta.ip)

    async def work(session) -> t.EmailVerifyPayload:
        user = await auth.resend_email_verification(session, actor, ctx.settings.base_url)
        return t.EmailVerifyPayload(email_verified=user.email_verified, errors=[])

    return await mutate(info, _errors, work, lambda e: t.EmailVerifyPayload(email_verified=False, errors=e))


# --- accounts, invitations, memberships ----------------------------------------------------------------


async def account_create(info: Ctx, input: i.AccountCreateInput) -> t.AccountCreatePayload:
    actor = await info.context.actor()
    ctx = info.context
    if actor.user_id is None and ctx.settings.signup_enabled:
        await ctx.services.login_throttle.reserve_signup(ctx.meta.ip)

    async def work(session) -> t.AccountCreatePayload:
        created = await service.create_account(
            session,
            actor,
            account_name=input.account_name,
            user_name=input.name,
            email=input.email,
            password=input.password,
            signup_enabled=ctx.settings.signup_enabled,
            base_url=ctx.settings.base_url,
            meta=ctx.meta,
        )
        account = t.Account.from_row(created.account) if created.account is not None else None
        return t.AccountCreatePayload(account=account, tokens=None, errors=[])

    return await mutate(info, _errors, work, lambda e: t.AccountCreatePayload(account=None, tokens=None, errors=e))


async def account_update(info: Ctx, input: i.AccountUpdateInput) -> t.AccountUpdatePayload:
    actor = await info.context.actor()

    async def work(session) -> t.AccountUpdatePayload:
        account = await service.update_account(
            session, actor, name=input.name, locale=input.locale, timezone=input.timezone, meta=info.context.meta
        )
        return t.AccountUpdatePayload(account=t.Account.from_row(account), errors=[])

    return await mutate(info, _errors, work, lambda e: t.AccountUpdatePayload(account=None, errors=e))


async def agent_invite(info: Ctx, input: i.AgentInviteInput) -> t.AgentInvitePayload:
    actor = await info.context.actor()
    custom_role_pk = decode_optional(input.custom_role_id, "CustomRole")

    async def work(session) -> t.AgentInvitePayload:
        invitation = await service.invite_agent(
            session,
            actor,
            email=input.email,
            name=input.name,
            role=Role(input.role),
            custom_role_id=custom_role_pk,
            base_url=info.context.settings.base_url,
            meta=info.context.meta,
        )
        return t.AgentInvitePayload(invitation=t.Invitation.from_row(invitation), errors=[])

    return await mutate(info, _errors, work, lambda e: t.AgentInvitePayload(invitation=None, errors=e))


async def invitations(info: Ctx, first: int | None = 25, after: str | None = None) -> Connection[t.Invitation]:
    from db.base import utcnow

    actor = await info.context.actor()
    limit = page_size(first)
    after_id = decode_int_cursor(after)
    async with info.context.db() as session:
        rows = await repo.invitations_page(session, actor.account_id, utcnow(), after_id=after_id, limit=limit + 1)
    return build_connection(rows, limit, t.Invitation.from_row, lambda r: r.id, after is not None)


async def pending_invitations(info: Ctx) -> list[t.PendingInvitation]:
    actor = await info.context.actor()
    async with info.context.db() as session:
        rows = await service.pending_invitations(session, actor)
    return [
        t.PendingInvitation(
            pk=inv.id, account_name=a.name, inviter_name=u.name if u else None, role=inv.role, expires_at=inv.expires_at
        )
        for inv, a, u in rows
    ]


async def invitation_respond(info: Ctx, id: strawberry.ID, accept: bool) -> t.InvitationRespondPayload:
    actor = await info.context.actor()
    pk = decode_id(id, "Invitation")

    async def work(session) -> t.InvitationRespondPayload:
        _invitation, membership = await service.respond_to_invitation(session, actor, pk, accept, info.context.meta)
        return t.InvitationRespondPayload(
            membership=t.Membership.from_row(membership) if membership else None, errors=[]
        )

    return await mutate(info, _errors, work, lambda e: t.InvitationRespondPayload(membership=None, errors=e))


async def invitation_accept(info: Ctx, input: i.InvitationAcceptInput) -> t.InvitationAcceptPayload:
    _require_csrf_for_cookies(info, input.use_cookies)
    ctx = info.context

    async def work(session) -> t.InvitationAcceptPayload:
        pair = await service.accept_invitation(
            session, ctx.settings.secret_key, input.token, input.password, input.name, ctx.meta
        )
        return t.InvitationAcceptPayload(
            tokens=_session_tokens(info, pair, input.use_cookies), user=t.User.from_row(pair.user), errors=[]
        )

    return await mutate(info, _errors, work, lambda e: t.InvitationAcceptPayload(tokens=None, user=None, errors=e))


async def membership_update(info: Ctx, id: strawberry.ID, input: i.MembershipUpdateInput) -> t.MembershipPayload:
    actor = await info.context.actor()
    pk = decode_id(id, "Membership")
    clear = input.custom_role_id is None
    role_pk = decode_id(input.custom_role_id, "CustomRole") if input.custom_role_id else None

    async def work(session) -> t.MembershipPayload:
        membership = await service.update_membership(
            session,
            actor,
            pk,
            role=Role(input.role) if input.role else None,
            custom_role_id=role_pk,
            clear_custom_role=clear,
            meta=info.context.meta,
            max_open_conversations=input.max_open_conversations,
            set_max_open_conversations=input.max_open_conversations is not strawberry.UNSET,
        )
        return t.MembershipPayload(membership=t.Membership.from_row(membership), errors=[])

    return await mutate(info, _errors, work, lambda e: t.MembershipPayload(membership=None, errors=e))


def membership_revocation(account_id: int, user_id: int) -> str:
    return f"membership:{account_id}:{user_id}"


async def membership_remove(info: Ctx, id: strawberry.ID) -> t.MembershipPayload:
    actor = await info.context.actor()
    pk = decode_id(id, "Membership")

    async def work(session) -> t.MembershipPayload:
        membership = await service.remove_membership(session, actor, pk, info.context.meta)
        # Sockets the removed member holds on this account close within seconds (after commit).
        info.context.revoked_session_ids.append(membership_revocation(membership.account_id, membership.user_id))
        return t.MembershipPayload(membership=t.Membership.from_row(membership), errors=[])

    return await mutate(info, _errors, work, lambda e: t.MembershipPayload(membership=None, errors=e))


# --- custom roles, bots, tokens -----------------------------------------------------------------------


def _permissions(values: list | None) -> list[str] | None:
    return None if values is None else [Permission(v).value for v in values]


async def custom_role_create(info: Ctx, input: i.CustomRoleCreateInput) -> t.CustomRolePayload:
    actor = await info.context.actor()

    async def work(session) -> t.CustomRolePayload:
        role = await service.create_custom_role(
            session,
            actor,
            name=input.name,
            description=input.description,
            permissions=_permissions(input.permissions),
            meta=info.context.meta,
        )
        return t.CustomRolePayload(custom_role=t.CustomRole.from_row(role), errors=[])

    return await mutate(info, _errors, work, lambda e: t.CustomRolePayload(custom_role=None, errors=e))


async def custom_role_update(info: Ctx, id: strawberry.ID, input: i.CustomRoleUpdateInput) -> t.CustomRolePayload:
    actor = await info.context.actor()
    pk = decode_id(id, "CustomRole")

    async def work(session) -> t.CustomRolePayload:
        role = await service.update_custom_role(
            session,
            actor,
            pk,
            name=input.name,
            description=input.description,
            permissions=_permissions(input.permissions),
            meta=info.context.meta,
        )
        return t.CustomRolePayload(custom_role=t.CustomRole.from_row(role), errors=[])

    return await mutate(info, _errors, work, lambda e: t.CustomRolePayload(custom_role=None, errors=e))


async def custom_role_delete(info: Ctx, id: strawberry.ID) -> t.CustomRolePayload:
    actor = await info.context.actor()
    pk = decode_id(id, "CustomRole")

    async def work(session) -> t.CustomRolePayload:
        role = await service.delete_custom_role(session, actor, pk, info.context.meta)
        return t.CustomRolePayload(custom_role=t.CustomRole.from_row(role), errors=[])

    return await mutate(info, _errors, work, lambda e: t.CustomRolePayload(custom_role=None, errors=e))


async def bot_create(info: Ctx, input: i.BotCreateInput) -> t.BotCreatePayload:
    actor = await info.context.actor()

    async def work(session) -> t.BotCreatePayload:
        bot, token, secret = await bot_service.create_bot(
            session,
            actor,
            info.context.settings,
            name=input.name,
            description=input.description,
            outgoing_url=input.outgoing_url,
            meta=info.context.meta,
        )
        return t.BotCreatePayload(bot=t.Bot.from_row(bot), token=token, secret=secret, errors=[])

    return await mutate(info, _errors, work, lambda e: t.BotCreatePayload(bot=None, token=None, secret=None, errors=e))


def _given(value):
    return bot_service.KEEP if value is strawberry.UNSET else value


async def bot_update(info: Ctx, id: strawberry.ID, input: i.BotUpdateInput) -> t.BotPayload:
    actor = await info.context.actor()
    pk = decode_id(id, "Bot")

    async def work(session) -> t.BotPayload:
        bot, secret = await bot_service.update_bot(
            session,
            actor,
            info.context.settings,
            pk,
            name=_given(input.name),
            description=_given(input.description),
            outgoing_url=_given(input.outgoing_url),
            meta=info.context.meta,
        )
        return t.BotPayload(bot=t.Bot.from_row(bot), secret=secret, errors=[])

    return await mutate(info, _errors, work, lambda e: t.BotPayload(bot=None, secret=None, errors=e))


async def bot_delete(info: Ctx, id: strawberry.ID) -> t.BotPayload:
    actor = await info.context.actor()
    pk = decode_id(id, "Bot")

    async def work(session) -> t.BotPayload:
        bot = await bot_service.delete_bot(session, actor, pk, info.context.meta)
        return t.BotPayload(bot=t.Bot.from_row(bot), secret=None, errors=[])

    return await mutate(info, _errors, work, lambda e: t.BotPayload(bot=None, secret=None, errors=e))


async def api_token_create(info: Ctx, input: i.ApiTokenCreateInput) -> t.ApiTokenCreatePayload:
    actor = await info.context.actor()
    bot_pk = decode_optional(input.bot_id, "Bot")

    async def work(session) -> t.ApiTokenCreatePayload:
        row, secret = await service.create_api_token(
            session, actor, name=input.name, bot_id=bot_pk, meta=info.context.meta
        )
        return t.ApiTokenCreatePayload(api_token=t.ApiToken.from_row(row), secret=secret, errors=[])

    return await mutate(info, _errors, work, lambda e: t.ApiTokenCreatePayload(api_token=None, secret=None, errors=e))


async def api_token_revoke(info: Ctx, id: strawberry.ID) -> t.ApiTokenRevokePayload:
    actor = await info.context.actor()
    pk = decode_id(id, "ApiToken")

    async def work(session) -> t.ApiTokenRevokePayload:
        row = await service.revoke_api_token(session, actor, pk, info.context.meta)
        return t.ApiTokenRevokePayload(api_token=t.ApiToken.from_row(row), errors=[])

    return await mutate(info, _errors, work, lambda e: t.ApiTokenRevokePayload(api_token=None, errors=e))
