"""Authentication over HTTP: sign-up, login, refresh rotation and reuse detection, logout, password
change and reset, cookies with CSRF, throttling, JWT edge cases, API tokens, sockets closed on logout."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from domain.accounts import tokens
from tests.support.accounts import LOGIN, PASSWORD, add_agent, login, signup, unique_email
from tests.support.gql import GraphQLHTTP, SubscriptionSocket

ME = "{ me { user { email } currentAccount { id name } role permissions memberships { role account { name } } } }"
REFRESH = """mutation($input: TokenRefreshInput!) {
  tokenRefresh(input: $input) { tokens { accessToken refreshToken } errors { field code message } }
}"""


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def me(gql: GraphQLHTTP, token: str) -> dict:
    return await gql.execute(ME, headers=bearer(token))


def error_code(body: dict) -> str:
    assert body.get("errors"), body
    return body["errors"][0]["extensions"]["code"]


# --- sign-up and login ---------------------------------------------------------------------------------


async def test_signup_creates_an_administrator_and_a_session(gql):
    admin = await signup(gql, account="Support Co")
    body = await me(gql, admin.access)
    assert body["data"]["me"]["user"]["email"] == admin.email
    assert body["data"]["me"]["currentAccount"]["name"] == "Support Co"
    assert body["data"]["me"]["role"] == "ADMINISTRATOR"
    assert "REPORT_MANAGE" in body["data"]["me"]["permissions"]


async def test_signup_refuses_bad_input_and_creates_nothing(gql):
    body = await gql.data(
        """mutation { accountCreate(input: {accountName: "", name: "A", email: "not-an-email", password: "short"}) {
            account { id } errors { field code message } } }"""
    )
    errors = body["accountCreate"]["errors"]
    assert {(e["field"], e["code"]) for e in errors} == {
        ("accountName", "REQUIRED"),
        ("email", "INVALID_EMAIL"),
        ("password", "PASSWORD_TOO_SHORT"),
    }
    assert body["accountCreate"]["account"] is None
    assert (await login(gql, "not-an-email", "short"))["errors"][0]["code"] == "INVALID_CREDENTIALS"


async def test_login_success_and_failure_do_not_reveal_whether_an_email_exists(gql):
    admin = await signup(gql)
    ok = await login(gql, admin.email.upper())
    assert ok["errors"] == [] and ok["tokens"]["accessToken"]
    wrong_password = await login(gql, admin.email, "wrong password!")
    unknown_email = await login(gql, unique_email("ghost"), "wrong password!")
    assert wrong_password["errors"] == unknown_email["errors"]
    assert wrong_password["errors"][0]["code"] == "INVALID_CREDENTIALS"
    assert wrong_password["tokens"] is None


async def test_passwords_over_72_bytes_are_refused_with_a_clear_error(gql):
    # 30 characters but 90 bytes in UTF-8: bcrypt would read only 72 of them.
    long_pw = "ü" * 30 + "€" * 10
    body = await gql.data(
        "mutation($i: AccountCreateInput!) { accountCreate(input: $i) { account { id } errors { field code message } } }",
        {"i": {"accountName": "X", "name": "B", "email": unique_email(), "password": long_pw}},
    )
    [error] = body["accountCreate"]["errors"]
    assert (error["field"], error["code"]) == ("password", "PASSWORD_TOO_LONG")
    assert "72 bytes" in error["message"]
    # Exactly 72 bytes is fine.
    admin = await signup(gql, password="a" * 72)
    assert (await login(gql, admin.email, "a" * 72))["errors"] == []
    assert (await login(gql, admin.email, "a" * 73))["errors"][0]["code"] == "INVALID_CREDENTIALS"


async def test_login_is_throttled_per_email_after_repeated_failures(gql):
    admin = await signup(gql)
    for _ in range(5):
        assert (await login(gql, admin.email, "wrong password!"))["errors"][0]["code"] == "INVALID_CREDENTIALS"
    body = await gql.execute(LOGIN, {"input": {"email": admin.email, "password": PASSWORD}})
    assert error_code(body) == "RATE_LIMITED"
    assert body["errors"][0]["extensions"]["retryAfter"] > 0
    # Another email from the same IP is not locked out by these five.
    other = await signup(gql)
    assert (await login(gql, other.email))["errors"] == []


# --- refresh rotation ------------------------------------------------------------------------------------


async def test_refresh_rotates_and_reuse_revokes_the_whole_family(gql):
    admin = await signup(gql)
    first = (await gql.data(REFRESH, {"input": {"refreshToken": admin.refresh}}))["tokenRefresh"]
    assert first["errors"] == []
    new_refresh, new_access = first["tokens"]["refreshToken"], first["tokens"]["accessToken"]
    assert new_refresh != admin.refresh
    assert (await me(gql, new_access))["data"]["me"]["user"]["email"] == admin.email

    # The spent token presented again: theft or replay. The family ends.
    reused = (await gql.data(REFRESH, {"input": {"refreshToken": admin.refresh}}))["tokenRefresh"]
    assert reused["tokens"] is None
    assert reused["errors"][0]["code"] == "REFRESH_TOKEN_REUSED"
    # Every token of the family is dead: the newest refresh token and the access tokens.
    after = (await gql.data(REFRESH, {"input": {"refreshToken": new_refresh}}))["tokenRefresh"]
    assert after["errors"][0]["code"] == "INVALID_TOKEN"
    assert error_code(await me(gql, new_access)) == "UNAUTHENTICATED"
    assert error_code(await me(gql, admin.access)) == "UNAUTHENTICATED"
    # Another login is a new family and works.
    assert (await login(gql, admin.email))["errors"] == []


async def test_unknown_or_malformed_refresh_tokens_are_refused(gql):
    for token in ("plyr_doesnotexist", "garbage", admin_access_like()):
        body = (await gql.data(REFRESH, {"input": {"refreshToken": token}}))["tokenRefresh"]
        assert body["tokens"] is None and body["errors"][0]["code"] == "INVALID_TOKEN"


def admin_access_like() -> str:
    return tokens.issue_access_token("x" * 40, 1, "s", datetime.now(UTC))[0]


# --- JWT edge cases ------------------------------------------------------------------------------------


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


async def test_forged_and_mistyped_access_tokens_are_refused(gql, settings):
    admin = await signup(gql)
    claims = jwt.decode(admin.access, options={"verify_signature": False})
    key = tokens.derive_key(settings.secret_key, "access")
    now = datetime.now(UTC)
    cases = {
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.",
        "wrong key": jwt.encode(claims, b"k" * 32, algorithm="HS256"),
        "raw secret key instead of the derived one": jwt.encode(claims, settings.secret_key, algorithm="HS256"),
        "wrong audience": jwt.encode({**claims, "aud": "someone-else"}, key, algorithm="HS256"),
        "wrong typ": jwt.encode({**claims, "typ": "refresh"}, key, algorithm="HS256"),
        "no typ": jwt.encode({k: v for k, v in claims.items() if k != "typ"}, key, algorithm="HS256"),
        "integer sub": jwt.encode({**claims, "sub": 1}, key, algorithm="HS256"),
        "expired": jwt.encode(
            {
                **claims,
                "iat": int((now - timedelta(hours=1)).timestamp()),
                "exp": int((now - timedelta(minutes=30)).timestamp()),
            },
            key,
            algorithm="HS256",
        ),
        "HS512 with the right key": jwt.encode(claims, key, algorithm="HS512"),
        "malformed": "not.a.jwt",
        "refresh token used as access token": admin.refresh,
    }
    for name, token in cases.items():
        body = await gql.execute(ME, headers={"Authorization": f"Bearer {token}"})
        assert error_code(body) == "UNAUTHENTICATED", (name, body)
        assert body["data"] is None
    # The genuine token still works.
    assert (await me(gql, admin.access))["data"]["me"]["user"]["email"] == admin.email


# --- logout, password change and reset --------------------------------------------------------------------


async def test_logout_ends_only_the_current_session(gql):
    admin = await signup(gql)
    other = await login(gql, admin.email)
    body = await gql.data("mutation { logout { revokedSessions errors { code } } }", headers=bearer(admin.access))
    assert body["logout"] == {"revokedSessions": 1, "errors": []}
    assert error_code(await me(gql, admin.access)) == "UNAUTHENTICATED"
    refused = (await gql.data(REFRESH, {"input": {"refreshToken": admin.refresh}}))["tokenRefresh"]
    assert refused["errors"][0]["code"] == "INVALID_TOKEN"
    assert (await me(gql, other["tokens"]["accessToken"]))["data"]["me"]["user"]["email"] == admin.email


async def test_logout_everywhere_ends_every_session(gql):
    admin = await signup(gql)
    second = await login(gql, admin.email)
    body = await gql.data(
        "mutation { logoutEverywhere { revokedSessions } }", headers=bearer(second["tokens"]["accessToken"])
    )
    assert body["logoutEverywhere"]["revokedSessions"] == 2
    for token in (admin.access, second["tokens"]["accessToken"]):
        assert error_code(await me(gql, token)) == "UNAUTHENTICATED"


PASSWORD_CHANGE = """mutation($input: PasswordChangeInput!) {
  passwordChange(input: $input) { tokens { accessToken refreshToken } errors { field code message } }
}"""


async def test_password_change_revokes_other_sessions_and_keeps_this_client_signed_in(gql):
    admin = await signup(gql)
    stolen = await login(gql, admin.email)
    wrong = (
        await gql.data(
            PASSWORD_CHANGE,
            {"input": {"currentPassword": "nope nope", "newPassword": "x"}},
            headers=bearer(admin.access),
        )
    )["passwordChange"]
    assert {(e["field"], e["code"]) for e in wrong["errors"]} == {
        ("currentPassword", "INVALID_CREDENTIALS"),
        ("newPassword", "PASSWORD_TOO_SHORT"),
    }
    assert (await me(gql, stolen["tokens"]["accessToken"]))["data"]  # nothing changed

    changed = (
        await gql.data(
            PASSWORD_CHANGE,
            {"input": {"currentPassword": PASSWORD, "newPassword": "a brand new secret"}},
            headers=bearer(admin.access),
        )
    )["passwordChange"]
    assert changed["errors"] == []
    assert error_code(await me(gql, stolen["tokens"]["accessToken"])) == "UNAUTHENTICATED"
    assert error_code(await me(gql, admin.access)) == "UNAUTHENTICATED"
    refused = (await gql.data(REFRESH, {"input": {"refreshToken": stolen["tokens"]["refreshToken"]}}))["tokenRefresh"]
    assert refused["errors"][0]["code"] == "INVALID_TOKEN"
    assert (await me(gql, changed["tokens"]["accessToken"]))["data"]["me"]["user"]["email"] == admin.email
    assert (await login(gql, admin.email))["errors"][0]["code"] == "INVALID_CREDENTIALS"
    assert (await login(gql, admin.email, "a brand new secret"))["errors"] == []


RESET_REQUEST = "mutation($e: String!) { passwordResetRequest(input: {email: $e}) { accepted errors { code } } }"
RESET_CONFIRM = """mutation($input: PasswordResetConfirmInput!) {
  passwordResetConfirm(input: $input) { tokens { accessToken } errors { field code message } }
}"""


async def test_password_reset_by_email_link_is_single_use_and_revokes_sessions(gql, smtp):
    admin = await signup(gql)
    body = await gql.data(RESET_REQUEST, {"e": admin.email})
    assert body["passwordResetRequest"] == {"accepted": True, "errors": []}
    # An unknown email gets the very same answer and no email.
    ghost = unique_email("ghost")
    assert (await gql.data(RESET_REQUEST, {"e": ghost}))["passwordResetRequest"] == {"accepted": True, "errors": []}
    msg = smtp.wait_for(admin.email, subject_contains="Reset")
    token = smtp.token_in(msg)
    assert msg.get_body(preferencelist=("html",)) is not None

    too_short = (await gql.data(RESET_CONFIRM, {"input": {"token": token, "newPassword": "short"}}))[
        "passwordResetConfirm"
    ]
    assert too_short["errors"][0]["code"] == "PASSWORD_TOO_SHORT"
    done = (await gql.data(RESET_CONFIRM, {"input": {"token": token, "newPassword": "reset and better"}}))[
        "passwordResetConfirm"
    ]
    assert done["errors"] == [] and done["tokens"]["accessToken"]
    again = (await gql.data(RESET_CONFIRM, {"input": {"token": token, "newPassword": "third password"}}))[
        "passwordResetConfirm"
    ]
    assert again["errors"][0]["code"] == "TOKEN_USED"
    forged = await gql.data(RESET_CONFIRM, {"input": {"token": "plyo_forged", "newPassword": "third password"}})
    assert forged["passwordResetConfirm"]["errors"][0]["code"] == "INVALID_TOKEN"
    assert error_code(await me(gql, admin.access)) == "UNAUTHENTICATED"
    assert (await login(gql, admin.email, "reset and better"))["errors"] == []
    assert not [m for m in smtp.messages if ghost in str(m["To"])]


# --- cookies and CSRF --------------------------------------------------------------------------------------


async def test_cookie_sessions_need_the_csrf_header_and_an_allowed_origin(gql, server):
    admin = await signup(gql)
    csrf = {"X-Parley-CSRF": "1"}
    # Setting cookies without the header is refused (login CSRF).
    body = await gql.execute(LOGIN, {"input": {"email": admin.email, "password": PASSWORD, "useCookies": True}})
    assert error_code(body) == "FORBIDDEN"
    resp = await gql.post(
        LOGIN, {"input": {"email": admin.email, "password": PASSWORD, "useCookies": True}}, headers=csrf
    )
    payload = resp.json()["data"]["login"]
    assert payload["errors"] == [] and payload["tokens"]["accessToken"] is None  # tokens only in cookies
    cookies = {c.name: c for c in gql.client.cookies.jar}
    assert {"parley_access", "parley_refresh"} <= set(cookies)
    raw = resp.headers.get_list("set-cookie")
    assert all("httponly" in c.lower() for c in raw)
    assert any("samesite=lax" in c.lower() for c in raw if c.startswith("parley_access"))

    ok = await gql.execute(ME, headers=csrf)
    assert ok["data"]["me"]["user"]["email"] == admin.email
    missing_header = await gql.execute(ME)
    assert error_code(missing_header) == "FORBIDDEN" and "X-Parley-CSRF" in missing_header["errors"][0]["message"]
    foreign = await gql.execute(ME, headers={**csrf, "Origin": "https://evil.example"})
    assert error_code(foreign) == "FORBIDDEN" and "origin" in foreign["errors"][0]["message"]
    same_origin = await gql.execute(ME, headers={**csrf, "Origin": server.url})
    assert same_origin["data"]["me"]["user"]["email"] == admin.email
    # A GET with the cookie is held to the same rule.
    get = await gql.client.get("/graphql", params={"query": ME})
    assert get.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    # Refresh through the cookie rotates both cookies.
    old_refresh = gql.client.cookies.get("parley_refresh")
    refreshed = await gql.execute(
        "mutation { tokenRefresh(input: {}) { tokens { accessToken } errors { code } } }", headers=csrf
    )
    assert refreshed["data"]["tokenRefresh"]["errors"] == []
    assert gql.client.cookies.get("parley_refresh") != old_refresh

    # Logout clears the cookies.
    await gql.execute("mutation { logout { revokedSessions } }", headers=csrf)
    assert gql.client.cookies.get("parley_access") is None


# --- API tokens and bots ------------------------------------------------------------------------------------

TOKEN_CREATE = """mutation($input: ApiTokenCreateInput!) {
  apiTokenCreate(input: $input) { secret apiToken { id name prefix bot { name } } errors { field code } }
}"""


async def test_personal_api_token_is_shown_once_works_and_can_be_revoked(gql):
    admin = await signup(gql)
    created = (await gql.data(TOKEN_CREATE, {"input": {"name": "CI"}}, headers=admin.headers()))["apiTokenCreate"]
    secret = created["secret"]
    assert secret.startswith("plyp_") and created["apiToken"]["prefix"] == secret[:12]
    listed = await gql.data("{ apiTokens { id name prefix lastUsedAt } }", headers=admin.headers())
    assert "secret" not in json.dumps(listed) and listed["apiTokens"][0]["prefix"] == secret[:12]

    assert (await me(gql, secret))["data"]["me"]["user"]["email"] == admin.email
    used = await gql.data("{ apiTokens { lastUsedAt } }", headers=admin.headers())
    assert used["apiTokens"][0]["lastUsedAt"] is not None
    revoked = await gql.data(
        "mutation($id: ID!) { apiTokenRevoke(id: $id) { apiToken { revokedAt } errors { code } } }",
        {"id": created["apiToken"]["id"]},
        headers=admin.headers(),
    )
    assert revoked["apiTokenRevoke"]["apiToken"]["revokedAt"]
    assert error_code(await me(gql, secret)) == "UNAUTHENTICATED"


async def test_bot_tokens_act_as_the_bot_with_a_bots_rights(gql):
    admin = await signup(gql)
    bot = (
        await gql.data(
            'mutation { botCreate(input: {name: "Triage"}) { bot { id name } errors { code } } }',
            headers=admin.headers(),
        )
    )["botCreate"]["bot"]
    created = (
        await gql.data(TOKEN_CREATE, {"input": {"name": "triage", "botId": bot["id"]}}, headers=admin.headers())
    )["apiTokenCreate"]
    assert created["secret"].startswith("plyb_") and created["apiToken"]["bot"]["name"] == "Triage"
    account = await gql.execute("{ account { name } }", headers=bearer(created["secret"]))
    assert account["data"]["account"]["name"] == "Acme"
    # A bot is not a user: no `me`, no administration.
    assert error_code(await me(gql, created["secret"])) == "FORBIDDEN"
    body = await gql.execute("{ auditLogs { edges { node { action } } } }", headers=bearer(created["secret"]))
    assert error_code(body) == "FORBIDDEN"


async def test_agents_cannot_create_bot_tokens(gql, smtp):
    admin = await signup(gql)
    agent = await add_agent(gql, admin, smtp)
    bot = (await gql.data('mutation { botCreate(input: {name: "B"}) { bot { id } } }', headers=admin.headers()))[
        "botCreate"
    ]["bot"]
    body = await gql.execute(TOKEN_CREATE, {"input": {"name": "x", "botId": bot["id"]}}, headers=agent.headers())
    assert error_code(body) == "FORBIDDEN"


# --- sockets end with their session ---------------------------------------------------------------------------


async def test_socket_is_closed_when_its_session_is_logged_out(gql, server):
    admin = await signup(gql)
    sock = SubscriptionSocket(server.ws_url, payload={"token": admin.access})
    await sock.connect()
    await sock.subscribe('subscription { diagnosticsPings(topic: "x") { message } }')
    await gql.data("mutation { logout { revokedSessions } }", headers=bearer(admin.access))
    with pytest.raises(Exception) as closed:
        await sock.receive(timeout=10)
    assert getattr(closed.value, "rcvd", None) is not None and closed.value.rcvd.code == 4401
    await sock.close()


async def test_socket_refuses_an_invalid_token_before_any_operation(server):
    sock = SubscriptionSocket(server.ws_url, payload={"token": "not-a-token"})
    with pytest.raises(Exception) as refused:
        await sock.connect()
    assert "4403" in str(refused.value) or getattr(getattr(refused.value, "rcvd", None), "code", None) == 4403
    await sock.close()


async def test_expired_access_token_closes_the_socket(gql, server, settings):
    """A socket lives no longer than the access token it was opened with."""
    admin = await signup(gql)
    claims = jwt.decode(admin.access, options={"verify_signature": False})
    key = tokens.derive_key(settings.secret_key, "access")
    now = int(datetime.now(UTC).timestamp())
    short = jwt.encode({**claims, "iat": now, "exp": now + 2}, key, algorithm="HS256", headers={"typ": "at+jwt"})
    sock = SubscriptionSocket(server.ws_url, payload={"token": short})
    await sock.connect()
    await sock.subscribe('subscription { diagnosticsPings(topic: "x") { message } }')
    with pytest.raises(Exception) as closed:
        await sock.receive(timeout=15)
    assert closed.value.rcvd.code == 4401
    await sock.close()
    await asyncio.sleep(0)
