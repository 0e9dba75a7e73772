"""Periodic work beside the worker: the outbox sweeper, snooze wake-ups, SLA deadlines, scheduled messages,
auto-resolve, digests and housekeeping."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from infra.logs import get_logger

if TYPE_CHECKING:
    from domain.events.relay import Relay
    from domain.inbound_email.imap_idle import IdleWatchers

log = get_logger("parley.scheduler")


class Scheduler:
    def __init__(self) -> None:
        self._jobs: list[tuple[str, float, Callable[[], Awaitable[object]]]] = []
        self._tasks: list[asyncio.Task] = []
        self._on_stop: list[Callable[[], Awaitable[object]]] = []
        self.imap_idle: IdleWatchers | None = None  # the IMAP IDLE watchers, when on

    def every(self, seconds: float, name: str, fn: Callable[[], Awaitable[object]]) -> None:
        self._jobs.append((name, seconds, fn))

    async def _loop(self, name: str, seconds: float, fn: Callable[[], Awaitable[object]]) -> None:
        while True:
            try:
                result = await fn()
                if result:
                    log.info("scheduler.ran", job=name, result=result)
            except asyncio.CancelledError:
                raise
            except Exception:  # a failing run must not stop the schedule
                log.exception("scheduler.failed", job=name)
            await asyncio.sleep(seconds)

    def on_stop(self, fn: Callable[[], Awaitable[object]]) -> None:
        """Called when the scheduler stops, after its periodic tasks (long-lived work they started)."""
        self._on_stop.append(fn)

    def start(self) -> None:
        for name, seconds, fn in self._jobs:
            self._tasks.append(asyncio.create_task(self._loop(name, seconds, fn), name=f"scheduler:{name}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        for fn in self._on_stop:
            with contextlib.suppress(Exception):
                await fn()


def standard_scheduler(sessions, broker, broadcast=None) -> Scheduler:
    """`broadcast` is anything with `async publish(channel, message)`: the app's Broadcast, or a
    Redis client in a worker process."""
    from domain.events.relay import Relay, sweep_events, sweep_outbox
    from workers.runtime import resources

    settings = resources().settings
    relay = Relay(sessions, broker, broadcast, settings.outbox_lease_seconds)
    from workers.broker import queue_probe

    probe = queue_probe(broker)
    scheduler = Scheduler()
    scheduler.every(
        settings.outbox_sweep_seconds,
        "outbox.sweep",
        lambda: sweep_outbox(sessions, broker, lease_seconds=settings.outbox_lease_seconds, probe=probe),
    )
    if broadcast is not None:
        scheduler.every(2.0, "events.sweep", lambda: sweep_events(sessions, broadcast))
    scheduler.every(15.0, "conversations.wake_snoozed", lambda: wake_snoozed_conversations(sessions, relay))
    scheduler.every(3600.0, "tokens.cleanup", _after_one_interval(lambda: cleanup_expired_tokens(sessions)))
    scheduler.every(3600.0, "events.prune", _after_one_interval(lambda: prune_event_log(sessions)))
    scheduler.every(60.0, "webhooks.requeue_stuck", _after_one_interval(lambda: requeue_stuck_deliveries(sessions)))
    scheduler.every(600.0, "idempotency_keys.cleanup", _after_one_interval(lambda: cleanup_idempotency_keys(sessions)))
    scheduler.every(3600.0, "attachments.sweep_orphans", lambda: enqueue_orphan_sweep(broker))
    from workers.actors.notifications import send_email_digests

    scheduler.every(2.0, "notifications.email_digests", lambda: send_email_digests(sessions, broker))
    from workers.actors.assignment import assign_waiting

    scheduler.every(settings.assignment_sweep_seconds, "assignment.waiting", lambda: assign_waiting(sessions, relay))
    scheduler.every(settings.sla_sweep_seconds, "sla.evaluate", lambda: evaluate_slas(sessions, relay))
    scheduler.every(settings.mail_imap_poll_seconds, "mail.imap_poll", lambda: poll_imap(sessions, relay))
    scheduler.every(
        settings.scheduled_messages_sweep_seconds, "messages.send_scheduled", lambda: send_scheduled(sessions, relay)
    )
    scheduler.every(
        settings.auto_resolve_sweep_seconds, "conversations.auto_resolve", lambda: auto_resolve(sessions, relay)
    )
    if settings.mail_imap_idle:
        watchers = imap_idle_watchers(sessions, relay)
        scheduler.every(settings.mail_imap_idle_check_seconds, "mail.imap_idle", watchers.check)
        scheduler.on_stop(watchers.stop)
        scheduler.imap_idle = watchers
    scheduler.every(3600.0, "privacy.retention", _after_one_interval(lambda: apply_retention(sessions, relay)))
    return scheduler


def imap_idle_watchers(sessions, relay: Relay):
    """The IMAP IDLE watchers of this scheduler (domain/inbound_email/imap_idle.py)."""
    from domain.attachments import AttachmentConfig
    from domain.inbound_email.imap_idle import IdleWatchers
    from domain.inbound_email.receive import InboundConfig
    from workers.runtime import resources

    settings = resources().settings
    config = InboundConfig(settings, AttachmentConfig.from_settings(settings))
    return IdleWatchers(sessions, relay, config, settings.mail_imap_idle_check_seconds)


async def send_scheduled(sessions, relay: Relay | None = None) -> int:
    """Send the scheduled messages whose time has come, each claimed under a lock other schedulers
    skip and marked sent in the unit of work that writes it."""
    from domain.events import Relay, unit_of_work
    from domain.scheduling.service import send_due

    relay = relay or Relay(sessions, None, None, 0.0)
    return await send_due(lambda: unit_of_work(sessions, relay))


async def auto_resolve(sessions, relay: Relay | None = None) -> int:
    """Resolve the conversations idle for longer than their account's auto-resolve setting."""
    from domain.automatic_messages.service import resolve_idle
    from domain.events import Relay, unit_of_work

    async with unit_of_work(sessions, relay or Relay(sessions, None, None, 0.0)) as session:
        return await resolve_idle(session)


