"""Resolved credentials are kept per process (domain/accounts/auth_cache.py): every change that ends a
session or alters a membership, a role or a token takes effect on the next request to another
instance once the change's pub/sub announcement arrived, and within one lease of the limits even
when it never arrives — through the credentials' epoch read with the limits
(`test_the_next_request_sees_…`) — and while an instance cannot hear the broadcast it reads the
database instead."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from tests.conftest import make_settings
from tests.support.accounts import PASSWORD, add_agent, login, signup
from tests.support.gql import GraphQLHTTP
from tests.support.redis_proc import RedisProcess
from tests.support.server import LiveServer
from tests.test_accounts_admin import MEMBERSHIP_UPDATE, members_by_email

ME = "{ me { user { email } permissions } }"


@pytest.fixture(scope="module")
def other(settings) -> Iterator[LiveServer]:
    """A second instance on the same database and Redis (another replica)."""
    with LiveServer(settings) as live:
        yield live


@pytest.fixture
async def gql2(other: LiveServer):
    client = GraphQLHTTP(other.url)
    yield client
    await client.aclose()


def code(body: dict) -> str | None:
    errors = body.get("errors") or []
    return errors[0]["extensions"]["code"] if errors else None


def cache_of(server: LiveServer):
    return server.app.state.services.auth_cache


def silence_auth_announcements(monkeypatch, server: LiveServer) -> None:
    """The instance's credential-change announcements are never published (a lost announcement)."""
    from domain.events.channels import AUTH_CHANGED_CHANNEL

    broadcast = server.app.state.services.broadcast
    publish = broadcast.publish

    async def without_auth_announcements(channel, message, *args, **kwargs):
        if channel == AUTH_CHANGED_CHANNEL:
            return None
        return await publish(channel, message, *args, **kwargs)

    monkeypatch.setattr(broadcast, "publish", without_auth_announcements)


async def heard_by(server: LiveServer, change):
    """Run `change` (a request to the other instance) and wait until `server` has heard of it."""
    before = cache_of(server).generation
    result = await change
    await wait_until(lambda: cache_of(server).generation > before, 5)
    return result


async def cached(gql: GraphQLHTTP, server: LiveServer, headers: dict) -> dict:
    """Ask twice: the second answer must come from the cache (a hit, no database read). The changes
    that set the test up (sign-up, invitation, membership) announce themselves over pub/sub after
    their commit, and such a late announcement empties the cache between the two requests; so the
    pair is asked again, a few times, until the announcements have passed."""
    for _ in range(5):
        first = await gql.execute(ME, headers=headers)
        hits = cache_of(server).hits
        second = await gql.execute(ME, headers=headers)
        if cache_of(server).hits > hits:
            assert first.get("data") == second.get("data") and first.get("errors") == second.get("errors")
            return second
        await asyncio.sleep(0.3)
    raise AssertionError("the credential was not served from the cache")


@pytest.mark.parametrize(
    "document",
    [
        "mutation { logout { revokedSessions } }",
        "mutation { logoutEverywhere { revokedSessions } }",
        "mutation { passwordChange(input: {currentPassword: "
        + f'"{PASSWORD}"'
        + ', newPassword: "another long secret"}) { errors { code } } }',
    ],
)
async def test_a_session_ended_on_one_instance_is_refused_by_the_next_request_to_another(
    gql, gql2, server, other, document
):
    admin = await signup(gql)
    assert (await cached(gql, server, admin.headers()))["data"]["me"]["user"]["email"] == admin.email
    body = await heard_by(server, gql2.execute(document, headers=admin.headers()))
    assert "errors" not in body and not any(v.get("errors") for v in body["data"].values()), body
    assert code(await gql.execute(ME, headers=admin.headers())) == "UNAUTHENTICATED"


