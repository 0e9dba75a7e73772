"""What a tenancy-walk probe is (see tests/test_tenancy_walk.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

PAYLOAD_ERRORS = "errors { field code }"


async def until_finished(gql, query: str, variables: dict, headers: dict, timeout: float = 30) -> None:
    """Wait until the background job `query` reads (its root field's `status`) is DONE or FAILED: a
    job still running when the probes start would change B's state (its completion is audited) in
    the middle of one of them."""
    from tests.test_webhooks import wait_until

    async def finished() -> bool:
        data = await gql.data(query, variables, headers=headers)
        return next(iter(data.values()))["status"] in ("DONE", "FAILED")

    await wait_until(finished, timeout=timeout)


@dataclass
class Probe:
    """A call of one root field. `ids` picks B's IDs out of the world; `inside_a` is what must happen
    when A's administrator makes it inside account A with B's IDs: FORBIDDEN/NOT_FOUND top-level,
    PAYLOAD (a typed NOT_FOUND in the payload), or OWN (succeeds, touching only A or the caller)."""

    document: str
    variables: Callable = lambda w: {}
    inside_a: str = "OWN"
