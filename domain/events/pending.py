"""What a transaction has caused and still owes the outside world, kept on its session: the events
to number and insert, the outbox jobs to send and the sessions to announce as ended once it
commits. One typed object under one key, so no module spells out `session.info` keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Event

_KEY = "parley_pending_work"


class Job(Protocol):
    """What sending a job reads of it: an outbox row, or the record of one just inserted."""

    @property
    def id(self) -> Any: ...
    @property
    def actor_name(self) -> Any: ...
    @property
    def kwargs(self) -> Any: ...
    @property
    def request_id(self) -> Any: ...
    @property
    def sends(self) -> Any: ...


@dataclass
class PendingWork:
    events: list[Event] = field(default_factory=list)  # recorded, numbered by `finalize`
    messages: dict[int, Any] = field(default_factory=dict)  # id(event) -> its Message, not flushed yet
    # id(event) -> consumers its writer knows have nothing to do with it (no job is written for them)
    not_for: dict[int, frozenset[str]] = field(default_factory=dict)
    finalized: list[Event] = field(default_factory=list)  # numbered and inserted, waiting for the commit
    jobs: list[Job] = field(default_factory=list)  # written in this transaction, sent after it
    revoked_session_ids: list[str] = field(default_factory=list)  # sockets of these sessions are closed
    auth_changed: bool = False  # rows authentication reads changed: processes forget resolved credentials

    def __bool__(self) -> bool:
        return bool(self.events or self.finalized or self.jobs or self.revoked_session_ids or self.auth_changed)


def pending(session: AsyncSession) -> PendingWork:
    """The session's pending work (made on first use)."""
    work = session.info.get(_KEY)
    if work is None:
        work = session.info[_KEY] = PendingWork()
    return work


def take(session: AsyncSession) -> PendingWork:
    """Remove and return the session's pending work (after its commit, or to drop it)."""
    work = session.info.pop(_KEY, None)
    return work if work is not None else PendingWork()
