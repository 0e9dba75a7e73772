"""The pipelined script connection the rate limits use (infra/resp.py), against a Redis server of
the test's own: replies reach their own callers when many calls share the connection, a call given
up does not shift the replies of the next ones, a forgotten script is sent again, and a restarted
server is reached again."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest
import redis as sync_redis

from infra.broadcast import make_redis
from infra.resp import PipelinedScript, RespError


def _script() -> str:
    # A text of its own per test: Redis has never seen its SHA, so the first call takes NOSCRIPT.
    return f"-- {uuid.uuid4().hex}\nreturn {{KEYS[1], redis.call('INCRBY', KEYS[1], ARGV[1])}}"


@contextlib.asynccontextmanager
async def _script_on(url: str) -> AsyncIterator[PipelinedScript]:
    client = make_redis(url)
    script = PipelinedScript.for_client(client, _script())
    assert script is not None
    try:
        yield script
    finally:
        script.close()
        await client.aclose()


async def test_calls_sharing_the_connection_get_their_own_replies_in_the_selected_database(private_redis):
    server = private_redis
    async with _script_on(f"redis://127.0.0.1:{server.port}/3") as script:
        assert script.db == 3
        replies = await asyncio.gather(*(script([f"k{i % 20}"], [i]) for i in range(200)))
        assert [reply[0] for reply in replies] == [f"k{i % 20}".encode() for i in range(200)]
        direct = sync_redis.Redis(port=server.port, db=3)
        totals = {f"k{n}": sum(i for i in range(200) if i % 20 == n) for n in range(20)}
        assert {key: int(direct.get(key)) for key in totals} == totals
        # One connection carried them all (and redis-py's client opened none).
        assert len(direct.client_list()) == 2  # this one and the script's
        direct.close()
        other = sync_redis.Redis(port=server.port, db=0)
        assert other.dbsize() == 0
        other.close()


async def test_a_call_given_up_does_not_shift_the_replies_of_the_next(private_redis):
    async with _script_on(private_redis.url) as script:
        await script(["warm"], [1])  # connected, the script cached
        given_up = asyncio.ensure_future(script(["first"], [1]))
        await asyncio.sleep(0)  # its command is on its way, its reply not read yet
        given_up.cancel()
        second = await script(["second"], [5])
        assert second == [b"second", 5]
        assert given_up.cancelled()
        assert await script(["first"], [1]) == [b"first", 2]  # the cancelled call did run in Redis


async def test_a_flushed_script_cache_and_a_restarted_server_are_recovered(private_redis):
    server = private_redis
    direct = sync_redis.Redis(port=server.port)
    async with _script_on(server.url) as script:
        assert await script(["n"], [1]) == [b"n", 1]
        direct.script_flush()
        assert await script(["n"], [1]) == [b"n", 2]

        server.restart()
        outcomes = []
        for _ in range(20):
            try:
                outcomes.append(await asyncio.wait_for(script(["n"], [1]), 2))
                break
            except ConnectionError:
                outcomes.append("lost")
                await asyncio.sleep(0.05)
        assert outcomes[-1] == [b"n", 1], outcomes  # a fresh server: the count starts again
        assert outcomes.count("lost") <= 1, outcomes  # the call that met the old connection, at most
    direct.close()


async def test_a_password_is_sent_and_a_wrong_one_refused(private_redis):
    server = private_redis
    direct = sync_redis.Redis(port=server.port)
    direct.config_set("requirepass", "s3cret")
    direct.close()
    good = make_redis(f"redis://:s3cret@127.0.0.1:{server.port}/1")
    bad = make_redis(f"redis://:wrong@127.0.0.1:{server.port}/1")
    ok = PipelinedScript.for_client(good, _script())
    refused = PipelinedScript.for_client(bad, _script())
    assert ok is not None and refused is not None
    try:
        assert await ok(["p"], [2]) == [b"p", 2]
        with pytest.raises(RespError):
            await refused(["p"], [2])
    finally:
        ok.close()
        refused.close()
        await good.aclose()
        await bad.aclose()


def test_tls_and_unix_sockets_keep_redis_py():
    assert PipelinedScript.for_client(make_redis("rediss://127.0.0.1:6390/0"), "return 1") is None
    assert PipelinedScript.for_client(make_redis("unix:///tmp/parley-none.sock"), "return 1") is None
