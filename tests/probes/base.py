"""What a tenancy-walk probe is (see tests/test_tenancy_walk.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

PAYLOAD_ERRORS = "errors { field code }"


async def until_finished(gql, query: str, variables: dict, headers: dict, timeout: float = 30) -> None:
    """Wait until the background job `query` reads (its root field's `status`) is DONE or FAILED: a
    job still running when the probes start would change B's state (its completion is audited) in
    the middle of one of them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = await gql.data(query, variables, headers=headers)
        if next(iter(data.values()))["status"] in ("DONE", "FAILED"):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the job read by {query!r} did not finish within {timeout}s")


@dataclass
class Probe:
    """A call of one root field. `ids` picks B's IDs out of the world; `inside_a` is what must happen
    when A's administrator makes it inside account A with B's IDs: FORBIDDEN/NOT_FOUND top-level,
    PAYLOAD (a typed NOT_FOUND in the payload), or OWN (succeeds, touching only A or the caller)."""

    document: str
    variables: Callable = lambda w: {}
    inside_a: str = "OWN"
