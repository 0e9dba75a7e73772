"""Words of the privacy duties."""

from __future__ import annotations

from enum import StrEnum


class DataExportStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
