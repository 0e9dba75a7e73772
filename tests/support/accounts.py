"""Building accounts and members through the public API, as a client would."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from tests.support.gql import GraphQLHTTP

PASSWORD = "correct horse battery"
_seq = itertools.count(1)

SIGNUP = """mutation($input: AccountCreateInput!) {
  accountCreate(input: $input) {
    account { id name }
    tokens { accessToken refreshToken accessTokenExpiresAt }
    errors { field code message }
  }
}"""
LOGIN = """mutation($input: LoginInput!) {
  login(input: $input) {
    tokens { accessToken refreshToken accessTokenExpiresAt refreshTokenExpiresAt }
    user { id email }
    errors { field code message }
  }
}"""
INVITE = """mutation($input: AgentInviteInput!) {
  agentInvite(input: $input) { invitation { id email role } errors { field code message } }
}"""
EMAIL_VERIFY = """mutation($input: EmailVerifyInput!) { emailVerify(input: $input) { emailVerified errors { field code message } } }"""
ACCOUNTS = "{ me { memberships { account { id name } } } }"
ACCEPT = """mutation($input: InvitationAcceptInput!) {
  invitationAccept(input: $input) { tokens { accessToken refreshToken } user { id } errors { field code message } }
}"""


@dataclass
class Member:
    email: str
    access: str
    refresh: str
    account_id: str
    verified: bool = False  # whether the email was confirmed (sign-ups start unconfirmed)

    def headers(self, account_id: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}", "X-Parley-Account": account_id or self.account_id}


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}{next(_seq)}@example.test"


async def signup(
    gql: GraphQLHTTP, *, email: str | None = None, account: str = "Acme", password: str = PASSWORD
) -> Member:
    """Sign up (the answer carries no session, whatever the email), then sign in and pick the new account."""
    email = email or unique_email("admin")
    data = await gql.data(
        SIGNUP, {"input": {"accountName": account, "name": "Ada", "email": email, "password": password}}
    )
    payload = data["accountCreate"]
    assert payload["errors"] == [] and payload["tokens"] is None, payload
    signed_in = await login(gql, email, password)
    assert signed_in["errors"] == [], signed_in
    access = signed_in["tokens"]["accessToken"]
    mine = await gql.data(ACCOUNTS, headers={"Authorization": f"Bearer {access}"})
    [account_id] = [m["account"]["id"] for m in mine["me"]["memberships"] if m["account"]["name"] == account][-1:]
    return Member(email, access, signed_in["tokens"]["refreshToken"], account_id)


async def confirm_email(gql: GraphQLHTTP, member: Member, smtp) -> None:
    """Open the confirmation link the sign-up emailed (asking for a new one if it is not there)."""
    if member.verified:
        return
    try:
        msg = smtp.wait_for(member.email, subject_contains="Confirm your email", timeout=10)
    except AssertionError:  # the email went before this test's mailbox was emptied: ask again
        resent = await gql.data(
            "mutation { emailVerificationResend { emailVerified errors { code } } }",
            headers={"Authorization": f"Bearer {member.access}"},
        )
        assert resent["emailVerificationResend"]["errors"] == [], resent
        msg = smtp.wait_for(member.email, subject_contains="Confirm your email")
    done = (await gql.data(EMAIL_VERIFY, {"input": {"token": smtp.token_in(msg)}}))["emailVerify"]
    assert done == {"emailVerified": True, "errors": []}, done
    member.verified = True


async def login(gql: GraphQLHTTP, email: str, password: str = PASSWORD) -> dict:
    return (await gql.data(LOGIN, {"input": {"email": email, "password": password}}))["login"]


async def add_agent(
    gql: GraphQLHTTP, admin: Member, smtp, *, role: str = "agent", custom_role_id: str | None = None
) -> Member:
    """Invite through the API, read the emailed link from the SMTP server, accept it."""
    await confirm_email(gql, admin, smtp)
    email = unique_email(role)
    inp = {"email": email, "name": "Alan", "role": role.upper()}
    if custom_role_id:
        inp["customRoleId"] = custom_role_id
    data = await gql.data(INVITE, {"input": inp}, headers=admin.headers())
    assert data["agentInvite"]["errors"] == [], data
    msg = smtp.wait_for(email)
    token = smtp.token_in(msg)
    accepted = (await gql.data(ACCEPT, {"input": {"token": token, "password": PASSWORD}}))["invitationAccept"]
    assert accepted["errors"] == [], accepted
    return Member(
        email, accepted["tokens"]["accessToken"], accepted["tokens"]["refreshToken"], admin.account_id, verified=True
    )
