"""Inboxes: channels (web widget, API, email), their members and working hours."""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Inbox, InboxMember
from db.repositories import helpdesk as repo
from domain import audit, crypto, events
from domain.accounts.actor import Actor
from domain.audit import RequestMeta
from domain.enums import AssignmentPolicy, ChannelType
from domain.errors import FieldError, NotFound, ValidationError
from domain.events.enums import EventType
from domain.events.outbox import add_job
from domain.helpdesk import assignment
from domain.validation import is_email, matches
from domain.webhooks import service as webhooks
from infra.settings import Settings

COLOR_RE = re.compile(r"#[0-9a-fA-F]{6}")
# Checked with `matches` (length first): a host name of at most 253 characters and an optional port.
DOMAIN_RE = re.compile(r"(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?")
MAX_DOMAIN = 2 + 253 + 6
TIME_RE = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")
MAX_MEMBERS = 100
HMAC_TOKEN_CONTEXT = b"inbox-hmac-token"  # binds the ciphertext to its purpose


def set_hmac_token(inbox: Inbox, token: str, app_settings: Settings) -> None:
    inbox.hmac_token_encrypted = crypto.encrypt(token, app_settings, context=HMAC_TOKEN_CONTEXT)
    inbox.hmac_token_key_id = crypto.key_id_of(inbox.hmac_token_encrypted) or ""


def hmac_token_of(inbox: Inbox, app_settings: Settings) -> str:
    """The inbox's identity-verification secret (raises crypto.DecryptionError without its key)."""
    return crypto.decrypt(inbox.hmac_token_encrypted, app_settings, context=HMAC_TOKEN_CONTEXT)


