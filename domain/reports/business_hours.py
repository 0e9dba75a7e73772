"""Working time between two instants under an inbox's working hours and time zone (Chatwoot's
`value_in_business_hours`: 0 when working hours are disabled).

Each local day between the two instants contributes the overlap of its open interval with them. Open
and close times are wall-clock times in the inbox's zone, so a day on which the clocks change is as
long as the wall clock says (an 09:00–17:00 day stays 8 hours)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo


def _weekday(day: date) -> int:
    return (day.weekday() + 1) % 7  # 0 = Sunday, as Chatwoot stores it


def _at(day: date, clock: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, clock, tzinfo=zone).astimezone(UTC)


def business_seconds(
    start: datetime, end: datetime, *, enabled: bool, hours: Sequence[dict[str, Any]], timezone: str
) -> float:
    if not enabled or end <= start:
        return 0.0
    by_day = {h["day_of_week"]: h for h in hours or ()}
    zone = ZoneInfo(timezone or "UTC")
    day = start.astimezone(zone).date()
    last = end.astimezone(zone).date()
    total = 0.0
    while day <= last:
        entry = by_day.get(_weekday(day))
        if entry and not entry.get("closed_all_day"):
            if entry.get("open_all_day"):
                opens, closes = _at(day, time(0), zone), _at(day + timedelta(days=1), time(0), zone)
            else:
                opens = _at(day, time.fromisoformat(entry["open_time"]), zone)
                closes = _at(day, time.fromisoformat(entry["close_time"]), zone)
            overlap = (min(closes, end) - max(opens, start)).total_seconds()
            if overlap > 0:
                total += overlap
        day += timedelta(days=1)
    return total


MAX_DAYS = 3660  # a deadline further than ten years of open days is no deadline


def _open_interval(day: date, by_day: dict[int, dict[str, Any]], zone: ZoneInfo) -> tuple[datetime, datetime] | None:
    entry = by_day.get(_weekday(day))
    if not entry or entry.get("closed_all_day"):
        return None
    if entry.get("open_all_day"):
        return _at(day, time(0), zone), _at(day + timedelta(days=1), time(0), zone)
    return _at(day, time.fromisoformat(entry["open_time"]), zone), _at(
        day, time.fromisoformat(entry["close_time"]), zone
    )


def add_business_seconds(
    start: datetime, seconds: float, *, enabled: bool, hours: Sequence[dict[str, Any]], timezone: str
) -> datetime | None:
    """The instant `seconds` of working time after `start` (the inverse of `business_seconds`); with
    working hours disabled every second counts. None when the hours never open."""
    if not enabled:
        return start + timedelta(seconds=seconds)
    by_day = {h["day_of_week"]: h for h in hours or ()}
    zone = ZoneInfo(timezone or "UTC")
    day = start.astimezone(zone).date() - timedelta(days=1)  # an all-night interval may begin the day before
    remaining = float(seconds)
    for _ in range(MAX_DAYS):
        interval = _open_interval(day, by_day, zone)
        day += timedelta(days=1)
        if interval is None:
            continue
        opens, closes = interval
        begin = max(opens, start)
        if begin >= closes:
            continue
        available = (closes - begin).total_seconds()
        if remaining <= available:
            return begin + timedelta(seconds=remaining)
        remaining -= available
    return None