async def test_membership_changes_take_effect_on_the_next_request_to_another_instance(gql, gql2, server, smtp):
    admin = await signup(gql, account="Desk")
    agent = await add_agent(gql, admin, smtp)
    await cached(gql, server, agent.headers())
    assert code(await gql.execute("{ customRoles { id } }", headers=agent.headers())) == "FORBIDDEN"

    members = await members_by_email(gql2, admin)
    promoted = await heard_by(
        server,
        gql2.data(
            MEMBERSHIP_UPDATE,
            {"id": members[agent.email]["id"], "input": {"role": "ADMINISTRATOR"}},
            headers=admin.headers(),
        ),
    )
    assert promoted["membershipUpdate"]["errors"] == []
    assert (await gql.data("{ customRoles { id } }", headers=agent.headers()))["customRoles"] == []

    demoted = await heard_by(
        server,
        gql2.data(
            MEMBERSHIP_UPDATE, {"id": members[agent.email]["id"], "input": {"role": "AGENT"}}, headers=admin.headers()
        ),
    )
    assert demoted["membershipUpdate"]["errors"] == []
    assert code(await gql.execute("{ customRoles { id } }", headers=agent.headers())) == "FORBIDDEN"

    await cached(gql, server, agent.headers())
    removed = await heard_by(
        server,
        gql2.data(
            "mutation($id: ID!) { membershipRemove(id: $id) { errors { code } } }",
            {"id": members[agent.email]["id"]},
            headers=admin.headers(),
        ),
    )
    assert removed["membershipRemove"]["errors"] == []
    assert code(await gql.execute("{ conversations(first: 1) { edges { cursor } } }", headers=agent.headers())) == (
        "FORBIDDEN"
    )


async def test_a_custom_roles_new_permissions_apply_on_the_next_request_to_another_instance(gql, gql2, server, smtp):
    admin = await signup(gql, account="Desk")
    role = await gql.data(
        'mutation { customRoleCreate(input: {name: "triage", permissions: [CONVERSATION_MANAGE]}) '
        "{ customRole { id } errors { code } } }",
        headers=admin.headers(),
    )
    role_id = role["customRoleCreate"]["customRole"]["id"]
    agent = await add_agent(gql, admin, smtp, custom_role_id=role_id)
    assert (await cached(gql, server, agent.headers()))["data"]["me"]["permissions"] == ["CONVERSATION_MANAGE"]
    updated = await heard_by(
        server,
        gql2.data(
            "mutation($id: ID!) { customRoleUpdate(id: $id, input: {permissions: [CONVERSATION_PARTICIPATING_MANAGE]}) "
            "{ errors { code } } }",
            {"id": role_id},
            headers=admin.headers(),
        ),
    )
    assert updated["customRoleUpdate"]["errors"] == []
    me = await gql.data(ME, headers=agent.headers())
    assert me["me"]["permissions"] == ["CONVERSATION_PARTICIPATING_MANAGE"]


async def test_a_revoked_api_token_is_refused_by_the_next_request_to_another_instance(gql, gql2, server):
    admin = await signup(gql)
    created = await gql.data(
        'mutation { apiTokenCreate(input: {name: "ci"}) { secret apiToken { id } } }', headers=admin.headers()
    )
    token = {"Authorization": f"Bearer {created['apiTokenCreate']['secret']}"}
    await cached(gql, server, token)
    revoked = await heard_by(
        server,
        gql2.data(
            "mutation($id: ID!) { apiTokenRevoke(id: $id) { errors { code } } }",
            {"id": created["apiTokenCreate"]["apiToken"]["id"]},
            headers=admin.headers(),
        ),
    )
    assert revoked["apiTokenRevoke"]["errors"] == []
    assert code(await gql.execute(ME, headers=token)) == "UNAUTHENTICATED"


async def test_the_writers_own_instance_refuses_a_revoked_token_at_once(gql, server, monkeypatch):
    """The instance that committed a change forgets its credentials before it answers: the token's
    next request there is refused at once, though its limits are leased (no round trip that could
    read the epoch) and the announcement never arrives."""
    admin = await signup(gql)
    created = await gql.data(
        'mutation { apiTokenCreate(input: {name: "ci"}) { secret apiToken { id } } }', headers=admin.headers()
    )
    token = {"Authorization": f"Bearer {created['apiTokenCreate']['secret']}"}
    await cached(gql, server, token)
    silence_auth_announcements(monkeypatch, server)
    for _ in range(3):  # the token's limits leased: its next request makes no round trip
        assert code(await gql.execute(ME, headers=token)) is None
    revoked = await gql.data(
        "mutation($id: ID!) { apiTokenRevoke(id: $id) { errors { code } } }",
        {"id": created["apiTokenCreate"]["apiToken"]["id"]},
        headers=admin.headers(),
    )
    assert revoked["apiTokenRevoke"]["errors"] == []
    assert code(await gql.execute(ME, headers=token)) == "UNAUTHENTICATED"


