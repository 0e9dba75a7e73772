"""The worker runtime with real parts: a webhook event created while Redis is down is delivered once it
is back (outbox + sweeper), a `parley worker` killed mid-job loses nothing, SIGTERM lets a running job
finish, and the periodic housekeeping (expired tokens, event-log pruning) is scheduled and works.

Tests that stop Redis use a private `redis-server`; tests that kill workers run `parley worker` as child
processes, like an operator does."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from db.models import WebhookAttempt, WebhookDelivery
from db.session import create_session_factory
from schema.core.ids import decode_id
from tests.conftest import TEST_DATABASE_URL, TEST_REDIS_URL
from tests.support.accounts import signup
from tests.support.desk import ERR, build_desk
from tests.support.gql import GraphQLHTTP
from tests.support.receiver import Receiver
from tests.support.redis_proc import RedisProcess
from tests.support.server import LiveServer
from tests.test_webhooks import create_webhook, wait_until

FAST_HOOKS = {
    "webhooks_allow_private_targets": True,
    "webhooks_retry_base_seconds": 0.2,
    "webhooks_timeout_seconds": 30.0,
}


@contextlib.contextmanager
def own_server(settings, restore_to) -> Iterator[LiveServer]:
    """A LiveServer with settings of its own. The broker binding, the worker runtime and Dramatiq's
    event-loop thread are process-wide: give them back to the session server afterwards."""
    from dramatiq.asyncio import get_event_loop_thread, set_event_loop_thread

    from workers import runtime
    from workers.broker import configure_broker

    saved_loop = get_event_loop_thread()
    # The other servers of this process (the session's) stop their schedulers meanwhile: their outbox
    # sweepers share the database and would send this server's jobs to their own brokers.
    paused = [other for other in list(LiveServer.running) if other.pause_scheduler()]
    server = LiveServer(settings)
    try:
        yield server.start()
    finally:
        server.stop()
        for other in paused:
            other.resume_scheduler()
        set_event_loop_thread(saved_loop)
        configure_broker(restore_to)
        runtime.init_resources(restore_to)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


# --- 1. Redis outage: outbox + sweeper, delivered once -----------------------------------------------


async def test_a_message_created_while_redis_is_down_is_delivered_once_after_it_returns(
    settings, smtp, receiver, tmp_path
):
    redis = RedisProcess().start()
    try:
        own = settings.model_copy(
            update={
                **FAST_HOOKS,
                "redis_url": redis.url,
                "data_dir": tmp_path,
                "dramatiq_namespace": f"parley-outage-{uuid.uuid4().hex[:6]}",
            }
        )
        with own_server(own, settings) as server:
            gql = GraphQLHTTP(server.url)
            try:
                desk = await build_desk(gql, smtp)
                await create_webhook(desk, receiver.url, ["MESSAGE_CREATED"])
                conversation = await desk.new_conversation("before the outage")
                await wait_until(lambda: receiver.events("message_created"))

                redis.stop()
                await desk.incoming(conversation["id"], "while Redis is down")
                await asyncio.sleep(2)
                assert [r.json()["message"]["content"] for r in receiver.events("message_created")] == [
                    "before the outage"
                ]

                redis.start()  # same port, empty: only the outbox knows about the job

                def during():
                    return [
                        r
                        for r in receiver.events("message_created")
                        if r.json()["message"]["content"] == "while Redis is down"
                    ]

                await wait_until(during, timeout=60, interval=0.2)
                await asyncio.sleep(3)  # anything duplicated would arrive by now
                requests = during()
                assert len({r.webhook_id for r in requests}) == 1, [r.webhook_id for r in requests]
                assert len({r.body for r in requests}) == 1
            finally:
                await gql.aclose()
    finally:
        redis.stop()


# --- 2. and 3. `parley worker` processes: SIGKILL and SIGTERM ----------------------------------------


class WorkerProcess:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
        self.env.update(env)
        self.log = tempfile.TemporaryFile()
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> WorkerProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "parley.cli", "worker"], env=self.env, stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while "worker.started" not in self.output():
            if self.proc.poll() is not None:
                raise RuntimeError(f"parley worker exited with {self.proc.returncode}: {self.output()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"parley worker did not start: {self.output()}")
            time.sleep(0.1)
        return self

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def workers() -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    try:
        yield started
    finally:
        for worker in started:
            worker.stop()


def worker_env(namespace: str, **extra: str) -> dict[str, str]:
    return {
        "PARLEY_ENV": "test",
        "PARLEY_DATABASE_URL": TEST_DATABASE_URL,
        "PARLEY_REDIS_URL": TEST_REDIS_URL,
        "PARLEY_DRAMATIQ_NAMESPACE": namespace,
        "PARLEY_LOG_LEVEL": "INFO",
        "PARLEY_LOG_FORMAT": "json",
        "PARLEY_WORKER_THREADS": "2",
        "PARLEY_WEBHOOKS_ALLOW_PRIVATE_TARGETS": "true",
        "PARLEY_WEBHOOKS_TIMEOUT_SECONDS": "60",
        "PARLEY_WORKER_HEARTBEAT_TIMEOUT_MS": "3000",
        "PARLEY_WORKER_MAINTENANCE_CHANCE": "1000000",
        **extra,
    }


async def _desk_without_agents(gql: GraphQLHTTP):
    """An administrator, an API inbox and a contact: no invitation email needed (no worker yet)."""
    admin = await signup(gql, account="Workers")
    h = admin.headers()
    inbox = await gql.data(
        f'mutation {{ inboxCreate(input: {{name: "API", channelType: API}}) {{ inbox {{ id }} {ERR} }} }}', headers=h
    )
    contact = await gql.data(
        f'mutation {{ contactCreate(input: {{name: "Kim"}}) {{ contact {{ id }} {ERR} }} }}', headers=h
    )
    return admin, inbox["inboxCreate"]["inbox"]["id"], contact["contactCreate"]["contact"]["id"]


async def _start_conversation(gql, admin, inbox_id, contact_id) -> str:
    body = await gql.data(
        f"""mutation($i: ID!, $c: ID!) {{ conversationCreate(input: {{inboxId: $i, contactId: $c}})
      {{ conversation {{ id }} {ERR} }} }}""",
        {"i": inbox_id, "c": contact_id},
        headers=admin.headers(),
    )
    assert body["conversationCreate"]["errors"] == [], body
    return body["conversationCreate"]["conversation"]["id"]


class _Desk:  # what create_webhook needs
    def __init__(self, gql, admin) -> None:
        self.gql, self.admin = gql, admin

    async def data(self, who, document, variables=None):
        return await self.gql.data(document, variables, headers=who.headers())


async def _delivery_state(db_engine) -> tuple[list, list]:
    async with db_engine.connect() as conn:
        deliveries = (await conn.execute(select(WebhookDelivery.status, WebhookDelivery.message_id))).all()
        tries = (await conn.execute(select(WebhookAttempt.status_code).order_by(WebhookAttempt.id))).scalars().all()
    return deliveries, list(tries)


async def test_a_worker_killed_mid_job_loses_nothing(settings, receiver, workers, db_engine, tmp_path):
    namespace = f"parley-kill-{uuid.uuid4().hex[:6]}"
    api = settings.model_copy(
        update={**FAST_HOOKS, "worker_in_process": False, "dramatiq_namespace": namespace, "data_dir": tmp_path}
    )
    with own_server(api, settings) as server:
        gql = GraphQLHTTP(server.url)
        try:
            admin, inbox_id, contact_id = await _desk_without_agents(gql)
            await create_webhook(_Desk(gql, admin), receiver.url, ["CONVERSATION_CREATED"])
            receiver.script((200, 60))  # the first request hangs: the job is running when the worker dies
            first = WorkerProcess(worker_env(namespace)).start()
            workers.append(first)
            await _start_conversation(gql, admin, inbox_id, contact_id)
            await wait_until(lambda: receiver.events("conversation_created"), timeout=30)

            first.proc.send_signal(signal.SIGKILL)
            first.proc.wait(timeout=10)
            receiver.release.set()  # let the orphaned request end
            killed_at = time.monotonic()
            second = WorkerProcess(worker_env(namespace)).start()
            workers.append(second)

            requests = await wait_until(
                lambda: len(receiver.events("conversation_created")) >= 2 and receiver.events("conversation_created"),
                timeout=60,
                interval=0.2,
            )
            # Not before the broker's heartbeat timeout (3 s here): the job was requeued, not lost.
            assert requests[1].at - killed_at >= 2.5
            assert requests[0].webhook_id == requests[1].webhook_id and requests[0].body == requests[1].body

            async def delivered():
                deliveries, tries = await _delivery_state(db_engine)
                return (deliveries, tries) if deliveries and deliveries[0][0].value == "delivered" else None

            deliveries, tries = await wait_until(delivered)
            assert len(deliveries) == 1 and tries == [200]
        finally:
            await gql.aclose()


async def test_sigterm_lets_the_running_job_finish(settings, receiver, workers, db_engine, tmp_path):
    namespace = f"parley-term-{uuid.uuid4().hex[:6]}"
    api = settings.model_copy(
        update={**FAST_HOOKS, "worker_in_process": False, "dramatiq_namespace": namespace, "data_dir": tmp_path}
    )
    with own_server(api, settings) as server:
        gql = GraphQLHTTP(server.url)
        try:
            admin, inbox_id, contact_id = await _desk_without_agents(gql)
            await create_webhook(_Desk(gql, admin), receiver.url, ["CONVERSATION_CREATED"])
            receiver.script((200, 3))  # answers after 3 s
            worker = WorkerProcess(worker_env(namespace)).start()
            workers.append(worker)
            await _start_conversation(gql, admin, inbox_id, contact_id)
            await wait_until(lambda: receiver.events("conversation_created"), timeout=30)

            worker.proc.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(worker.proc.wait, 30)
            assert code == 0, worker.output()
            assert "worker.stopped" in worker.output()
            deliveries, tries = await _delivery_state(db_engine)
            assert [d[0].value for d in deliveries] == ["delivered"] and tries == [200]
            assert len(receiver.requests) == 1
        finally:
            await gql.aclose()


# --- 4. periodic housekeeping --------------------------------------------------------------------------


def test_the_scheduler_runs_token_cleanup_and_event_pruning():
    from workers.scheduler import standard_scheduler

    names = [name for name, _, _ in standard_scheduler(None, None)._jobs]
    assert "tokens.cleanup" in names and "events.prune" in names and "outbox.sweep" in names


async def test_expired_tokens_and_old_events_are_removed(gql, db_engine):
    from workers.scheduler import cleanup_expired_tokens, prune_event_log

    member = await signup(gql, account="Housekeeping")
    account_pk = decode_id(member.account_id, "Account")
    now = datetime.now(UTC)
    old, recent = now - timedelta(days=3), now - timedelta(hours=1)
    async with db_engine.begin() as c:
        user_pk = (await c.execute(text("SELECT user_id FROM user_sessions LIMIT 1"))).scalar()
        for sid, expires, revoked in (
            ("expired", old, None),
            ("revoked", now + timedelta(days=5), old),
            ("fresh-revoked", now + timedelta(days=5), recent),
        ):
            await c.execute(
                text(
                    "INSERT INTO user_sessions (id, user_id, created_at, last_used_at, expires_at, revoked_at) "
                    "VALUES (:id, :u, :t, :t, :e, :r)"
                ),
                {"id": sid, "u": user_pk, "t": old, "e": expires, "r": revoked},
            )
            await c.execute(
                text("INSERT INTO refresh_tokens (session_id, token_hash, created_at) VALUES (:s, :h, :t)"),
                {"s": sid, "h": f"hash-{sid}", "t": old},
            )
        for i, (expires, used) in enumerate(
            ((old, None), (now + timedelta(days=1), old), (now + timedelta(days=1), None))
        ):
            await c.execute(
                text(
                    "INSERT INTO one_time_tokens (purpose, user_id, token_hash, created_at, expires_at, used_at) "
                    "VALUES ('password_reset', :u, :h, :t, :e, :used)"
                ),
                {"u": user_pk, "h": f"ott-{i}", "t": old, "e": expires, "used": used},
            )
        for i, (created, relayed) in enumerate(
            ((now - timedelta(days=40), True), (now - timedelta(days=40), False), (now - timedelta(days=2), True))
        ):
            await c.execute(
                text(
                    "INSERT INTO events (account_id, position, type, private, payload, created_at, relayed_at) "
                    "VALUES (:a, :p, 'contact.updated', false, '{}', :t, :r)"
                ),
                {"a": account_pk, "p": 1_000_000 + i, "t": created, "r": created if relayed else None},
            )
    sessions = create_session_factory(db_engine)
    removed = await cleanup_expired_tokens(sessions)
    assert removed == 4  # two sessions, two one-time tokens
    async with db_engine.connect() as c:
        ids = set((await c.execute(text("SELECT id FROM user_sessions"))).scalars())
        assert "expired" not in ids and "revoked" not in ids and "fresh-revoked" in ids
        assert len(ids) == 2  # with the signup's own session
        hashes = set((await c.execute(text("SELECT token_hash FROM refresh_tokens"))).scalars())
        assert "hash-expired" not in hashes and "hash-fresh-revoked" in hashes
        assert set((await c.execute(text("SELECT token_hash FROM one_time_tokens"))).scalars()) == {"ott-2"}
    async with db_engine.begin() as c:
        rule = (
            await c.execute(
                text(
                    "INSERT INTO automation_rules (account_id, name, description, event_name, conditions, actions,"
                    " active, created_at, updated_at) VALUES (:a, 'r', '', 'message_created', '[]', '[]', true, :t, :t)"
                    " RETURNING id"
                ),
                {"a": account_pk, "t": now},
            )
        ).scalar()
        for event_id, created in ((1, now - timedelta(days=40)), (2, now - timedelta(days=2))):
            await c.execute(
                text(
                    "INSERT INTO automation_runs (account_id, rule_id, event_id, outcome, actions_done, created_at)"
                    " VALUES (:a, :r, :e, 'not_matched', '[]', :t)"
                ),
                {"a": account_pk, "r": rule, "e": event_id, "t": created},
            )
    # The shared server's event sweeper may relay the old unrelayed event meanwhile (it announces
    # every unrelayed event); once relayed it is prunable like the first.
    async with db_engine.connect() as c:
        swept = await c.scalar(text("SELECT relayed_at IS NOT NULL FROM events WHERE position = 1000001"))
    # The old relayed event and the old automation run (and the swept one).
    assert await prune_event_log(sessions, days=30) == 2 + int(swept)
    async with db_engine.connect() as c:
        left = set((await c.execute(text("SELECT position FROM events WHERE position >= 1000000"))).scalars())
        runs = set((await c.execute(text("SELECT event_id FROM automation_runs"))).scalars())
    assert left == ({1_000_002} if swept else {1_000_001, 1_000_002})  # the unrelayed one stays, and the recent one
    assert runs == {2}