async def apply_retention(sessions, relay: Relay | None = None) -> int:
    """Accounts' retention policies, batch by batch; each batch's file deletions are jobs after its commit."""
    from domain.events import Relay, unit_of_work
    from domain.privacy import retention

    relay = relay or Relay(sessions, None, None, 0.0)
    done = await retention.apply_all(sessions, lambda: unit_of_work(sessions, relay))
    return done.messages + done.attachments


async def poll_imap(sessions, relay: Relay) -> int:
    """Read the email inboxes' IMAP mailboxes (each under a lease, so schedulers never read one twice)."""
    from domain.attachments import AttachmentConfig
    from domain.inbound_email.imap import poll_all
    from domain.inbound_email.receive import InboundConfig
    from workers.runtime import resources

    settings = resources().settings
    return await poll_all(sessions, relay, InboundConfig(settings, AttachmentConfig.from_settings(settings)))


async def wake_snoozed_conversations(sessions, relay: Relay | None = None) -> int:
    """Reopen conversations whose snooze ended. Without a relay, their events and jobs are relayed
    by the sweepers."""
    from domain.events import Relay, unit_of_work
    from domain.helpdesk.conversations import wake_snoozed

    async with unit_of_work(sessions, relay or Relay(sessions, None, None, 0.0)) as session:
        return await wake_snoozed(session)


async def evaluate_slas(sessions, relay: Relay | None = None) -> int:
    """Record the SLA warnings and misses that came due, a batch per transaction: the rows are claimed
    with locks other schedulers skip, and cleared in the transaction that records their events."""
    from domain.events import Relay, unit_of_work
    from domain.sla.tracking import MAX_PER_PASS, evaluate_due

    total = 0
    while True:
        async with unit_of_work(sessions, relay or Relay(sessions, None, None, 0.0)) as session:
            recorded, claimed = await evaluate_due(session)
        total += recorded
        if claimed < MAX_PER_PASS or not recorded:  # rows skipped for a lock wait for the next pass
            return total


async def enqueue_orphan_sweep(broker) -> None:
    """Uploads that joined no message within a day are removed by a job (it needs the storage)."""
    from workers.actors.attachments import attachments_sweep_orphans

    await asyncio.to_thread(broker.enqueue, attachments_sweep_orphans.message())


def _after_one_interval(fn: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[object]]:
    """Housekeeping waits one interval after start-up instead of running in the start-up rush."""
    started = False

    async def run() -> object:
        nonlocal started
        if not started:
            started = True
            return 0
        return await fn()

    return run


async def cleanup_expired_tokens(sessions) -> int:
    """Expired or revoked sessions (with their refresh tokens) and spent one-time tokens."""
    from domain.jobs import delete_expired_tokens, delete_spent_one_time_tokens

    # One table per transaction: short locks, no lock-order cycles with other writers.
    async with sessions() as session, session.begin():
        removed = await delete_expired_tokens(session)
    async with sessions() as session, session.begin():
        return removed + await delete_spent_one_time_tokens(session)


async def prune_event_log(sessions, days: int | None = None) -> int:
    """Relayed events older than PARLEY_EVENTS_RETENTION_DAYS, a batch at a time."""
    from domain.jobs import prune_events
    from workers.runtime import resources

    days = resources().settings.events_retention_days if days is None else days
    total = 0
    while True:
        async with sessions() as session, session.begin():
            removed = await prune_events(session, days=days)
        total += removed
        if removed == 0:
            return total


async def cleanup_idempotency_keys(sessions) -> int:
    """Idempotency keys past their expiry, a batch at a time."""
    from domain.jobs import delete_expired_idempotency_keys

    total = 0
    while True:
        async with sessions() as session, session.begin():
            removed = await delete_expired_idempotency_keys(session)
        total += removed
        if removed == 0:
            return total


async def requeue_stuck_deliveries(sessions) -> int:
    """Webhook deliveries left pending past their next attempt with no job to send them; the outbox
    sweeper sends the jobs queued here."""
    from domain.jobs import requeue_stuck_deliveries as requeue
    from workers.runtime import resources

    settings = resources().settings
    grace = timedelta(seconds=max(60.0, 3 * settings.outbox_lease_seconds))
    async with sessions() as session, session.begin():
        return await requeue(session, settings, grace=grace)
