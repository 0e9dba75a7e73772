"""A busy caller's rate limit and cost budget are taken from Redis a few requests at a time
(infra/ratelimit.py `Leases`, PARLEY_RATE_LIMIT_LEASE_SECONDS): most of its requests make no round
trip to Redis, yet no replica lets more through than the limit, and the budget each answer reports
is the caller's exact spend on that instance."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from tests.conftest import make_settings
from tests.support.accounts import signup
from tests.support.gql import GraphQLHTTP
from tests.support.server import LiveServer
from tests.test_limits import MEMBERS

PER_MINUTE = 120  # a lease covers at most PER_MINUTE // 32 = 3 requests
BUDGET = 200_000


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two instances on the same database and Redis (two replicas), leases on (the default)."""
    settings = make_settings(
        tmp_path_factory.mktemp("leases"),
        worker_in_process=False,
        rate_limit_authenticated_per_minute=PER_MINUTE,
        query_limits_by_caller={"user": {"cost_budget_per_hour": BUDGET}},
    )
    assert settings.rate_limit_lease_seconds > 0
    with LiveServer(settings) as one, LiveServer(settings) as two:
        yield one, two


@pytest.fixture
async def clients(pair):
    one, two = (GraphQLHTTP(server.url) for server in pair)
    yield one, two
    await one.aclose()
    await two.aclose()


def limiter(server: LiveServer):
    return server.app.state.services.rate_limiter


async def test_a_busy_caller_makes_few_round_trips_and_its_limit_holds_across_replicas(pair, clients):
    one, two = clients
    admin = await signup(one)
    # The sign-up's own requests spent a little of the caller's rate limit: wait for a full bucket
    # (the limit refills PER_MINUTE / 60 requests a second; 120 requests take a minute at most).
    await asyncio.sleep(60 * 3 / PER_MINUTE)
    before = limiter(pair[0]).round_trips
    for _ in range(30):
        assert (await one.post("{ serverInfo { name } }", headers=admin.headers())).status_code == 200
    trips = limiter(pair[0]).round_trips - before
    assert trips <= 15, f"{trips} round trips to Redis for 30 requests of one busy caller"

    # Now both replicas at once, for a caller of its own (a full bucket): together they let through
    # at most the limit (plus what refilled meanwhile), and at least the limit less what each may
    # hold unspent (one lease: 2 requests) and what the sign-up spent.
    admin = await signup(two)
    started = time.monotonic()
    answers = []
    for i in range(PER_MINUTE + 30):
        client = one if i % 2 else two
        answers.append((await client.post("{ serverInfo { name } }", headers=admin.headers())).status_code)
    elapsed = time.monotonic() - started
    served = answers.count(200)
    refilled = int(elapsed * PER_MINUTE / 60) + 1
    assert set(answers) == {200, 429}
    assert PER_MINUTE - 2 * 2 - 3 <= served <= PER_MINUTE + refilled, (served, elapsed)


async def test_the_budget_each_answer_reports_is_the_exact_spend_and_redis_counts_the_leases(pair, clients):
    one, two = clients
    admin = await signup(one)
    first = await one.execute(MEMBERS, {"n": 10}, headers=admin.headers())
    used = first["extensions"]["cost"]["budget"]["used"]
    cost = first["extensions"]["cost"]["requestedQueryCost"]
    assert cost == 41
    trips = limiter(pair[0]).round_trips
    for _ in range(20):
        body = await one.execute(MEMBERS, {"n": 10}, headers=admin.headers())
        budget = body["extensions"]["cost"]["budget"]
        assert budget["used"] == used + cost and budget["remaining"] == BUDGET - budget["used"]
        used = budget["used"]
    assert limiter(pair[0]).round_trips - trips <= 12  # leased: fewer round trips than requests
    # The other replica holds no lease for this caller: it reads what Redis counted, which includes
    # what the first took in advance (never less than it spent, at most one lease more).
    other = (await two.execute("{ rateLimit { used } }", headers=admin.headers()))["data"]["rateLimit"]["used"]
    assert used <= other <= used + BUDGET // 32
