"""Removing stored files: objects of deleted messages and contacts (queued through the outbox), and
uploads that never joined a message (a periodic sweep). Both are idempotent."""

from __future__ import annotations

from domain import attachments
from domain.storage import get_storage
from infra.logs import get_logger
from workers.broker import parley_actor
from workers.runtime import resources

log = get_logger("parley.attachments")


@parley_actor(name="attachments.delete_objects", queue="default", max_retries=10, time_limit_ms=300_000)
async def attachments_delete_objects(keys: list[str], outbox_id: int | None = None) -> None:
    """Delete stored objects whose rows are gone; a key already deleted is fine, so a retry is too."""
    count = await attachments.delete_objects(get_storage(resources().settings), keys)
    log.info("attachments.objects_deleted", count=count, outbox_id=outbox_id)


@parley_actor(name="attachments.sweep_orphans", queue="default", max_retries=3, time_limit_ms=600_000)
async def attachments_sweep_orphans() -> None:
    """Remove uploads older than a day that joined no message, in batches until none is left."""
    res = resources()
    storage = get_storage(res.settings)
    total = 0
    while True:
        async with res.sessions() as session:
            removed = await attachments.sweep_orphans(session, storage)
            await session.commit()
        total += removed
        if removed < attachments.DELETE_BATCH:
            break
    if total:
        log.info("attachments.orphans_removed", count=total)
