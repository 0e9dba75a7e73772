"""Who the client is: `parley serve` trusts X-Forwarded-For only from the proxies PARLEY_FORWARDED_ALLOW_IPS
names. By default a spoofed header changes nothing — the per-IP rate limit still counts the connecting
address; with 127.0.0.1 trusted, the forwarded address is the client's (rate limits, audit log)."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import TEST_DATABASE_URL, TEST_REDIS_URL
from tests.support.server import ProcessServer

QUERY = {"query": "{ __typename }"}


def serve(tmp_path, **env: str) -> ProcessServer:
    return ProcessServer(
        {
            "PARLEY_ENV": "test",
            "PARLEY_DATABASE_URL": TEST_DATABASE_URL,
            "PARLEY_REDIS_URL": TEST_REDIS_URL,
            "PARLEY_DATA_DIR": str(tmp_path),
            "PARLEY_WORKER_IN_PROCESS": "false",
            "PARLEY_DRAMATIQ_NAMESPACE": "parley-test",
            "PARLEY_LOG_LEVEL": "WARNING",
            "PARLEY_RATE_LIMIT_ANONYMOUS_PER_MINUTE": "3",
            **env,
        }
    )


def statuses(server: ProcessServer) -> list[int]:
    """Five anonymous requests, each claiming another client address."""
    with httpx.Client(base_url=server.url) as client:
        return [
            client.post("/graphql", json=QUERY, headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code
            for i in range(1, 6)
        ]


@pytest.mark.parametrize("trusted", [None, "127.0.0.1"])
async def test_a_forwarded_address_counts_only_from_a_trusted_proxy(tmp_path, database_url, trusted):
    env = {"PARLEY_FORWARDED_ALLOW_IPS": trusted} if trusted else {}
    with serve(tmp_path, **env) as server:
        got = statuses(server)
    if trusted is None:
        # One client (127.0.0.1) whatever it claims: its bucket of 3 is spent.
        assert got == [200, 200, 200, 429, 429]
    else:
        assert got == [200] * 5  # five clients, one request each
