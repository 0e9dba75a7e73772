"""The outbox is the only record of pending work: a job stays open until its actor has finished, so
neither a `parley worker` killed with jobs in flight on every queue nor a Redis that loses its data
(FLUSHDB, as a restart without persistence does) loses a webhook, a notification, a reporting row or
an email. Dramatiq's own recovery is left at its defaults here (a 60 s heartbeat, rare maintenance):
what brings the jobs back within seconds is the outbox lease and its sweeper."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid

import pytest
from sqlalchemy import select, text

from db.models import OutboxJob
from db.session import create_session_factory
from tests.support.accounts import INVITE, add_agent, unique_email
from tests.support.desk import ERR, user_id
from tests.support.gql import GraphQLHTTP
from tests.support.tcp_proxy import HoldingProxy
from tests.test_webhooks import create_webhook, wait_until
from tests.test_worker_runtime import (  # noqa: F401 - fixtures
    FAST_HOOKS,
    WorkerProcess,
    _Desk,
    _desk_without_agents,
    own_server,
    receiver,
    worker_env,
    workers,
)

# Kills workers and loses Redis data, counting on jobs to be back within seconds: no other test meanwhile.
pytestmark = pytest.mark.alone

# Dramatiq's defaults: a dead worker's messages would come back only after a minute, by chance.
DRAMATIQ_DEFAULTS = {"PARLEY_WORKER_HEARTBEAT_TIMEOUT_MS": "60000", "PARLEY_WORKER_MAINTENANCE_CHANCE": "1000"}
SHORT_LEASE = 4.0
QUEUED_ACTORS = {"webhooks.fan_out", "webhooks.deliver", "notifications.fan_out", "reports.record", "email.send"}


def _mail(smtp) -> dict[str, str]:
    return {"PARLEY_SMTP_HOST": "127.0.0.1", "PARLEY_SMTP_PORT": str(smtp.port), "PARLEY_SMTP_STARTTLS": "false"}


async def _scalar(db_engine, sql: str) -> int:
    async with db_engine.connect() as conn:
        return (await conn.execute(text(sql))).scalar_one()


async def _open_actors(db_engine) -> set[str]:
    async with db_engine.connect() as conn:
        return set((await conn.execute(select(OutboxJob.actor_name).where(OutboxJob.completed_at.is_(None)))).scalars())


async def _desk_with_agent(gql, smtp, receiver, events: list[str]):
    """An administrator, an API inbox worked by an agent, a contact, a webhook, and a way to start a
    conversation assigned to the agent. Needs a running worker (the invitation is emailed)."""
    admin, inbox_id, contact_id = await _desk_without_agents(gql)
    agent = await add_agent(gql, admin, smtp)
    body = await gql.data(
        f"""mutation($i: ID!, $u: [ID!]!) {{ inboxMembersSet(id: $i, userIds: $u) {{ inbox {{ id }} {ERR} }} }}""",
        {"i": inbox_id, "u": [await user_id(gql, agent)]},
        headers=admin.headers(),
    )
    assert body["inboxMembersSet"]["errors"] == []
    await create_webhook(_Desk(gql, admin), receiver.url, events)
    agent_id = await user_id(gql, agent)

    async def start() -> str:  # assigned to the agent, who is notified
        body = await gql.data(
            f"""mutation($i: ID!, $c: ID!, $a: ID) {{ conversationCreate(input: {{inboxId: $i, contactId: $c,
          assigneeId: $a}}) {{ conversation {{ id }} {ERR} }} }}""",
            {"i": inbox_id, "c": contact_id, "a": agent_id},
            headers=admin.headers(),
        )
        assert body["conversationCreate"]["errors"] == [], body
        return body["conversationCreate"]["conversation"]["id"]

    return admin, start


async def _state(db_engine, receiver) -> dict[str, int]:
    return {
        "deliveries": await _scalar(db_engine, "SELECT count(*) FROM webhook_deliveries"),
        "delivered": await _scalar(db_engine, "SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'"),
        "notified": await _scalar(db_engine, "SELECT count(DISTINCT event_id) FROM notifications"),
        "reported": await _scalar(
            db_engine, "SELECT count(*) FROM reporting_events WHERE name = 'conversation_opened'"
        ),
        "open_jobs": await _scalar(db_engine, "SELECT count(*) FROM outbox_jobs WHERE completed_at IS NULL"),
        "webhook_ids": len({r.webhook_id for r in receiver.events("conversation_created")}),
    }


async def _wait_all_done(db_engine, receiver, conversations: int, timeout: float) -> None:
    """Every conversation's webhook delivered (one id each), notification and reporting row made,
    and no outbox job left open."""
    want = {
        "deliveries": conversations,
        "delivered": conversations,
        "notified": conversations,
        "reported": conversations,
        "open_jobs": 0,
        "webhook_ids": conversations,
    }
    deadline = time.monotonic() + timeout
    state = await _state(db_engine, receiver)
    while state != want and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        state = await _state(db_engine, receiver)
    assert state == want


def _stable_ids(receiver, name: str) -> None:
    """Every request for one event carried the same webhook-id and the same bytes."""
    by_event: dict[str, set] = {}
    for r in receiver.events(name):
        by_event.setdefault(r.json()["conversation"]["id"], set()).add((r.webhook_id, r.body))
    assert all(len(v) == 1 for v in by_event.values()), by_event


async def test_a_killed_workers_jobs_on_every_queue_run_again_within_seconds(
    settings, smtp, receiver, workers, db_engine, tmp_path
):
    namespace = f"parley-lease-{uuid.uuid4().hex[:6]}"
    # A short lease, so that the margin below holds on a loaded machine: the killed worker renewed
    # its leases until it died, and its successor has to boot before it can sweep.
    api = settings.model_copy(
        update={
            **FAST_HOOKS,
            "worker_in_process": False,
            "dramatiq_namespace": namespace,
            "data_dir": tmp_path,
            "outbox_lease_seconds": SHORT_LEASE,
        }
    )
    proxy = HoldingProxy(smtp.port).start()  # the worker's SMTP server, which can be made to hang
    env = worker_env(
        namespace,
        **DRAMATIQ_DEFAULTS,
        **{**_mail(smtp), "PARLEY_SMTP_PORT": str(proxy.port)},
        PARLEY_OUTBOX_LEASE_SECONDS=str(SHORT_LEASE),
    )
    with own_server(api, settings) as server:
        gql = GraphQLHTTP(server.url)
        try:
            first = WorkerProcess(env).start()
            workers.append(first)
            admin, start = await _desk_with_agent(gql, smtp, receiver, ["CONVERSATION_CREATED"])
            # A webhook receiver that hangs: two attempts wait in the worker's delivery pool...
            receiver.script((200, 120), (200, 120))
            for _ in range(2):
                await start()
            await wait_until(lambda: len(receiver.events("conversation_created")) >= 2, timeout=30)
            # ...an SMTP server that hangs holds both job threads on two invitation emails...
            proxy.hold()
            held = [unique_email("held") for _ in range(2)]
            for email in held:
                body = await gql.data(
                    INVITE, {"input": {"email": email, "name": "Hal", "role": "AGENT"}}, headers=admin.headers()
                )
                assert body["agentInvite"]["errors"] == []
            await wait_until(lambda: len(proxy.held) >= 2, timeout=30)
            # ...so what comes next waits in the worker's prefetch, on every queue.
            for _ in range(2):
                await start()
            invited = unique_email("late")
            body = await gql.data(
                INVITE, {"input": {"email": invited, "name": "Lou", "role": "AGENT"}}, headers=admin.headers()
            )
            assert body["agentInvite"]["errors"] == []
            await asyncio.sleep(1)
            assert QUEUED_ACTORS <= await _open_actors(db_engine)

            first.proc.send_signal(signal.SIGKILL)
            first.proc.wait(timeout=10)
            receiver.release.set()
            proxy.release()
            second = WorkerProcess(env).start()
            workers.append(second)
            started = time.monotonic()

            await _wait_all_done(db_engine, receiver, 4, timeout=20)
            for email in (*held, invited):
                await asyncio.to_thread(smtp.wait_for, email)
            assert time.monotonic() - started < 15  # Dramatiq alone: a minute at least, by chance
            _stable_ids(receiver, "conversation_created")
            assert "outbox.resent" in second.output()
        finally:
            await gql.aclose()
            proxy.stop()


async def test_jobs_lost_with_redis_data_all_run_after_the_sweep(
    settings, smtp, receiver, workers, db_engine, redis_client, tmp_path
):
    from domain.events.relay import _message
    from workers.scheduler import requeue_stuck_deliveries

    namespace = f"parley-flush-{uuid.uuid4().hex[:6]}"
    api = settings.model_copy(
        update={**FAST_HOOKS, "worker_in_process": False, "dramatiq_namespace": namespace, "data_dir": tmp_path}
    )
    env = worker_env(namespace, **DRAMATIQ_DEFAULTS, **_mail(smtp))
    with own_server(api, settings) as server:
        gql = GraphQLHTTP(server.url)
        try:
            first = WorkerProcess(env).start()
            workers.append(first)
            admin, start = await _desk_with_agent(gql, smtp, receiver, ["CONVERSATION_CREATED"])
            first.proc.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(first.proc.wait, 30) == 0

            # No worker: the jobs are sent to Redis and wait there; the outbox keeps them open.
            for _ in range(3):
                await start()
            async with db_engine.connect() as conn:
                rows = (
                    await conn.execute(
                        select(OutboxJob.actor_name, OutboxJob.sends).where(OutboxJob.completed_at.is_(None))
                    )
                ).all()
            assert {name for name, _ in rows} >= {"webhooks.fan_out", "notifications.fan_out", "reports.record"}
            assert all(sends == 1 for _, sends in rows), rows
            assert await redis_client.dbsize() > 0
            await redis_client.flushdb()  # what a Redis restart without persistence leaves

            second = WorkerProcess(env).start()
            workers.append(second)
            await _wait_all_done(db_engine, receiver, 3, timeout=30)
            _stable_ids(receiver, "conversation_created")
            assert len(receiver.events("conversation_created")) == 3

            # A copy of a finished job (Dramatiq requeueing what the outbox sent again) does nothing.
            async with create_session_factory(db_engine)() as session:
                done = (
                    await session.scalars(
                        select(OutboxJob)
                        .where(OutboxJob.actor_name == "webhooks.deliver")
                        .order_by(OutboxJob.id)
                        .limit(1)
                    )
                ).one()
            assert done.completed_at is not None and done.dead is False
            broker = server.app.state.broker
            await asyncio.to_thread(broker.enqueue, _message(broker, done))
            await wait_until(lambda: "outbox.skipped_finished" in second.output(), timeout=15)
            await asyncio.sleep(1)
            assert len(receiver.events("conversation_created")) == 3

            # A delivery left pending long past its next attempt, with no job that will send it (a job
            # that dead-lettered, or one lost before jobs stayed open until done), is queued again.
            async with db_engine.begin() as conn:
                delivery_id = (
                    await conn.execute(text("SELECT id FROM webhook_deliveries ORDER BY id LIMIT 1"))
                ).scalar_one()
                await conn.execute(
                    text(
                        "UPDATE webhook_deliveries SET status = 'pending', completed_at = NULL, "
                        "created_at = now() - interval '1 hour' WHERE id = :d"
                    ),
                    {"d": delivery_id},
                )
                await conn.execute(
                    text("UPDATE webhook_attempts SET created_at = now() - interval '1 hour' WHERE delivery_id = :d"),
                    {"d": delivery_id},
                )
            sessions = create_session_factory(db_engine)
            assert await requeue_stuck_deliveries(sessions) == 1
            assert await requeue_stuck_deliveries(sessions) == 0  # its job is open now
            await wait_until(lambda: len(receiver.events("conversation_created")) == 4, timeout=30)
            _stable_ids(receiver, "conversation_created")
            await _wait_all_done(db_engine, receiver, 3, timeout=15)
        finally:
            await gql.aclose()


async def test_jobs_still_waiting_in_their_queue_are_leased_again_not_sent_again(
    settings, db_engine, redis_client, tmp_path
):
    """A backlog longer than a lease (no worker here) is left alone by the sweeper, which only asks
    Redis whether each copy still waits in its queue; once Redis has lost them, they all go again."""
    from domain.events.relay import sweep_outbox
    from tests.test_worker_runtime import _start_conversation
    from workers.broker import queue_probe

    namespace = f"parley-backlog-{uuid.uuid4().hex[:6]}"
    api = settings.model_copy(
        update={
            "worker_in_process": False,
            "dramatiq_namespace": namespace,
            "data_dir": tmp_path,
            "outbox_lease_seconds": 1.0,
        }
    )
    with own_server(api, settings) as server:
        gql = GraphQLHTTP(server.url)
        try:
            admin, inbox_id, contact_id = await _desk_without_agents(gql)
            for _ in range(3):
                await _start_conversation(gql, admin, inbox_id, contact_id)
            services, broker = server.app.state.services, server.app.state.broker
            probe = queue_probe(broker)
            assert probe is not None

            async def open_sends() -> list[int]:
                async with db_engine.connect() as conn:
                    return list(
                        (await conn.execute(select(OutboxJob.sends).where(OutboxJob.completed_at.is_(None)))).scalars()
                    )

            def sweep(with_probe: bool) -> int:
                return server.run_on_loop(
                    sweep_outbox(services.sessions, broker, lease_seconds=1.0, probe=probe if with_probe else None)
                )

            before = await open_sends()
            assert len(before) >= 6 and set(before) == {1}, before  # fan-outs of 3 conversations, sent once
            await asyncio.sleep(2.2)  # every lease has run out
            assert sweep(True) == 0  # all still queued: leased again, nothing sent
            assert set(await open_sends()) == {1}
            # Without asking the queue, each lapsed lease would send another copy.
            await asyncio.sleep(1.2)
            assert sweep(False) == len(before)
            assert set(await open_sends()) == {2}
            # Redis loses its data: the copies are gone, and the next sweep sends every job again.
            await redis_client.flushdb()
            await asyncio.sleep(2.2)
            assert sweep(True) == len(before)
            assert set(await open_sends()) == {3}
        finally:
            await gql.aclose()
