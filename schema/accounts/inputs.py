"""Inputs of accounts mutations and queries."""

from __future__ import annotations

import strawberry

from domain.enums import Role
from schema.accounts.types import PermissionEnum, RoleEnum


@strawberry.input(description="Sign in with email and password.")
class LoginInput:
    email: str = strawberry.field(description="Sign-in email (any case).")
    password: str = strawberry.field(description="Password.")
    use_cookies: bool = strawberry.field(
        default=False,
        description="Set the tokens as httpOnly cookies (the dashboard) instead of returning them. "
        "Needs the `X-Parley-CSRF` header.",
    )
    device_token: str | None = strawberry.field(
        default=None,
        description="The `deviceToken` an earlier sign-in of this user returned (cookie clients send the "
        "`parley_device` cookie instead): failed attempts from elsewhere never slow this device down.",
    )


@strawberry.input(description="Exchange a refresh token for new tokens.")
class TokenRefreshInput:
    refresh_token: str | None = strawberry.field(
        default=None, description="The refresh token; omit it to use the `parley_refresh` cookie."
    )
    use_cookies: bool = strawberry.field(default=False, description="Set the new tokens as cookies.")


@strawberry.input(
    description="Change the signed-in user's password; every session ends and this client gets a new one."
)
class PasswordChangeInput:
    current_password: str = strawberry.field(description="The current password.")
    new_password: str = strawberry.field(description="8 characters to 72 bytes (UTF-8).")
    use_cookies: bool = strawberry.field(default=False, description="Set the new tokens as cookies.")


@strawberry.input(description="Ask for a password-reset link by email.")
class PasswordResetRequestInput:
    email: str = strawberry.field(description="The sign-in email.")


@strawberry.input(description="Set a new password with the token from the reset email.")
class PasswordResetConfirmInput:
    token: str = strawberry.field(description="The token from the emailed link.")
    new_password: str = strawberry.field(description="8 characters to 72 bytes (UTF-8).")
    use_cookies: bool = strawberry.field(default=False, description="Set the new tokens as cookies.")


@strawberry.input(
    description="Create an account. Anonymous callers sign up with a new user; signed-in users become the new account's administrator."
)
class AccountCreateInput:
    account_name: str = strawberry.field(description="Name of the new account.")
    name: str | None = strawberry.field(default=None, description="Your name (sign-up only).")
    email: str | None = strawberry.field(default=None, description="Your email (sign-up only).")
    password: str | None = strawberry.field(default=None, description="Your password (sign-up only).")


@strawberry.input(description="Change the current account's settings; omitted fields stay as they are.")
class AccountUpdateInput:
    name: str | None = strawberry.field(default=None, description="Display name.")
    locale: str | None = strawberry.field(default=None, description="Default language, e.g. `en` or `pt_BR`.")
    timezone: str | None = strawberry.field(default=None, description="IANA time zone.")


@strawberry.input(description="Invite someone to the current account by email.")
class AgentInviteInput:
    email: str = strawberry.field(
        description="Their email. Nobody is added before they accept: a new person through the emailed link, "
        "someone with a login by signing in (`pendingInvitations`, `invitationRespond`)."
    )
    name: str = strawberry.field(description="Their name.")
    role: RoleEnum = strawberry.field(default=Role.AGENT, description="Base role.")
    custom_role_id: strawberry.ID | None = strawberry.field(default=None, description="A custom role of this account.")


@strawberry.input(description="Confirm your email with the token from the confirmation email.")
class EmailVerifyInput:
    token: str = strawberry.field(description="The token from the emailed link.")


@strawberry.input(description="Accept an invitation sent to an email without a login: choose a password and sign in.")
class InvitationAcceptInput:
    token: str = strawberry.field(description="The token from the invitation email.")
    password: str = strawberry.field(description="8 characters to 72 bytes (UTF-8).")
    name: str | None = strawberry.field(default=None, description="Change the name the inviter entered.")
    use_cookies: bool = strawberry.field(default=False, description="Set the tokens as cookies.")


@strawberry.input(description="Change a member's role; omitted fields stay as they are.")
class MembershipUpdateInput:
    role: RoleEnum | None = strawberry.field(default=None, description="New base role.")
    custom_role_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="A custom role of this account; explicit null removes it."
    )
    max_open_conversations: int | None = strawberry.field(
        default=strawberry.UNSET,
        description="Auto-assignment's account-wide limit of open conversations (0 to 100,000); explicit null removes it.",
    )


@strawberry.input(description="Create a custom role.")
class CustomRoleCreateInput:
    name: str = strawberry.field(description="Unique within the account, up to 100 characters.")
    description: str = strawberry.field(default="", description="Up to 1000 characters.")
    permissions: list[PermissionEnum] = strawberry.field(description="What the role allows (at most 10).")


@strawberry.input(description="Change a custom role; omitted fields stay as they are.")
class CustomRoleUpdateInput:
    name: str | None = strawberry.field(default=None, description="New name.")
    description: str | None = strawberry.field(default=None, description="New description.")
    permissions: list[PermissionEnum] | None = strawberry.field(
        default=None, description="New permissions (at most 10)."
    )


@strawberry.input(description="Create an agent bot.")
class BotCreateInput:
    name: str = strawberry.field(description="Display name (at most 255 characters).")
    description: str = strawberry.field(default="", description="What it does (at most 1,000 characters).")
    outgoing_url: str | None = strawberry.field(
        default=None, description="Where its events are POSTed (http or https; no private addresses)."
    )


@strawberry.input(description="Change an agent bot; omitted fields stay as they are.")
class BotUpdateInput:
    name: str | None = strawberry.field(default=strawberry.UNSET, description="Display name.")
    description: str | None = strawberry.field(default=strawberry.UNSET, description="What it does.")
    outgoing_url: str | None = strawberry.field(
        default=strawberry.UNSET, description="Where its events are POSTed; null or blank: send none."
    )


@strawberry.input(description="Create an API token: a personal one, or (administrators) one for a bot.")
class ApiTokenCreateInput:
    name: str = strawberry.field(description="What the token is for.")
    bot_id: strawberry.ID | None = strawberry.field(default=None, description="Create it for this bot.")
