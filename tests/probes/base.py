"""What a tenancy-walk probe is (see tests/test_tenancy_walk.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

PAYLOAD_ERRORS = "errors { field code }"


@dataclass
class Probe:
    """A call of one root field. `ids` picks B's IDs out of the world; `inside_a` is what must happen
    when A's administrator makes it inside account A with B's IDs: FORBIDDEN/NOT_FOUND top-level,
    PAYLOAD (a typed NOT_FOUND in the payload), or OWN (succeeds, touching only A or the caller)."""

    document: str
    variables: Callable = lambda w: {}
    inside_a: str = "OWN"
