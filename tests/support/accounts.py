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
  agentInvite(input: $input) { membership { id role user { id email } } errors { field code message } }
}"""
ACCEPT = """mutation($input: InvitationAcceptInput!) {
  invitationAccept(input: $input) { tokens { accessToken refreshToken } user { id } errors { field code message } }
}"""


@dataclass
class Member:
    email: str
    access: str
    refresh: str
    account_id: str

    def headers(self, account_id: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}", "X-Parley-Account": account_id or self.account_id}


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}{next(_seq)}@example.test"


async def signup(gql: GraphQLHTTP, *, email: str | None = None, account: str = "Acme", password: str = PASSWORD) -> Member:
    email = email or unique_email("admin")
    data = await gql.data(SIGNUP, {"input": {"accountName": account, "name": "Ada", "email": email, "password": password}})
    payload = data["accountCreate"]
    assert payload["errors"] == [], payload
    return Member(email, payload["tokens"]["accessToken"], payload["tokens"]["refreshToken"], payload["account"]["id"])


async def login(gql: GraphQLHTTP, email: str, password: str = PASSWORD) -> dict:
    return (await gql.data(LOGIN, {"input": {"email": email, "password": password}}))["login"]


async def add_agent(gql: GraphQLHTTP, admin: Member, smtp, *, role: str = "agent", custom_role_id: str | None = None) -> Member:
    """Invite through the API, read the emailed link from the SMTP server, accept it."""
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
    return Member(email, accepted["tokens"]["accessToken"], accepted["tokens"]["refreshToken"], admin.account_id)
