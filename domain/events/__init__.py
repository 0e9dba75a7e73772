"""The event log and everything that follows a commit, in one package: the event types and who
consumes them (enums), the log (log), the job outbox (outbox), the work a transaction still owes
(pending), the one unit of work (unit), the relay and sweepers (relay) and the channel names
(channels).

`from domain import events` then `events.record(...)` is how services log an event."""

from domain.events.enums import CONSUMERS, PERSONAL_TYPES, Consumer, EventType, LiveType, Stream
from domain.events.log import commit, discard, finalize, record
from domain.events.pending import PendingWork, pending
from domain.events.relay import Relay
from domain.events.unit import unit_of_work

__all__ = [
    "CONSUMERS",
    "PERSONAL_TYPES",
    "Consumer",
    "EventType",
    "LiveType",
    "PendingWork",
    "Relay",
    "Stream",
    "commit",
    "discard",
    "finalize",
    "pending",
    "record",
    "unit_of_work",
]
