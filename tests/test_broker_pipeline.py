"""The relay hands a batch of outbox jobs to Dramatiq's Redis broker in one pipeline of EVALSHA
calls, without redis-py's SCRIPT EXISTS before each one — from a thread, or on the event loop over a
pipelined connection of the loop's own (`enqueue_many_async`, one write for the batch); when Redis
has forgotten the script (a restart, SCRIPT FLUSH) it is loaded again and every message of the
batch still arrives once."""

from __future__ import annotations

import asyncio
import uuid

import dramatiq
import pytest
import redis

from tests.conftest import TEST_REDIS_URL
from workers.broker import _outbox_redis_broker_class, outbox_ref

# SCRIPT FLUSH empties the script cache of the whole Redis server: no other test meanwhile.
pytestmark = pytest.mark.alone


def _broker(namespace: str) -> dramatiq.Broker:
    broker = _outbox_redis_broker_class()(url=TEST_REDIS_URL, namespace=namespace, middleware=[])
    broker.declare_queue("default")
    return broker


def _messages(broker: dramatiq.Broker, first_id: int, n: int) -> list[dramatiq.Message]:
    return [
        dramatiq.Message(
            queue_name="default",
            actor_name="noop",
            args=(),
            kwargs={"n": i},
            options={"outbox_id": first_id + i, "outbox_send": 1},
        )
        for i in range(n)
    ]


def _waiting(client: redis.Redis, namespace: str) -> list[str]:
    return sorted(m.decode() for m in client.hkeys(f"{namespace}:default.msgs"))


def test_a_batch_goes_out_in_one_round_trip_and_survives_a_flushed_script_cache():
    namespace = f"parley-pipeline-{uuid.uuid4().hex[:8]}"
    broker = _broker(namespace)
    client = redis.Redis.from_url(TEST_REDIS_URL)
    try:
        before = client.info("commandstats").get("cmdstat_script|exists", {}).get("calls", 0)
        broker.enqueue_many(_messages(broker, 100, 3))  # type: ignore[attr-defined]
        broker.enqueue_many(_messages(broker, 200, 3))  # type: ignore[attr-defined]
        after = client.info("commandstats").get("cmdstat_script|exists", {}).get("calls", 0)
        assert after == before  # no SCRIPT EXISTS per batch

        client.script_flush()
        sent = broker.enqueue_many(_messages(broker, 300, 4))  # type: ignore[attr-defined]
        assert [m.options["redis_message_id"] for m in sent] == [outbox_ref(300 + i, 1) for i in range(4)]

        expected = sorted(outbox_ref(base + i, 1) for base, n in ((100, 3), (200, 3), (300, 4)) for i in range(n))
        assert _waiting(client, namespace) == expected  # each once, none twice after the reload
    finally:
        for key in client.scan_iter(f"{namespace}*"):
            client.delete(key)
        client.close()
        broker.close()


def test_on_the_event_loop_a_batch_is_one_write_and_survives_a_flushed_script_cache():
    from infra.resp import _Protocol

    namespace = f"parley-pipeline-{uuid.uuid4().hex[:8]}"
    broker = _broker(namespace)
    client = redis.Redis.from_url(TEST_REDIS_URL)
    writes: list[list[bytes]] = []  # the commands of each write, by name
    flush = _Protocol._flush

    def counted(protocol) -> None:
        writes.append([command.split(b"\r\n")[2] for command in protocol.outgoing])
        flush(protocol)

    async def send_all() -> list[list[dramatiq.Message]]:
        batches = [await broker.enqueue_many_async(_messages(broker, 100, 3))]  # type: ignore[attr-defined]
        client.script_flush()
        batches.append(await broker.enqueue_many_async(_messages(broker, 200, 4)))  # type: ignore[attr-defined]
        broker.close_lean()  # type: ignore[attr-defined]
        return batches

    try:
        _Protocol._flush = counted  # type: ignore[method-assign]
        first, second = asyncio.run(send_all())
    finally:
        _Protocol._flush = flush  # type: ignore[method-assign]
    try:
        calls = [names for names in writes if b"EVALSHA" in names]
        assert calls[0] == [b"EVALSHA"] * 3  # the first batch's three calls in one write
        assert [m.options["redis_message_id"] for m in second] == [outbox_ref(200 + i, 1) for i in range(4)]
        expected = sorted(outbox_ref(base + i, 1) for base, n in ((100, 3), (200, 4)) for i in range(n))
        assert _waiting(client, namespace) == expected  # each once, none twice after the reload
        assert len(first) == 3
    finally:
        for key in client.scan_iter(f"{namespace}*"):
            client.delete(key)
        client.close()
        broker.close()
