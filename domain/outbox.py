"""The job outbox: jobs are written in the transaction of the change that causes them and sent to the
broker only after it commits (by the request, or later by the sweeper)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.models import OutboxJob
from parley.logs import request_id_var


def add_job(session: AsyncSession, actor_name: str, **kwargs: Any) -> OutboxJob:
    job = OutboxJob(actor_name=actor_name, kwargs=kwargs, request_id=request_id_var.get())
    session.add(job)
    session.info.setdefault("outbox_jobs", []).append(job)
    return job
