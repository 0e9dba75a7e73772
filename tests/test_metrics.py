"""`/metrics` after a scripted workload: sign-in, queries, a message with its webhook delivered to a
real receiver, a rate-limited sign-in and a bad query, each counted under its own labels; the
endpoint itself answers only with the configured bearer token."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.accounts import LOGIN, PASSWORD, login, signup
from tests.support.desk import build_desk
from tests.test_webhooks import MESSAGE, create_webhook, hook_settings, receiver, wait_until  # noqa: F401

TOKEN = "metrics-test-token"


@pytest.fixture
def metrics_token(server) -> Iterator[str]:
    settings = server.settings
    saved = settings.metrics_token
    settings.metrics_token = TOKEN
    try:
        yield TOKEN
    finally:
        settings.metrics_token = saved


def scrape(server, token: str = TOKEN) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    resp = httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain")
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(resp.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def delta(before, after, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


async def test_metrics_are_off_without_a_token_and_refused_with_a_wrong_one(server, metrics_token):
    assert httpx.get(f"{server.url}/metrics").status_code == 401
    assert httpx.get(f"{server.url}/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
    server.settings.metrics_token = ""
    assert httpx.get(f"{server.url}/metrics", headers={"Authorization": "Bearer x"}).status_code == 404


async def test_a_scripted_workload_shows_in_the_counts(gql, smtp, server, receiver, metrics_token):
    desk = await build_desk(gql, smtp)
    await create_webhook(desk, receiver.url, ["MESSAGE_CREATED"])
    conversation = await desk.new_conversation("Where is my parcel?")
    await wait_until(lambda: len(receiver.events("message_created")) >= 1)
    await wait_until(lambda: value(scrape(server), "parley_webhook_deliveries_total", outcome="delivered") >= 1)
    before = scrape(server)

    signed_in = await login(gql, desk.admin.email, PASSWORD)
    assert signed_in["errors"] == []
    for _ in range(3):
        await desk.data(desk.agent, "query Inbox { me { user { id } } }")
    await desk.data(desk.agent, MESSAGE, {"c": conversation["id"], "t": "On its way", "p": False})
    # A bad query: a validation error, counted by its code.
    bad = await gql.execute("query Broken { noSuchField }")
    assert bad["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    # Wrong passwords until the sign-in throttle refuses.
    refused = None
    for _ in range(10):
        body = await gql.execute(LOGIN, {"input": {"email": desk.outsider.email, "password": "wrong password!"}})
        codes = [e["extensions"]["code"] for e in body.get("errors") or []]
        codes += [e["code"] for e in ((body.get("data") or {}).get("login") or {}).get("errors") or []]
        if "RATE_LIMITED" in codes:
            refused = body
            break
    assert refused is not None
    await wait_until(lambda: len(receiver.events("message_created")) >= 2)
    await wait_until(lambda: delta(before, scrape(server), "parley_webhook_deliveries_total", outcome="delivered") >= 1)
    after = scrape(server)

    assert delta(before, after, "parley_graphql_requests_total", operation="Inbox", outcome="ok") == 3
    assert delta(before, after, "parley_graphql_request_seconds_count", operation="Inbox") == 3
    assert delta(before, after, "parley_graphql_requests_total", operation="Broken", outcome="error") == 1
    assert delta(before, after, "parley_graphql_errors_total", code="GRAPHQL_VALIDATION_FAILED") == 1
    assert delta(before, after, "parley_rate_limit_refusals_total", limit="graphql") >= 1
    assert delta(before, after, "parley_events_relayed_total") >= 1
    assert delta(before, after, "parley_relay_lag_seconds_count") >= 1
    assert delta(before, after, "parley_webhook_deliveries_total", outcome="delivered") == 1
    assert delta(before, after, "parley_job_runs_total", actor="webhooks.fan_out", outcome="ok") >= 1
    assert delta(before, after, "parley_job_runs_total", actor="webhooks.deliver", outcome="ok") >= 1
    assert delta(before, after, "parley_job_seconds_count", actor="webhooks.deliver") >= 1
    assert value(after, "parley_db_pool_connections", state="size") > 0
    # Scrape-time gauges are there for every queue, whatever their values.
    assert ("parley_job_queue_depth", (("queue", "webhooks"), ("state", "waiting"))) in after


async def test_client_chosen_operation_names_are_bounded(gql, server, metrics_token):
    await gql.execute("query " + "x" * 100 + " { __typename }")
    after = scrape(server)
    assert not any(labels and dict(labels).get("operation", "").startswith("xxx") for _, labels in after)
    assert value(after, "parley_graphql_requests_total", operation="other", outcome="ok") >= 1


async def test_a_worker_process_samples_show_in_the_api_processes_metrics(database_url, smtp, tmp_path):
    """Multiprocess mode as operators run it: `parley serve` and a separate `parley worker` share a
    PROMETHEUS_MULTIPROC_DIR, and the API's /metrics counts the jobs only the worker ran."""
    import asyncio
    import os
    import subprocess
    import sys

    from tests.conftest import TEST_DATABASE_URL, TEST_REDIS_URL, _recreate_database
    from tests.support.gql import GraphQLHTTP
    from tests.support.server import ProcessServer

    url = TEST_DATABASE_URL + "_metrics_mp"
    await _recreate_database(url)
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = {
        "PARLEY_DATABASE_URL": url,
        "PARLEY_REDIS_URL": TEST_REDIS_URL,
        "PARLEY_DATA_DIR": str(tmp_path / "data"),
        "PARLEY_DRAMATIQ_NAMESPACE": "parley-metrics-mp",
        "PARLEY_WORKER_IN_PROCESS": "false",
        "PARLEY_METRICS_TOKEN": TOKEN,
        "PARLEY_SMTP_HOST": "127.0.0.1",
        "PARLEY_SMTP_PORT": str(smtp.port),
        "PARLEY_LOG_LEVEL": "WARNING",
        "PROMETHEUS_MULTIPROC_DIR": str(shared),
    }
    with ProcessServer(env, args=("--migrate",)) as api:
        worker_env = {**api.env}
        worker = subprocess.Popen(
            [sys.executable, "-m", "parley.cli", "worker"],
            env=worker_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=os.getcwd(),
        )
        try:
            gql = GraphQLHTTP(api.url)
            try:
                await signup(gql)  # its confirmation email is a job only the worker runs
            finally:
                await gql.aclose()
            await asyncio.to_thread(smtp.wait_for, "", 30, "Confirm")

            async def counted():
                samples = await asyncio.to_thread(scrape, api)
                runs = sum(v for (name, _), v in samples.items() if name == "parley_job_runs_total")
                return samples if runs >= 1 else None

            samples = await wait_until(counted, timeout=30)
            jobs = {
                dict(labels)["actor"] for (name, labels), v in samples.items() if name == "parley_job_runs_total" and v
            }
            assert jobs, samples  # counted in the worker process, shown by the API's
            answered = sum(v for (name, _), v in samples.items() if name == "parley_graphql_requests_total")
            assert answered >= 2  # the sign-up and the sign-in, counted in the API process
            assert {p.name.split("_")[0] for p in shared.glob("*.db")} >= {"counter"}
            assert len({p.name.rsplit("_", 1)[-1] for p in shared.glob("counter_*.db")}) >= 2  # two processes' files
        finally:
            worker.terminate()
            worker.wait(timeout=30)
