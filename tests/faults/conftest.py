"""The fault suite brings its own PostgreSQL cluster and Redis and restarts them: it needs neither the
shared test database nor the shared Redis, and must not empty them between tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolate() -> None:
    """Replaces the suite-wide fixture that empties the shared database and Redis."""
