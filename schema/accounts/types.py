"""GraphQL types of accounts, users, memberships, roles, bots, API tokens and the audit log."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from domain.enums import AccountStatus, Availability, Permission, Role
from schema.accounts.errors import AccountError
from schema.core.ids import encode_id

RoleEnum = strawberry.enum(Role, name="Role", description="A member's base role in an account.")
AvailabilityEnum = strawberry.enum(Availability, name="Availability", description="An agent's chosen availability.")
AccountStatusEnum = strawberry.enum(AccountStatus, name="AccountStatus", description="Whether an account is usable.")
PermissionEnum = strawberry.enum(
    Permission, name="Permission", description="Permissions a custom role grants (Chatwoot's names)."
)


@strawberry.type(description="A person who signs in to Parley; may be a member of several accounts.")
class User:
    pk: strawberry.Private[int]
    name: str = strawberry.field(description="Full name.")
    display_name: str | None = strawberry.field(description="Name shown to customers, when set.")
    email: str = strawberry.field(description="Sign-in email; visible to members of the same account.")
    availability: AvailabilityEnum = strawberry.field(description="Chosen availability.")
    email_verified: bool = strawberry.field(
        description="Whether the user confirmed their email (sign-ups start unconfirmed and may not invite anyone)."
    )

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("User", self.pk))

    @classmethod
    def from_row(cls, row) -> User:
        return cls(
            pk=row.id,
            name=row.name,
            display_name=row.display_name,
            email=row.email,
            availability=row.availability,
            email_verified=row.email_verified,
        )


@strawberry.type(description="A tenant: a support team's workspace. Everything else belongs to one account.")
class Account:
    pk: strawberry.Private[int]
    name: str = strawberry.field(description="Display name.")
    locale: str = strawberry.field(description="Default language, e.g. `en`.")
    timezone: str = strawberry.field(description="IANA time zone used for reports and working hours.")
    status: AccountStatusEnum = strawberry.field(description="`suspended` accounts refuse every request.")
    created_at: datetime = strawberry.field(description="When the account was created.")

    @strawberry.field(description="Opaque global ID; send it as the `X-Parley-Account` header to act on this account.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("Account", self.pk))

    @classmethod
    def from_row(cls, row) -> Account:
        return cls(
            pk=row.id,
            name=row.name,
            locale=row.locale,
            timezone=row.timezone,
            status=row.status,
            created_at=row.created_at,
        )


@strawberry.type(description="A named set of permissions that narrows what an agent may do.")
class CustomRole:
    pk: strawberry.Private[int]
    name: str = strawberry.field(description="Unique within the account.")
    description: str = strawberry.field(description="What the role is for.")
    permissions: list[PermissionEnum] = strawberry.field(description="What the role allows.")

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("CustomRole", self.pk))

    @classmethod
    def from_row(cls, row) -> CustomRole:
        return cls(
            pk=row.id, name=row.name, description=row.description, permissions=[Permission(p) for p in row.permissions]
        )


@strawberry.type(description="A user's membership of an account, with their role there.")
class Membership:
    pk: strawberry.Private[int]
    user_pk: strawberry.Private[int]
    account_pk: strawberry.Private[int]
    custom_role_pk: strawberry.Private[int | None]
    role: RoleEnum = strawberry.field(description="Base role.")
    created_at: datetime = strawberry.field(description="When the user joined (or was invited).")
    max_open_conversations: int | None = strawberry.field(
        default=None,
        description="Open conversations auto-assignment gives this member across the account's inboxes; null: no limit.",
    )

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("Membership", self.pk))

    @strawberry.field(description="The member.")
    async def user(self, info: strawberry.Info) -> User:
        return User.from_row(await info.context.loaders.user_by_id.load(self.user_pk))

    @strawberry.field(description="The account.")
    async def account(self, info: strawberry.Info) -> Account:
        return Account.from_row(await info.context.loaders.account_by_id.load(self.account_pk))

    @strawberry.field(description="The custom role narrowing this member's permissions, if any.")
    async def custom_role(self, info: strawberry.Info) -> CustomRole | None:
        if self.custom_role_pk is None:
            return None
        row = await info.context.loaders.custom_role_by_id.load(self.custom_role_pk)
        return CustomRole.from_row(row) if row else None

    @classmethod
    def from_row(cls, row) -> Membership:
        return cls(
            pk=row.id,
            user_pk=row.user_id,
            account_pk=row.account_id,
            custom_role_pk=row.custom_role_id,
            role=row.role,
            created_at=row.created_at,
            max_open_conversations=row.max_open_conversations,
        )


@strawberry.type(
    description="An agent bot: answers the inboxes connected to it first (their new conversations start "
    "pending), is told about them at its outgoing URL, and acts on their conversations through its API tokens."
)
class Bot:
    pk: strawberry.Private[int]
    name: str = strawberry.field(description="Display name.")
    description: str = strawberry.field(description="What the bot does.")
    outgoing_url: str | None = strawberry.field(
        description="Where the bot's events (conversation_created, message_created for incoming messages, "
        "conversation_opened) are POSTed, signed like webhooks; null: none are sent."
    )
    created_at: datetime = strawberry.field(description="When it was created.")

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("Bot", self.pk))

    @strawberry.field(description="The inboxes connected to the bot (one bot per inbox), by id.")
    async def inboxes(self, info: strawberry.Info) -> list[BotInbox]:
        rows = await info.context.loaders.inboxes_by_bot.load(self.pk)
        return [BotInbox(pk=r.id, name=r.name) for r in rows]

    @classmethod
    def from_row(cls, row) -> Bot:
        return cls(
            pk=row.id,
            name=row.name,
            description=row.description,
            outgoing_url=row.outgoing_url,
            created_at=row.created_at,
        )


@strawberry.type(description="An inbox an agent bot answers.")
class BotInbox:
    pk: strawberry.Private[int]
    name: str = strawberry.field(description="The inbox's name.")

    @strawberry.field(description="The inbox's global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("Inbox", self.pk))


@strawberry.type(description="An API token (the secret itself is shown only once, when created).")
class ApiToken:
    pk: strawberry.Private[int]
    bot_pk: strawberry.Private[int | None]
    name: str = strawberry.field(description="What the token is for.")
    prefix: str = strawberry.field(description="The first characters of the secret, to recognise it.")
    created_at: datetime = strawberry.field(description="When it was created.")
    last_used_at: datetime | None = strawberry.field(description="When it was last used (to the minute).")
    revoked_at: datetime | None = strawberry.field(description="When it was revoked; revoked tokens are refused.")

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("ApiToken", self.pk))

    @strawberry.field(description="The bot this token acts as; null for a personal token.")
    async def bot(self, info: strawberry.Info) -> Bot | None:
        if self.bot_pk is None:
            return None
        row = await info.context.loaders.bot_by_id.load(self.bot_pk)
        return Bot.from_row(row) if row else None

    @classmethod
    def from_row(cls, row) -> ApiToken:
        return cls(
            pk=row.id,
            bot_pk=row.bot_id,
            name=row.name,
            prefix=row.token_prefix,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            revoked_at=row.revoked_at,
        )


@strawberry.type(description="An administrator action recorded in the audit log.")
class AuditLogEntry:
    pk: strawberry.Private[int]
    actor_user_pk: strawberry.Private[int | None]
    actor_label: str = strawberry.field(description="Who acted (email or bot name), kept even if the user is gone.")
    action: str = strawberry.field(description="What was done, e.g. `membership.update`.")
    target_type: str = strawberry.field(description="The kind of object acted on.")
    target_id: str | None = strawberry.field(description="Its database id.")
    changes: JSON = strawberry.field(description="Changed attributes as `{field: [before, after]}` or the values set.")
    ip: str | None = strawberry.field(description="The client's IP address.")
    request_id: str | None = strawberry.field(description="The request id, to find the matching log lines.")
    created_at: datetime = strawberry.field(description="When it happened.")

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("AuditLogEntry", self.pk))

    @strawberry.field(description="The acting user, if it still exists.")
    async def actor(self, info: strawberry.Info) -> User | None:
        if self.actor_user_pk is None:
            return None
        row = await info.context.loaders.user_by_id.load(self.actor_user_pk)
        return User.from_row(row) if row else None

    @classmethod
    def from_row(cls, row) -> AuditLogEntry:
        return cls(
            pk=row.id,
            actor_user_pk=row.actor_user_id,
            actor_label=row.actor_label,
            action=row.action,
            target_type=row.target_type,
            target_id=row.target_id,
            changes=row.changes,
            ip=row.ip,
            request_id=row.request_id,
            created_at=row.created_at,
        )


@strawberry.type(description="The signed-in user and what they may do in the current account.")
class Me:
    user: User = strawberry.field(description="The signed-in user.")
    memberships: list[Membership] = strawberry.field(description="Every account the user belongs to.")
    current_account: Account | None = strawberry.field(
        description="The account this request acts on (the `X-Parley-Account` header, or the only one)."
    )
    role: RoleEnum | None = strawberry.field(description="The user's base role in the current account.")
    permissions: list[PermissionEnum] = strawberry.field(description="Effective permissions in the current account.")


# --- inputs and payloads ---------------------------------------------------------------------------


@strawberry.type(
    description="Tokens of a new or refreshed session. With `useCookies`, the tokens are set as httpOnly cookies and these fields are null."
)
class SessionTokens:
    access_token: str | None = strawberry.field(description="Bearer token for `Authorization`, valid 15 minutes.")
    access_token_expires_at: datetime = strawberry.field(description="When the access token expires.")
    refresh_token: str | None = strawberry.field(description="Single-use token for `tokenRefresh`, valid 7 days.")
    refresh_token_expires_at: datetime = strawberry.field(description="When the session ends at the latest.")


@strawberry.type(description="Result of `login`.")
class LoginPayload:
    tokens: SessionTokens | None = strawberry.field(description="The new session, when signed in.")
    user: User | None = strawberry.field(description="The signed-in user.")
    device_token: str | None = strawberry.field(
        description="Keep it and send it with later sign-ins of this user (null with `useCookies`: it is set "
        "as the httpOnly `parley_device` cookie). It authenticates nothing by itself."
    )
    errors: list[AccountError] = strawberry.field(description="User errors; empty on success.")


@strawberry.type(description="Result of `tokenRefresh`.")
class TokenRefreshPayload:
    tokens: SessionTokens | None = strawberry.field(description="The rotated tokens.")
    errors: list[AccountError] = strawberry.field(description="User errors; empty on success.")


@strawberry.type(description="Result of `logout` and `logoutEverywhere`.")
class LogoutPayload:
    revoked_sessions: int = strawberry.field(description="How many sessions ended.")
    errors: list[AccountError] = strawberry.field(description="User errors; empty on success.")


@strawberry.type(description="Result of `passwordChange` and `passwordResetConfirm`.")
class PasswordChangePayload:
    tokens: SessionTokens | None = strawberry.field(description="The new session.")
    errors: list[AccountError] = strawberry.field(description="User errors; empty on success.")


@strawberry.type(description="Result of `passwordResetRequest`: always accepted, whether or not the email is known.")
class PasswordResetRequestPayload:
    accepted: bool = strawberry.field(description="Always true for a well-formed request.")
    errors: list[AccountError] = strawberry.field(description="User errors; empty on success.")


@strawberry.type(
    description="Result of `accountCreate`. A sign-up answers the same whether or not the email already has a "
    "login: `account` and `tokens` are null and an email goes to the address (a confirmation link for a new "
    "user); then sign in with `login`."
)
class AccountCreatePayload:
    account: Account | None = strawberry.field(description="The new account (signed-in callers only).")
    tokens: SessionTokens | None = strawberry.field(description="Always null: sign in with `login` after signing up.")
    errors: list[AccountError] = strawberry.field(description="User errors; empty on success.")


@strawberry.type(description="Result of `accountUpdate`.")
class AccountUpdatePayload:
    account: Account | None = strawberry.field(description="The account after the change.")
    errors: list[AccountError] = strawberry.field(description="User errors; empty on success.")


@strawberry.type(description="Result of `agentInvite`, `membershipUpdate` and `membershipRemove`.")
class MembershipPayload:
    membership: Membership | None = strawberry.field(description="The membership (as it was, after a removal).")
    errors: list[AccountError] = strawberry.field(description="User errors; empty on success.")


@strawberry.type(
    description="An invitation of the current account still waiting for an answer (or declined and not yet expired: the account is not told which, nor whether the person has a login)."
)
class Invitation:
    pk: strawberry.Private[int]
    custom_role_pk: strawberry.Private[int | None]
    email: str = strawberry.field(
        description="The invited email; nothing else about the person is shown before they accept."
    )
    role: RoleEnum = strawberry.field(description="Base role they will have.")
    created_at: datetime = strawberry.field(description="When it was (last) sent.")
    expires_at: datetime = strawberry.field(description="When it stops working.")

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("Invitation", self.pk))

    @strawberry.field(description="The custom role they will have, if any.")
    async def custom_role(self, info: strawberry.Info) -> CustomRole | None:
        if self.custom_role_pk is None:
            return None
        row = await info.context.loaders.custom_role_by_id.load(self.custom_role_pk)
        return CustomRole.from_row(row) if row else None

    @classmethod
    def from_row(cls, row) -> Invitation:
        return cls(
            pk=row.id,
            custom_role_pk=row.custom_role_id,
            email=row.email,
            role=row.role,
            created_at=row.created_at,
            expires_at=row.expires_at,
        )


@strawberry.type(description="Result of `agentInvite`: the same whether or not the email has a login.")
class AgentInvitePayload:
    invitation: Invitation | None = strawberry.field(description="The pending invitation.")
    errors: list[AccountError] = strawberry.field(description="User errors; empty on success.")


@strawberry.type(description="An invitation addressed to the signed-in user, waiting for their answer.")
class PendingInvitation:
    pk: strawberry.Private[int]
    account_name: str = strawberry.field(description="The account that invites you.")
    inviter_name: str | None = strawberry.field(description="Who invited you, if they still exist.")
    role: RoleEnum = strawberry.field(description="Base role you would have.")
    expires_at: datetime = strawberry.field(description="Answer before this.")

    @strawberry.field(description="Opaque global ID; pass it to `invitationRespond`.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("Invitation", self.pk))


@strawberry.type(description="Result of `invitationRespond`.")
class InvitationRespondPayload:
    membership: Membership | None = strawberry.field(description="Your new membership, when you accepted.")
    errors: list[AccountError] = strawberry.field(description="User errors; empty on success.")


@strawberry.type(description="Result of `emailVerify` and `emailVerificationResend`.")
class EmailVerifyPayload:
    email_verified: bool = strawberry.field(description="Whether the email is now confirmed.")
    errors: list[AccountError] = strawberry.field(description="User errors; empty on success.")


@strawberry.type(description="Result of `invitationAccept`.")
class InvitationAcceptPayload:
    tokens: SessionTokens | None = strawberry.field(description="The new session.")
    user: User | None = strawberry.field(description="The user who accepted.")
    errors: list[AccountError] = strawberry.field(description="User errors; empty on success.")


@strawberry.type(description="Result of the custom role mutations.")
class CustomRolePayload:
    custom_role: CustomRole | None = strawberry.field(description="The role (as it was, after a deletion).")
    errors: list[AccountError] = strawberry.field(description="User errors; empty on success.")


@strawberry.type(description="Result of `botCreate`.")
class BotCreatePayload:
    bot: Bot | None = strawberry.field(description="The new bot.")
    token: str | None = strawberry.field(
        description="The bot's API token (send it as `Authorization: Bearer`): shown this once, never again."
    )
    secret: str | None = strawberry.field(
        description="The secret that signs the requests to the outgoing URL: shown this once; null without a URL."
    )
    errors: list[AccountError] = strawberry.field(description="User errors; empty on success.")


@strawberry.type(description="Result of `botUpdate` and `botDelete`.")
class BotPayload:
    bot: Bot | None = strawberry.field(description="The bot (as it was, after a deletion).")
    secret: str | None = strawberry.field(
        description="A new signing secret, shown this once: when the bot got an outgoing URL it had none of."
    )
    errors: list[AccountError] = strawberry.field(description="User errors; empty on success.")


@strawberry.type(description="Result of `apiTokenCreate`.")
class ApiTokenCreatePayload:
    api_token: ApiToken | None = strawberry.field(description="The token's record.")
    secret: str | None = strawberry.field(description="The token itself: shown this once, never again.")
    errors: list[AccountError] = strawberry.field(description="User errors; empty on success.")


@strawberry.type(description="Result of `apiTokenRevoke`.")
class ApiTokenRevokePayload:
    api_token: ApiToken | None = strawberry.field(description="The revoked token's record.")
    errors: list[AccountError] = strawberry.field(description="User errors; empty on success.")


__all__ = [name for name in dir() if not name.startswith("_") and name not in ("Annotated", "Enum", "datetime")]