@pytest.mark.parametrize("change", ["revoke", "promote"])
async def test_the_next_request_sees_the_change_within_a_lease_without_the_announcement(
    gql, gql2, server, other, smtp, monkeypatch, change
):
    """The writer bumps the credentials' epoch in Redis before it announces the change, and every
    instance reads the epoch with its limits at least once per lease (PARLEY_RATE_LIMIT_LEASE_SECONDS,
    infra/ratelimit.py `Leases`): with the announcement never delivered, the first request to the
    other instance after one lease refuses the revoked token, or applies the lower role."""
    admin = await signup(gql, account="Epoch")
    agent = await add_agent(gql, admin, smtp)
    created = await gql.data(
        'mutation { apiTokenCreate(input: {name: "ci"}) { secret apiToken { id } } }', headers=admin.headers()
    )
    token = {"Authorization": f"Bearer {created['apiTokenCreate']['secret']}"}
    for headers in (token, agent.headers(), admin.headers()):
        await cached(gql, server, headers)
    silence_auth_announcements(monkeypatch, other)
    before = cache_of(server).generation
    lease = server.app.state.services.settings.rate_limit_lease_seconds
    assert lease > 0  # the default: what production runs
    if change == "revoke":
        revoked = await gql2.data(
            "mutation($id: ID!) { apiTokenRevoke(id: $id) { errors { code } } }",
            {"id": created["apiTokenCreate"]["apiToken"]["id"]},
            headers=admin.headers(),
        )
        assert revoked["apiTokenRevoke"]["errors"] == []
        await asyncio.sleep(lease)
        # First a conversations list, which the compiled read path serves: it too resolves again.
        listed = await gql.execute("{ conversations(first: 1) { nodes { id } } }", headers=token)
        assert code(listed) == "UNAUTHENTICATED" and not (listed.get("data") or {}).get("conversations"), listed
        assert code(await gql.execute(ME, headers=token)) == "UNAUTHENTICATED"
    else:
        assert code(await gql.execute("{ customRoles { id } }", headers=agent.headers())) == "FORBIDDEN"
        members = await members_by_email(gql2, admin)
        promoted = await gql2.data(
            MEMBERSHIP_UPDATE,
            {"id": members[agent.email]["id"], "input": {"role": "ADMINISTRATOR"}},
            headers=admin.headers(),
        )
        assert promoted["membershipUpdate"]["errors"] == []
        await asyncio.sleep(lease)
        assert (await gql.data("{ customRoles { id } }", headers=agent.headers()))["customRoles"] == []
    # The first instance forgot its entries because of the epoch: the announcement never came.
    assert cache_of(server).generation > before


async def wait_until(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_without_the_broadcast_an_instance_reads_the_database_and_stays_correct(tmp_path):
    """Redis goes away: nobody can announce a sign-out, so the instance must not trust its cache."""
    redis = RedisProcess().start()
    servers: list[LiveServer] = []
    try:
        settings = make_settings(tmp_path, redis_url=redis.url, worker_in_process=False)
        servers = [LiveServer(settings).start(), LiveServer(settings).start()]
        a, b = (GraphQLHTTP(s.url) for s in servers)
        try:
            admin = await signup(a)
            await wait_until(lambda: servers[0].app.state.services.broadcast.live, 10)
            await cached(a, servers[0], admin.headers())
            redis.stop()
            await wait_until(lambda: not servers[0].app.state.services.broadcast.live, 15)
            # Signed out through the other instance: committed, but the announcement cannot go out.
            assert (await b.data("mutation { logout { revokedSessions } }", headers=admin.headers()))["logout"]
            assert code(await a.execute(ME, headers=admin.headers())) == "UNAUTHENTICATED"

            redis.start()  # same port: the subscription comes back, the cache with it
            await wait_until(lambda: servers[0].app.state.services.broadcast.live, 15)
            again = await login(a, admin.email)
            headers = {**admin.headers(), "Authorization": f"Bearer {again['tokens']['accessToken']}"}
            await cached(a, servers[0], headers)
        finally:
            await a.aclose()
            await b.aclose()
    finally:
        for server in servers:
            server.stop()
        redis.stop()
