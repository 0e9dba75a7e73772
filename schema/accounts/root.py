"""Root fields of accounts and authentication, merged into the schema's Query and Mutation."""

from __future__ import annotations

import strawberry

from domain.accounts import bots
from domain.accounts.policy import Rule
from resolvers import accounts as acc
from schema.accounts import types as t
from schema.core.access import field, mutation
from schema.core.pagination import Connection


@strawberry.type
class AccountsQuery:
    me: t.Me = field(acc.me, Rule.authenticated, "The signed-in user, their accounts and permissions.")
    account: t.Account = field(acc.current_account, Rule.member, "The account this request acts on.")
    memberships: Connection[t.Membership] = field(
        acc.memberships, Rule.agent, "The members (agents and administrators) of the current account, oldest first."
    )
    custom_roles: list[t.CustomRole] = field(acc.custom_roles, Rule.administrator, "The account's custom roles.")
    bots: list[t.Bot] = field(acc.bots, Rule.administrator, "The account's agent bots.")
    api_tokens: list[t.ApiToken] = field(
        acc.api_tokens, Rule.agent, "Your personal API tokens in this account; administrators also see bot tokens."
    )
    invitations: Connection[t.Invitation] = field(
        acc.invitations,
        Rule.administrator,
        "The account's invitations still waiting for an answer, oldest first: only the email and role of each.",
    )
    pending_invitations: list[t.PendingInvitation] = field(
        acc.pending_invitations,
        Rule.authenticated,
        "Invitations to other accounts addressed to your (confirmed) email, waiting for your answer (at most 100).",
    )
    audit_logs: Connection[t.AuditLogEntry] = field(
        acc.audit_logs,
        Rule.administrator,
        "Administrator actions in this account, newest first; filter by action or actor.",
    )


@strawberry.type
class AccountsMutation:
    login: t.LoginPayload = mutation(
        acc.login,
        Rule.public,
        "Sign in with email and password. Throttled (RATE_LIMITED with `retryAfter`): per email and IP with a "
        "growing delay, per IP, and per email overall; a known device (`deviceToken`) only by its own failures.",
    )
    token_refresh: t.TokenRefreshPayload = mutation(
        acc.token_refresh,
        Rule.public,
        "Exchange a refresh token for new tokens. Each refresh token works once; presenting a used one ends the session.",
    )
    logout: t.LogoutPayload = mutation(acc.logout, Rule.authenticated, "End the current session.")
    logout_everywhere: t.LogoutPayload = mutation(
        acc.logout_everywhere, Rule.authenticated, "End every session of the signed-in user and close their sockets."
    )
    password_change: t.PasswordChangePayload = mutation(
        acc.password_change, Rule.authenticated, "Change your password; every other session ends."
    )
    password_reset_request: t.PasswordResetRequestPayload = mutation(
        acc.password_reset_request,
        Rule.public,
        "Email a password-reset link, if the email is known (never says which).",
    )
    password_reset_confirm: t.PasswordChangePayload = mutation(
        acc.password_reset_confirm,
        Rule.public,
        "Set a new password with an emailed reset token; every session and every other reset link ends, and the "
        "email's sign-in throttle is cleared.",
    )
    account_create: t.AccountCreatePayload = mutation(
        acc.account_create,
        Rule.public,
        "Create an account: sign up (when the installation allows; a few a hour per IP), or, signed in, add another "
        "account you administer. Sign-ups answer the same for known emails and confirm the email by a link.",
    )
    email_verify: t.EmailVerifyPayload = mutation(
        acc.email_verify, Rule.public, "Confirm your email with the token of the emailed link."
    )
    email_verification_resend: t.EmailVerifyPayload = mutation(
        acc.email_verification_resend,
        Rule.authenticated,
        "Send a new confirmation link to your email, unless it is confirmed already; earlier links stop working.",
    )
    account_update: t.AccountUpdatePayload = mutation(
        acc.account_update, Rule.administrator, "Change the account's settings."
    )
    agent_invite: t.AgentInvitePayload = mutation(
        acc.agent_invite,
        Rule.administrator,
        "Invite someone by email (your own email must be confirmed). Nobody is added until they accept.",
    )
    invitation_accept: t.InvitationAcceptPayload = mutation(
        acc.invitation_accept,
        Rule.public,
        "Accept an invitation with its emailed token and choose a password (emails without a login only).",
    )
    invitation_respond: t.InvitationRespondPayload = mutation(
        acc.invitation_respond,
        Rule.authenticated,
        "Accept or decline one of your `pendingInvitations`; accepting makes you a member of that account.",
    )
    membership_update: t.MembershipPayload = mutation(
        acc.membership_update, Rule.administrator, "Change a member's role or custom role."
    )
    membership_remove: t.MembershipPayload = mutation(
        acc.membership_remove, Rule.administrator, "Remove a member from the account (never the last administrator)."
    )
    custom_role_create: t.CustomRolePayload = mutation(
        acc.custom_role_create, Rule.administrator, "Create a custom role."
    )
    custom_role_update: t.CustomRolePayload = mutation(
        acc.custom_role_update, Rule.administrator, "Change a custom role."
    )
    custom_role_delete: t.CustomRolePayload = mutation(
        acc.custom_role_delete, Rule.administrator, "Delete a custom role; its members fall back to their base role."
    )
    bot_create: t.BotCreatePayload = mutation(
        acc.bot_create,
        Rule.administrator,
        f"Create an agent bot (at most {bots.MAX_BOTS} per account) with its API token; the token and the "
        "signing secret of its outgoing URL are returned once.",
    )
    bot_update: t.BotPayload = mutation(
        acc.bot_update, Rule.administrator, "Rename an agent bot, describe it, or change its outgoing URL."
    )
    bot_delete: t.BotPayload = mutation(
        acc.bot_delete,
        Rule.administrator,
        "Delete an agent bot: its tokens stop working, its deliveries stop, its inboxes are left without a bot.",
    )
    api_token_create: t.ApiTokenCreatePayload = mutation(
        acc.api_token_create,
        Rule.agent,
        "Create a personal API token, or (administrators) a bot's token. The secret is returned once.",
    )
    api_token_revoke: t.ApiTokenRevokePayload = mutation(
        acc.api_token_revoke, Rule.agent, "Revoke one of your tokens, or (administrators) a bot's token."
    )
