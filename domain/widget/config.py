"""What the website widget reads from its inbox: the domains whose pages may embed it, and the
public configuration its page shows (colours, greeting, working hours and whether the team is in)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from db.base import utcnow
from db.models import Inbox


def allowed_domains(inbox: Inbox) -> list[str]:
    return list((inbox.channel_config or {}).get("allowed_domains") or [])


def origin_allowed(domains: list[str] | tuple[str, ...], origin: str | None) -> bool:
    """Whether a page on `origin` may use this inbox's widget: no domains configured = any; else the
    origin's host (with its port, if the entry names one) matches an entry, `*.example.com` also
    matching its subdomains."""
    if not domains or origin is None:
        return True
    parts = urlsplit(origin.strip().lower())
    host = parts.hostname or ""
    with_port = f"{host}:{parts.port}" if parts.port else host
    for entry in domains:
        entry = entry.lower()
        if entry.startswith("*."):
            base = entry[2:]
            if host == base or host.endswith("." + base) or with_port == base or with_port.endswith("." + base):
                return True
        elif entry in (host, with_port):
            return True
    return False


def open_now(inbox: Inbox, now: datetime | None = None) -> bool:
    """Within the inbox's working hours now (always, when working hours are off)."""
    if not inbox.working_hours_enabled:
        return True
    try:
        local = (now or utcnow()).astimezone(ZoneInfo(inbox.timezone or "UTC"))
    except Exception:  # noqa: BLE001 - a bad zone: treat as UTC
        local = now or utcnow()
    day = (local.weekday() + 1) % 7  # 0 = Sunday, as the inbox stores it
    entry = next((h for h in inbox.working_hours or [] if h.get("day_of_week") == day), None)
    if entry is None or entry.get("closed_all_day"):
        return False
    if entry.get("open_all_day"):
        return True
    clock = local.strftime("%H:%M")
    return (entry.get("open_time") or "00:00") <= clock < (entry.get("close_time") or "00:00")


def public_config(inbox: Inbox) -> dict[str, Any]:
    c = inbox.channel_config or {}
    return {
        "name": inbox.name,
        "widget_color": c.get("widget_color") or "#1f93ff",
        "welcome_title": c.get("welcome_title") or "",
        "welcome_tagline": c.get("welcome_tagline") or "",
        "reply_time": c.get("reply_time") or "in_a_few_minutes",
        "greeting_enabled": inbox.greeting_enabled,
        "greeting_message": inbox.greeting_message or "",
        "working_hours_enabled": inbox.working_hours_enabled,
        "working_hours": list(inbox.working_hours or []),
        "timezone": inbox.timezone,
        "out_of_office_message": inbox.out_of_office_message or "",
        "open_now": open_now(inbox),
        "hmac_mandatory": inbox.hmac_mandatory,
    }