def _validate_config(channel: ChannelType, config: dict[str, Any], errors: list[FieldError]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if channel == ChannelType.WEB_WIDGET:
        color = config.get("widgetColor") or "#1f93ff"
        if not matches(COLOR_RE, color, 7):
            errors.append(FieldError("widgetColor", "INVALID", "Use a colour like #1f93ff."))
        domains = [d.strip().lower() for d in (config.get("allowedDomains") or []) if d.strip()]
        if len(domains) > 50 or any(not matches(DOMAIN_RE, d, MAX_DOMAIN) for d in domains):
            errors.append(
                FieldError("allowedDomains", "INVALID", "Use up to 50 host names such as example.com or *.example.com.")
            )
        out.update(
            widget_color=color,
            website_url=(config.get("websiteUrl") or "")[:500],
            welcome_title=(config.get("welcomeTitle") or "")[:255],
            welcome_tagline=(config.get("welcomeTagline") or "")[:500],
            reply_time=config.get("replyTime") or "in_a_few_minutes",
            allowed_domains=domains,
        )
    elif channel == ChannelType.API:
        url = config.get("callbackUrl") or ""
        if url and not url.startswith(("http://", "https://")):
            errors.append(FieldError("callbackUrl", "INVALID", "Use an http(s) URL."))
        out.update(callback_url=url[:2000])
    elif channel == ChannelType.EMAIL:
        email = (config.get("email") or "").strip().lower()
        if not is_email(email):
            errors.append(FieldError("email", "INVALID_EMAIL", "Enter the inbox's email address."))
        out.update(email=email)
    return out


def _validate_hours(hours: list[dict[str, Any]] | None, errors: list[FieldError]) -> list[dict[str, Any]]:
    if hours is None:
        return []
    days = {}
    for entry in hours:
        day = entry.get("dayOfWeek")
        if not isinstance(day, int) or not 0 <= day <= 6 or day in days:
            errors.append(FieldError("workingHours", "INVALID", "One entry per day, dayOfWeek 0 (Sunday) to 6."))
            return []
        closed = bool(entry.get("closedAllDay"))
        open_all = bool(entry.get("openAllDay"))
        start, end = entry.get("openTime"), entry.get("closeTime")
        if not closed and not open_all:
            if (
                not (
                    isinstance(start, str)
                    and matches(TIME_RE, start, 5)
                    and isinstance(end, str)
                    and matches(TIME_RE, end, 5)
                )
                or start >= end
            ):
                errors.append(
                    FieldError("workingHours", "INVALID", "Open and close times are HH:MM with open before close.")
                )
                return []
        days[day] = {
            "day_of_week": day,
            "closed_all_day": closed,
            "open_all_day": open_all,
            "open_time": None if closed or open_all else start,
            "close_time": None if closed or open_all else end,
        }
    return [days[d] for d in sorted(days)]


async def create_inbox(
    session: AsyncSession,
    actor: Actor,
    *,
    name: str,
    channel_type: ChannelType,
    config: dict[str, Any],
    settings: dict[str, Any],
    meta: RequestMeta,
    app_settings: Settings,
) -> Inbox:
    errors: list[FieldError] = []
    name = name.strip()
    if not name or len(name) > 255:
        errors.append(FieldError("name", "REQUIRED", "Give the inbox a name of up to 255 characters."))
    channel_config = _validate_config(channel_type, config, errors)
    hours = _validate_hours(settings.get("workingHours"), errors)
    timezone = settings.get("timezone") or "UTC"
    _check_timezone(timezone, errors)
    assignment.check_limit(settings.get("autoAssignmentLimit"), "autoAssignmentLimit", errors)
    assignment.check_grace(settings.get("reassignOfflineAfterSeconds"), errors)
    if errors:
        raise ValidationError(errors)
    from domain.installation import limits

    await limits.check_inboxes(session, actor.require_account_id())
    inbox = Inbox(
        reassign_offline_after_seconds=settings.get("reassignOfflineAfterSeconds"),
        auto_assignment_policy=settings.get("autoAssignmentPolicy") or AssignmentPolicy.ROUND_ROBIN,
        auto_assignment_limit=settings.get("autoAssignmentLimit"),
        account_id=actor.account_id,
        name=name,
        channel_type=channel_type,
        channel_config=channel_config,
        website_token=secrets.token_urlsafe(18) if channel_type == ChannelType.WEB_WIDGET else None,
        api_identifier=secrets.token_urlsafe(18) if channel_type == ChannelType.API else None,
        hmac_mandatory=bool(settings.get("hmacMandatory")),
        greeting_enabled=bool(settings.get("greetingEnabled")),
        greeting_message=(settings.get("greetingMessage") or "")[:2000],
        out_of_office_message=(settings.get("outOfOfficeMessage") or "")[:2000],
        working_hours_enabled=bool(settings.get("workingHoursEnabled")),
        csat_survey_enabled=bool(settings.get("csatSurveyEnabled")),
        working_hours=hours,
        timezone=timezone,
        enable_auto_assignment=settings.get("enableAutoAssignment", True) is not False,
    )
    set_hmac_token(inbox, secrets.token_urlsafe(24), app_settings)
    session.add(inbox)
    await session.flush()
    await webhooks.sync_inbox_callback(session, inbox, app_settings)
    audit.record(
        session, actor, "inbox.create", "Inbox", inbox.id, {"name": name, "channelType": channel_type.value}, meta
    )
    events.record(
        session,
        account_id=actor.require_account_id(),
        type=EventType.INBOX_CREATED,
        inbox_id=inbox.id,
        actor_user_id=actor.user_id,
        payload={"name": name},
    )
    return inbox


def _check_timezone(value: str, errors: list[FieldError]) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        errors.append(FieldError("timezone", "INVALID_TIMEZONE", "Use an IANA time zone such as Europe/Berlin."))


async def update_inbox(
    session: AsyncSession,
    actor: Actor,
    inbox_id: int,
    *,
    name: str | None,
    config: dict[str, Any] | None,
    settings: dict[str, Any],
    meta: RequestMeta,
    app_settings: Settings,
) -> Inbox:
    inbox = await repo.inbox_in_account(session, actor.require_account_id(), inbox_id)
    if inbox is None:
        raise NotFound("No such inbox")
    errors: list[FieldError] = []
    changes: dict[str, Any] = {}
    if name is not None:
        name = name.strip()
        if not name or len(name) > 255:
            errors.append(FieldError("name", "REQUIRED", "Give the inbox a name of up to 255 characters."))
        changes["name"] = [inbox.name, name]
    new_config = None
    if config is not None:
        merged = {**_config_as_input(inbox), **{k: v for k, v in config.items() if v is not None}}
        new_config = _validate_config(inbox.channel_type, merged, errors)
    hours = _validate_hours(settings["workingHours"], errors) if settings.get("workingHours") is not None else None
    if settings.get("timezone") is not None:
        _check_timezone(settings["timezone"], errors)
    assignment.check_limit(settings.get("autoAssignmentLimit"), "autoAssignmentLimit", errors)
    assignment.check_grace(settings.get("reassignOfflineAfterSeconds"), errors)
    if errors:
        raise ValidationError(errors)
    if name is not None:
        inbox.name = name
    if new_config is not None:
        changes["channelConfig"] = [inbox.channel_config, new_config]
        inbox.channel_config = new_config
        await webhooks.sync_inbox_callback(session, inbox, app_settings)
    if hours is not None:
        inbox.working_hours = hours
    simple = {
        "greetingEnabled": "greeting_enabled",
        "greetingMessage": "greeting_message",
        "outOfOfficeMessage": "out_of_office_message",
        "workingHoursEnabled": "working_hours_enabled",
        "csatSurveyEnabled": "csat_survey_enabled",
        "timezone": "timezone",
        "enableAutoAssignment": "enable_auto_assignment",
        "hmacMandatory": "hmac_mandatory",
        "autoAssignmentPolicy": "auto_assignment_policy",
    }
    for key, attr in simple.items():
        if settings.get(key) is not None:
            changes[key] = [getattr(inbox, attr), settings[key]]
            setattr(inbox, attr, settings[key])
    if "autoAssignmentLimit" in settings and settings["autoAssignmentLimit"] != inbox.auto_assignment_limit:
        changes["autoAssignmentLimit"] = [inbox.auto_assignment_limit, settings["autoAssignmentLimit"]]
        inbox.auto_assignment_limit = settings["autoAssignmentLimit"]
    grace = settings.get("reassignOfflineAfterSeconds")
    if "reassignOfflineAfterSeconds" in settings and grace != inbox.reassign_offline_after_seconds:
        changes["reassignOfflineAfterSeconds"] = [inbox.reassign_offline_after_seconds, grace]
        inbox.reassign_offline_after_seconds = grace
    audit.record(session, actor, "inbox.update", "Inbox", inbox.id, changes, meta)
    events.record(
        session,
        account_id=actor.require_account_id(),
        type=EventType.INBOX_UPDATED,
        inbox_id=inbox.id,
        actor_user_id=actor.user_id,
        payload={"changed": sorted(changes)},
    )
    await session.flush()
    return inbox


def _config_as_input(inbox: Inbox) -> dict[str, Any]:
    c = inbox.channel_config or {}
    return {
        "widgetColor": c.get("widget_color"),
        "websiteUrl": c.get("website_url"),
        "welcomeTitle": c.get("welcome_title"),
        "welcomeTagline": c.get("welcome_tagline"),
        "replyTime": c.get("reply_time"),
        "allowedDomains": c.get("allowed_domains"),
        "callbackUrl": c.get("callback_url"),
        "email": c.get("email"),
    }


async def set_inbox_members(
    session: AsyncSession, actor: Actor, inbox_id: int, user_ids: Sequence[int], meta: RequestMeta
) -> Inbox:
    inbox = await repo.inbox_in_account(session, actor.require_account_id(), inbox_id)
    if inbox is None:
        raise NotFound("No such inbox")
    wanted = set(user_ids)
    if len(wanted) > MAX_MEMBERS:
        raise ValidationError.single("userIds", "TOO_MANY", f"At most {MAX_MEMBERS} members.")
    members = await repo.members_of_account(session, actor.require_account_id(), list(wanted))
    if wanted - members:
        raise ValidationError.single("userIds", "NOT_FOUND", "Every member must be an agent of this account.")
    current = set(await repo.inbox_member_ids(session, inbox.id))
    if wanted - current:
        session.add_all(
            InboxMember(account_id=actor.account_id, inbox_id=inbox.id, user_id=u) for u in sorted(wanted - current)
        )
    if current - wanted:
        await repo.remove_inbox_members(session, inbox.id, current - wanted)
        # Chatwoot: an agent who leaves an inbox gives its open conversations back (unassigned).
        from domain.helpdesk.conversations import change_assignee

        for conversation in await repo.open_conversations_of(session, inbox.id, current - wanted):
            await change_assignee(session, actor, conversation, None)
    if wanted != current:
        add_job(session, "assignment.run", account_id=inbox.account_id)
    audit.record(
        session,
        actor,
        "inbox.members",
        "Inbox",
        inbox.id,
        {"added": sorted(wanted - current), "removed": sorted(current - wanted)},
        meta,
    )
    await session.flush()
    return inbox
