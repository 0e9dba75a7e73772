"""Account security over HTTP: sign-in throttles that an attacker cannot turn into a lockout, reset
links that die, invitations that wait for their recipient, sign-up and widget answers that do not tell
whether an email is known, and the sign-up limit with email confirmation."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import pytest

from tests.conftest import make_settings
from tests.support.accounts import (
    INVITE,
    LOGIN,
    PASSWORD,
    SIGNUP,
    confirm_email,
    login,
    signup,
    unique_email,
)
from tests.support.gql import GraphQLHTTP
from tests.support.server import LiveServer
from tests.test_widget import make_widget

ERR = "errors { field code message }"
RESET_REQUEST = "mutation($e: String!) { passwordResetRequest(input: {email: $e}) { accepted errors { code } } }"
RESET_CONFIRM = """mutation($input: PasswordResetConfirmInput!) {
  passwordResetConfirm(input: $input) { tokens { accessToken } errors { field code message } }
}"""
PASSWORD_CHANGE = """mutation($input: PasswordChangeInput!) {
  passwordChange(input: $input) { tokens { accessToken } errors { field code message } }
}"""
DEVICE_LOGIN = """mutation($input: LoginInput!) {
  login(input: $input) { tokens { accessToken } deviceToken errors { field code message } }
}"""


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def top_code(body: dict) -> str:
    assert body.get("errors"), body
    return body["errors"][0]["extensions"]["code"]


def outcome(body: dict) -> str:
    """RATE_LIMITED, INVALID_CREDENTIALS or OK for one login answer."""
    if body.get("errors"):
        return top_code(body)
    errors = body["data"]["login"]["errors"]
    return errors[0]["code"] if errors else "OK"


@pytest.fixture(scope="module")
def proxied(tmp_path_factory, database_url, smtp_server):
    """A server behind a trusted proxy (127.0.0.1 may set X-Forwarded-For, as an operator configures it
    for a proxy), so a test can speak from several client addresses; small limits keep the tests short."""
    settings = make_settings(
        tmp_path_factory.mktemp("parley-proxied"),
        smtp_host="127.0.0.1",
        smtp_port=smtp_server.port,
        smtp_starttls=False,
        login_failures_per_ip=8,
        login_failures_per_email=12,
        signup_per_ip_per_hour=3,
    )
    live = LiveServer(settings)
    live.server.config.proxy_headers = True
    live.server.config.forwarded_allow_ips = "127.0.0.1"
    live.start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
async def pgql(proxied):
    client = GraphQLHTTP(proxied.url)
    yield client
    await client.aclose()


def from_ip(ip: str) -> dict[str, str]:
    return {"X-Forwarded-For": ip}


async def login_from(gql: GraphQLHTTP, ip: str, email: str, password: str, device: str | None = None) -> dict:
    inp = {"email": email, "password": password}
    if device:
        inp["deviceToken"] = device
    return await gql.execute(DEVICE_LOGIN, {"input": inp}, headers=from_ip(ip))


# --- 2. the check and the count are one step ------------------------------------------------------------


async def test_concurrent_wrong_passwords_are_evaluated_at_most_up_to_the_limit(gql):
    admin = await signup(gql)
    bodies = await asyncio.gather(
        *(gql.execute(LOGIN, {"input": {"email": admin.email, "password": f"wrong guess {i}"}}) for i in range(20))
    )
    counts = Counter(outcome(b) for b in bodies)
    assert counts == {"INVALID_CREDENTIALS": 5, "RATE_LIMITED": 15}, counts
    limited = [b for b in bodies if outcome(b) == "RATE_LIMITED"]
    assert all(b["errors"][0]["extensions"]["retryAfter"] >= 1 for b in limited)


# --- 3. throttles without a lockout ---------------------------------------------------------------------


async def test_an_attacker_address_cannot_lock_the_owner_out(pgql):
    owner = await signup(pgql)
    for i in range(7):
        await login_from(pgql, "203.0.113.9", owner.email, f"guess number {i}")
    attacker = await login_from(pgql, "203.0.113.9", owner.email, PASSWORD)
    assert top_code(attacker) == "RATE_LIMITED"  # even the right password waits on that address
    assert attacker["errors"][0]["extensions"]["retryAfter"] >= 30  # the delay grew past the first 30 s
    assert outcome(await login_from(pgql, "198.51.100.7", owner.email, PASSWORD)) == "OK"


async def test_one_address_spraying_many_emails_is_stopped_and_others_are_not(pgql):
    for _ in range(8):
        assert (
            outcome(await login_from(pgql, "203.0.113.20", unique_email("spray"), "wrong password!"))
            == "INVALID_CREDENTIALS"
        )
    body = await login_from(pgql, "203.0.113.20", unique_email("fresh"), "wrong password!")
    assert top_code(body) == "RATE_LIMITED"
    assert (
        outcome(await login_from(pgql, "203.0.113.21", unique_email("fresh"), "wrong password!"))
        == "INVALID_CREDENTIALS"
    )


async def test_a_known_device_signs_in_while_the_email_is_under_attack(pgql):
    owner = await signup(pgql)
    first = await login_from(pgql, "198.51.100.7", owner.email, PASSWORD)
    device = first["data"]["login"]["deviceToken"]
    assert device and device.startswith("plyd_")
    # Many addresses together reach the email's ceiling (12 here): unknown clients must wait…
    for n in range(12):
        await login_from(pgql, f"203.0.113.{100 + n // 4}", owner.email, f"guess number {n}")
    assert top_code(await login_from(pgql, "198.51.100.8", owner.email, PASSWORD)) == "RATE_LIMITED"
    # …but the owner's device is throttled only by its own failures.
    assert outcome(await login_from(pgql, "198.51.100.8", owner.email, PASSWORD, device)) == "OK"
    # A device token of someone else is no pass for this email.
    other = await signup(pgql)
    foreign = (await login_from(pgql, "198.51.100.9", other.email, PASSWORD))["data"]["login"]["deviceToken"]
    assert top_code(await login_from(pgql, "198.51.100.9", owner.email, PASSWORD, foreign)) == "RATE_LIMITED"
    assert top_code(await login_from(pgql, "198.51.100.9", owner.email, PASSWORD, "plyd_forged")) == "RATE_LIMITED"


async def test_a_device_from_before_a_password_change_is_known_no_more(pgql):
    owner = await signup(pgql)
    first = (await login_from(pgql, "198.51.100.17", owner.email, PASSWORD))["data"]["login"]
    device = first["deviceToken"]
    # Whoever held the old password (and a device token from it) loses the device with the change.
    new_password = "a whole new passphrase"
    changed = await pgql.data(
        PASSWORD_CHANGE,
        {"input": {"currentPassword": PASSWORD, "newPassword": new_password}},
        headers=bearer(first["tokens"]["accessToken"]),
    )
    assert changed["passwordChange"]["errors"] == []
    for n in range(12):
        await login_from(pgql, f"203.0.113.{140 + n // 4}", owner.email, f"guess number {n}")
    assert top_code(await login_from(pgql, "198.51.100.18", owner.email, new_password, device)) == "RATE_LIMITED"


async def test_guessing_the_current_password_with_a_stolen_session_is_throttled(gql):
    owner = await signup(gql)
    change = {"currentPassword": "not the password", "newPassword": "another long passphrase"}
    for _ in range(5):
        body = await gql.execute(PASSWORD_CHANGE, {"input": change}, headers=bearer(owner.access))
        assert [e["code"] for e in body["data"]["passwordChange"]["errors"]] == ["INVALID_CREDENTIALS"], body
    # The sixth try waits, even with the right password; the password is unchanged.
    body = await gql.execute(
        PASSWORD_CHANGE, {"input": {**change, "currentPassword": PASSWORD}}, headers=bearer(owner.access)
    )
    assert top_code(body) == "RATE_LIMITED"
    assert (await login(gql, owner.email, PASSWORD))["errors"] == []


async def test_reset_requests_have_their_own_limit_and_never_block_sign_in(gql, smtp):
    admin = await signup(gql)
    answers = [await gql.execute(RESET_REQUEST, {"e": admin.email}) for _ in range(6)]
    assert [a.get("data") and a["data"]["passwordResetRequest"] for a in answers[:3]] == [
        {"accepted": True, "errors": []}
    ] * 3
    assert {top_code(a) for a in answers[3:]} == {"RATE_LIMITED"}
    assert answers[3]["errors"][0]["extensions"]["retryAfter"] >= 1
    assert (await login(gql, admin.email))["errors"] == []


async def test_a_successful_reset_clears_the_emails_throttle(gql, smtp):
    admin = await signup(gql)
    for i in range(5):
        await login(gql, admin.email, f"wrong guess {i}")
    assert top_code(await gql.execute(LOGIN, {"input": {"email": admin.email, "password": PASSWORD}})) == "RATE_LIMITED"
    await gql.data(RESET_REQUEST, {"e": admin.email})
    token = smtp.token_in(smtp.wait_for(admin.email, subject_contains="Reset"))
    done = (await gql.data(RESET_CONFIRM, {"input": {"token": token, "newPassword": "a fresh start"}}))[
        "passwordResetConfirm"
    ]
    assert done["errors"] == []
    assert (await login(gql, admin.email, "a fresh start"))["errors"] == []


# --- 4. reset links die -----------------------------------------------------------------------------------


def reset_tokens(smtp, email: str, count: int) -> list[str]:
    import time

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = [
            smtp.token_in(m) for m in list(smtp.messages) if email in str(m["To"]) and "Reset" in str(m["Subject"])
        ]
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} reset emails to {email}")


async def test_a_reset_ends_every_other_reset_link(gql, smtp):
    admin = await signup(gql)
    await gql.data(RESET_REQUEST, {"e": admin.email})
    await gql.data(RESET_REQUEST, {"e": admin.email})
    older, newer = reset_tokens(smtp, admin.email, 2)
    assert (await gql.data(RESET_CONFIRM, {"input": {"token": newer, "newPassword": "the newest secret"}}))[
        "passwordResetConfirm"
    ]["errors"] == []
    late = (await gql.data(RESET_CONFIRM, {"input": {"token": older, "newPassword": "an attackers pick"}}))[
        "passwordResetConfirm"
    ]
    assert [(e["field"], e["code"]) for e in late["errors"]] == [("token", "TOKEN_USED")] and late["tokens"] is None
    assert (await login(gql, admin.email, "an attackers pick"))["errors"][0]["code"] == "INVALID_CREDENTIALS"
    assert (await login(gql, admin.email, "the newest secret"))["errors"] == []


async def test_a_password_change_ends_every_reset_link(gql, smtp):
    admin = await signup(gql)
    await gql.data(RESET_REQUEST, {"e": admin.email})
    [link] = reset_tokens(smtp, admin.email, 1)
    changed = (
        await gql.data(
            PASSWORD_CHANGE,
            {"input": {"currentPassword": PASSWORD, "newPassword": "changed on purpose"}},
            headers=bearer(admin.access),
        )
    )["passwordChange"]
    assert changed["errors"] == []
    late = (await gql.data(RESET_CONFIRM, {"input": {"token": link, "newPassword": "an attackers pick"}}))[
        "passwordResetConfirm"
    ]
    assert [(e["field"], e["code"]) for e in late["errors"]] == [("token", "TOKEN_USED")]
    assert (await login(gql, admin.email, "changed on purpose"))["errors"] == []


# --- 5. invitations wait for their recipient -------------------------------------------------------------

ME = "{ me { user { email } currentAccount { id name } memberships { account { name } } } }"
MEMBER_EMAILS = "{ memberships { edges { node { user { email name } } } } }"
PENDING = "{ pendingInvitations { id accountName inviterName role } }"
RESPOND = f"mutation($id: ID!, $a: Boolean!) {{ invitationRespond(id: $id, accept: $a) {{ membership {{ role account {{ name }} }} {ERR} }} }}"
FULL_INVITE = f"""mutation($input: AgentInviteInput!) {{
  agentInvite(input: $input) {{ invitation {{ email role customRole {{ id }} }} {ERR} }} }}"""


async def test_inviting_an_existing_user_waits_for_their_answer_and_reveals_nothing(gql, smtp):
    inviter = await signup(gql, account="Inviters")
    await confirm_email(gql, inviter, smtp)
    user = await signup(gql, account="Home")
    await confirm_email(gql, user, smtp)
    before = await gql.data(ME, headers=bearer(user.access))  # header-less: the only account
    known = await gql.execute(
        FULL_INVITE, {"input": {"email": user.email, "name": "Typed By Inviter"}}, headers=inviter.headers()
    )
    fresh_email = unique_email("nobody")
    unknown = await gql.execute(
        FULL_INVITE, {"input": {"email": fresh_email, "name": "Typed By Inviter"}}, headers=inviter.headers()
    )
    # The same answer whether or not the email has a login, and nothing but the email and role.
    assert json.dumps(known["data"]).replace(user.email, "E") == json.dumps(unknown["data"]).replace(fresh_email, "E")
    assert known["data"]["agentInvite"] == {
        "invitation": {"email": user.email, "role": "AGENT", "customRole": None},
        "errors": [],
    }
    # Not a member yet: not listed with their name, and their own session is untouched.
    members = await gql.data(MEMBER_EMAILS, headers=inviter.headers())
    assert user.email not in json.dumps(members) and "Ada" not in {
        e["node"]["user"]["name"]
        for e in members["memberships"]["edges"]
        if e["node"]["user"]["email"] != inviter.email
    }
    presence = await gql.data("{ agentPresence { user { email } } }", headers=inviter.headers())
    assert [p["user"]["email"] for p in presence["agentPresence"]] == [inviter.email]
    listed = await gql.data("{ invitations { edges { node { email role } } } }", headers=inviter.headers())
    assert {e["node"]["email"] for e in listed["invitations"]["edges"]} == {user.email, fresh_email}
    assert await gql.data(ME, headers=bearer(user.access)) == before
    assert before["me"]["currentAccount"]["name"] == "Home"
    foreign = await gql.execute("{ account { name } }", headers=user.headers(inviter.account_id))
    assert top_code(foreign) == "FORBIDDEN"
    # The invitee was told by email, without a link that would let someone else in.
    mail = smtp.wait_for(user.email, subject_contains="invited you")
    assert "token=" not in smtp.text_of(mail)
    # They see it, and accept it.
    [pending] = (await gql.data(PENDING, headers=bearer(user.access)))["pendingInvitations"]
    assert pending["accountName"] == "Inviters" and pending["inviterName"] == "Ada" and pending["role"] == "AGENT"
    accepted = (await gql.data(RESPOND, {"id": pending["id"], "a": True}, headers=bearer(user.access)))[
        "invitationRespond"
    ]
    assert accepted == {"membership": {"role": "AGENT", "account": {"name": "Inviters"}}, "errors": []}
    assert user.email in json.dumps(await gql.data(MEMBER_EMAILS, headers=inviter.headers()))
    assert (await gql.data(PENDING, headers=bearer(user.access)))["pendingInvitations"] == []
    again = (await gql.data(RESPOND, {"id": pending["id"], "a": True}, headers=bearer(user.access)))[
        "invitationRespond"
    ]
    assert [(e["field"], e["code"]) for e in again["errors"]] == [("id", "NOT_FOUND")]


async def test_invitations_are_answered_only_by_their_confirmed_recipient(gql, smtp):
    inviter = await signup(gql, account="Inviters")
    await confirm_email(gql, inviter, smtp)
    invitee = await signup(gql, account="Home")
    await confirm_email(gql, invitee, smtp)
    bystander = await signup(gql, account="Elsewhere")
    await confirm_email(gql, bystander, smtp)
    assert (await gql.data(INVITE, {"input": {"email": invitee.email, "name": "X"}}, headers=inviter.headers()))[
        "agentInvite"
    ]["errors"] == []
    [pending] = (await gql.data(PENDING, headers=bearer(invitee.access)))["pendingInvitations"]
    assert (await gql.data(PENDING, headers=bearer(bystander.access)))["pendingInvitations"] == []
    stolen = (await gql.data(RESPOND, {"id": pending["id"], "a": True}, headers=bearer(bystander.access)))[
        "invitationRespond"
    ]
    assert [(e["field"], e["code"]) for e in stolen["errors"]] == [("id", "NOT_FOUND")] and stolen["membership"] is None
    assert (
        top_code(await gql.execute("{ account { name } }", headers=bystander.headers(inviter.account_id)))
        == "FORBIDDEN"
    )
    # Someone who signed up with an address but never confirmed it cannot collect its invitations.
    squatted = unique_email("squat")
    squatter = await signup(gql, email=squatted, account="Squat")
    assert (await gql.data(INVITE, {"input": {"email": squatted, "name": "X"}}, headers=inviter.headers()))[
        "agentInvite"
    ]["errors"] == []
    assert (await gql.data(PENDING, headers=bearer(squatter.access)))["pendingInvitations"] == []
    # Declining ends it; the inviting account still sees only a waiting email.
    declined = (await gql.data(RESPOND, {"id": pending["id"], "a": False}, headers=bearer(invitee.access)))[
        "invitationRespond"
    ]
    assert declined == {"membership": None, "errors": []}
    assert (
        top_code(await gql.execute("{ account { name } }", headers=invitee.headers(inviter.account_id))) == "FORBIDDEN"
    )
    listed = await gql.data("{ invitations { edges { node { email } } } }", headers=inviter.headers())
    assert invitee.email in {e["node"]["email"] for e in listed["invitations"]["edges"]}


async def test_an_unconfirmed_owner_cannot_invite(gql, smtp):
    admin = await signup(gql)
    body = (await gql.data(INVITE, {"input": {"email": unique_email("x"), "name": "X"}}, headers=admin.headers()))[
        "agentInvite"
    ]
    assert [(e["field"], e["code"]) for e in body["errors"]] == [(None, "EMAIL_NOT_VERIFIED")] and body[
        "invitation"
    ] is None
    listed = await gql.data("{ invitations { edges { node { email } } } }", headers=admin.headers())
    assert listed["invitations"]["edges"] == []


# --- 6. answers that are no oracle -----------------------------------------------------------------------


async def test_sign_up_answers_the_same_for_a_known_email(gql, smtp):
    owner = await signup(gql)
    smtp.clear()
    fresh = unique_email("fresh")
    answers = []
    for email in (owner.email.upper(), fresh):
        resp = await gql.post(
            SIGNUP, {"input": {"accountName": "X", "name": "B", "email": email, "password": "another secret"}}
        )
        assert resp.status_code == 200
        answers.append(resp.content)
    assert answers[0] == answers[1]
    assert json.loads(answers[0]) == {"data": {"accountCreate": {"account": None, "tokens": None, "errors": []}}}
    # Only the owner of each address learns what happened.
    warning = smtp.wait_for(owner.email, subject_contains="tried to sign up")
    assert "token=" not in smtp.text_of(warning)
    smtp.wait_for(fresh, subject_contains="Confirm your email")
    # The known email kept its password; the attempt created nothing.
    assert (await login(gql, owner.email, "another secret"))["errors"][0]["code"] == "INVALID_CREDENTIALS"
    me = await gql.data("{ me { memberships { account { name } } } }", headers=bearer(owner.access))
    assert [m["account"]["name"] for m in me["me"]["memberships"]] == ["Acme"]


async def test_widget_email_answers_the_same_when_another_contact_has_it(gql):
    w = await make_widget(gql)
    first = await w.visitor()
    mine = "otto@example.test"
    await first.data(f'mutation {{ widgetContactUpdate(input: {{email: "{mine}"}}) {{ {ERR} }} }}')
    doc = (
        "mutation($e: String!) { widgetContactUpdate(input: {email: $e}) { contact { name email verified } "
        + ERR
        + " } }"
    )
    second, third = await w.visitor(), await w.visitor()
    taken = await gql.post(doc, {"e": mine}, headers=second.headers)
    fresh = await gql.post(doc, {"e": "nobody@example.test"}, headers=third.headers)
    assert taken.content.replace(mine.encode(), b"E") == fresh.content.replace(b"nobody@example.test", b"E")
    assert taken.json()["data"]["widgetContactUpdate"]["errors"] == []
    # The second visitor was not linked to Otto's contact, and sees only its own (empty) history.
    contacts = await w.agent("{ contacts(first: 50) { edges { node { email } } } }")
    assert [e["node"]["email"] for e in contacts["contacts"]["edges"]].count(mine) == 1
    assert (await second.data("{ widgetConversations { id } }"))["widgetConversations"] == []


# --- 7. the sign-up limit and email confirmation -------------------------------------------------------


async def test_sign_ups_are_limited_per_address(pgql):
    for _ in range(3):
        body = await pgql.execute(
            SIGNUP,
            {"input": {"accountName": "Flood", "name": "F", "email": unique_email("flood"), "password": PASSWORD}},
            headers=from_ip("203.0.113.50"),
        )
        assert body["data"]["accountCreate"]["errors"] == []
    refused = await pgql.execute(
        SIGNUP,
        {"input": {"accountName": "Flood", "name": "F", "email": unique_email("flood"), "password": PASSWORD}},
        headers=from_ip("203.0.113.50"),
    )
    assert top_code(refused) == "RATE_LIMITED" and refused["errors"][0]["extensions"]["retryAfter"] >= 1
    other = await pgql.execute(
        SIGNUP,
        {"input": {"accountName": "Fine", "name": "F", "email": unique_email("fine"), "password": PASSWORD}},
        headers=from_ip("203.0.113.51"),
    )
    assert other["data"]["accountCreate"]["errors"] == []


async def test_a_sign_up_confirms_its_email_by_the_emailed_link(gql, smtp):
    admin = await signup(gql)
    me = "{ me { user { emailVerified } } }"
    assert (await gql.data(me, headers=bearer(admin.access)))["me"]["user"]["emailVerified"] is False
    token = smtp.token_in(smtp.wait_for(admin.email, subject_contains="Confirm your email"))
    verify = "mutation($t: String!) { emailVerify(input: {token: $t}) { emailVerified " + ERR + " } }"
    bad = (await gql.data(verify, {"t": "plyo_forged"}))["emailVerify"]
    assert bad["emailVerified"] is False and [(e["field"], e["code"]) for e in bad["errors"]] == [
        ("token", "INVALID_TOKEN")
    ]
    assert (await gql.data(verify, {"t": token}))["emailVerify"] == {"emailVerified": True, "errors": []}
    assert (await gql.data(me, headers=bearer(admin.access)))["me"]["user"]["emailVerified"] is True
    assert (await gql.data(verify, {"t": token}))["emailVerify"]["errors"][0]["code"] == "INVALID_TOKEN"
    invited = await gql.data(INVITE, {"input": {"email": unique_email("x"), "name": "X"}}, headers=admin.headers())
    assert invited["agentInvite"]["errors"] == []


async def test_the_in_memory_throttle_of_the_embedded_default_is_atomic_too(embedded_gql):
    admin = await signup(embedded_gql, account="Embedded throttle")
    bodies = await asyncio.gather(
        *(
            embedded_gql.execute(LOGIN, {"input": {"email": admin.email, "password": f"wrong guess {i}"}})
            for i in range(20)
        )
    )
    assert Counter(outcome(b) for b in bodies) == {"INVALID_CREDENTIALS": 5, "RATE_LIMITED": 15}
