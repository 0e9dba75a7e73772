"""A slow webhook receiver does not hold the queue: attempts run in the worker's delivery pool, off
its job threads, at most a few at a time to any one receiver. With two job threads and a receiver
that hangs on every request, a healthy receiver still gets every event within seconds, and the
agent's notifications still arrive; once the slow receiver answers, it gets every event too, each
with one stable webhook-id."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import text

from tests.support.gql import GraphQLHTTP
from tests.support.receiver import Receiver
from tests.test_outbox_leases import _desk_with_agent, _mail, _stable_ids
from tests.test_webhooks import create_webhook, wait_until
from tests.test_worker_runtime import FAST_HOOKS, WorkerProcess, _Desk, own_server, receiver, worker_env, workers  # noqa: F401

CONVERSATIONS = 12
PER_HOST = 3


async def test_a_hanging_receiver_holds_only_its_own_slots(settings, smtp, receiver, workers, db_engine, tmp_path):
    namespace = f"parley-pool-{uuid.uuid4().hex[:6]}"
    api = settings.model_copy(
        update={**FAST_HOOKS, "worker_in_process": False, "dramatiq_namespace": namespace, "data_dir": tmp_path}
    )
    env = worker_env(
        namespace, **_mail(smtp), PARLEY_WORKER_THREADS="2", PARLEY_WEBHOOKS_PER_HOST_CONCURRENCY=str(PER_HOST)
    )
    with Receiver() as slow, own_server(api, settings) as server:
        gql = GraphQLHTTP(server.url)
        try:
            workers.append(WorkerProcess(env).start())
            admin, start = await _desk_with_agent(gql, smtp, receiver, ["CONVERSATION_CREATED"])
            await create_webhook(_Desk(gql, admin), slow.url, ["CONVERSATION_CREATED"])
            slow.script(*[(200, 120)] * (CONVERSATIONS + 5))  # every request hangs until released

            for _ in range(CONVERSATIONS):
                await start()
            # The healthy receiver gets everything while the slow one hangs...
            await wait_until(lambda: len(receiver.events("conversation_created")) >= CONVERSATIONS, timeout=20)

            # ...and so do the notifications, which share the worker's job threads.
            async def notified() -> int:
                async with db_engine.connect() as conn:
                    return (
                        await conn.execute(
                            text(
                                "SELECT count(DISTINCT event_id) FROM notifications WHERE notification_type = 'conversation_assignment'"
                            )
                        )
                    ).scalar_one()

            for _ in range(100):
                if await notified() >= CONVERSATIONS:
                    break
                await asyncio.sleep(0.2)
            assert await notified() >= CONVERSATIONS
            # The slow receiver holds exactly its own slots, no more.
            await asyncio.sleep(1)
            assert len(slow.events("conversation_created")) == PER_HOST

            slow.release.set()
            await wait_until(
                lambda: (
                    len({r.json()["conversation"]["id"] for r in slow.events("conversation_created")}) >= CONVERSATIONS
                ),
                timeout=60,
            )
            _stable_ids(slow, "conversation_created")
            _stable_ids(receiver, "conversation_created")
        finally:
            await gql.aclose()
