"""Messages Parley writes by itself (Chatwoot's message templates and CSAT survey), each in the unit
of work of what caused it:

- the inbox's greeting, on a conversation a contact opens (`greeting_enabled`, `greeting_message`);
- the inbox's out-of-office reply to a contact's message outside its working hours
  (`out_of_office_message`): once per stretch of closed hours, not to every message — it is written
  again only once working time has passed since the last one;
- the CSAT survey when a conversation is resolved (`csat_survey_enabled`), once per conversation: an
  `input_csat` message that the widget's `widgetCsatSubmit` answers, and, in an email inbox, an
  email with a signed link to the public survey page (domain/automatic_messages/csat_survey.py);
- auto-resolve (the account's `auto_resolve_after` minutes of inactivity, a scheduler pass), with the
  account's optional `auto_resolve_message`, an activity line and the usual status events.

Automatic messages are TEMPLATE messages from the system: contacts see them, replies do not count
them, and `contentAttributes.automatic` says which one it is."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import Account, Contact, Conversation, Inbox, Message
from db.repositories import automatic_messages as repo
from domain import events
from domain.accounts.actor import Actor
from domain.enums import ChannelType, MessageType, SenderType
from domain.errors import FieldError, ValidationError
from domain.events.enums import EventType
from domain.events.outbox import add_job
from domain.reports.business_hours import business_seconds
from domain.widget.config import open_now

GREETING = "greeting"
OUT_OF_OFFICE = "out_of_office"
CSAT_SURVEY = "csat_survey"
AUTO_RESOLVE = "auto_resolve"
INPUT_CSAT = "input_csat"  # Chatwoot's content_type of the survey message
CSAT_TEXT = "Please rate the conversation"
CSAT_EMAIL_JOB = "automatic_messages.csat_email"

MIN_AUTO_RESOLVE_MINUTES = 10  # Chatwoot's bounds
MAX_AUTO_RESOLVE_MINUTES = 999 * 24 * 60
MAX_AUTO_RESOLVE_MESSAGE = 2000
AUTO_RESOLVE_BATCH = 100


def _write(session: AsyncSession, conversation: Conversation, content: str, kind: str, **attributes: Any) -> Message:
    message = Message(
        account_id=conversation.account_id,
        conversation_id=conversation.id,
        inbox_id=conversation.inbox_id,
        message_type=MessageType.TEMPLATE,
        content=content,
        private=False,
        sender_type=SenderType.SYSTEM,
        content_attributes={"automatic": kind, **attributes},
        created_at=utcnow(),
    )
    session.add(message)
    events.record(
        session,
        account_id=conversation.account_id,
        type=EventType.MESSAGE_CREATED,
        conversation_id=conversation.id,
        contact_id=conversation.contact_id,
        inbox_id=conversation.inbox_id,
        message=message,
        payload={"message_type": MessageType.TEMPLATE.value, "automatic": kind},
    )
    return message


# --- greeting and out of office ------------------------------------------------------------------------


async def after_incoming(
    session: AsyncSession, conversation: Conversation, inbox: Inbox, *, now: datetime | None = None
) -> None:
    """A contact wrote: outside the inbox's working hours, the out-of-office reply (once per closed stretch)."""
    now = now or utcnow()
    message = (inbox.out_of_office_message or "").strip()
    if not inbox.working_hours_enabled or not message or open_now(inbox, now):
        return
    last = await repo.last_automatic(session, conversation.id, OUT_OF_OFFICE)
    if last is not None and not business_seconds(
        last.created_at, now, enabled=True, hours=inbox.working_hours, timezone=inbox.timezone
    ):
        return  # already told during these closed hours
    _write(session, conversation, message, OUT_OF_OFFICE)
    await session.flush()


async def after_opened(session: AsyncSession, conversation: Conversation, inbox: Inbox) -> None:
    """A contact opened a conversation: the inbox's greeting, if it has one."""
    message = (inbox.greeting_message or "").strip()
    if inbox.greeting_enabled and message:
        _write(session, conversation, message, GREETING)
        await session.flush()


# --- CSAT survey -------------------------------------------------------------------------------------------


async def after_resolved(session: AsyncSession, conversation: Conversation, *, reason: str | None = None) -> None:
    """The conversation was resolved: its CSAT survey, if the inbox asks for one and none went out yet.
    A merged conversation lives on in the one it joined, and a muted contact is told nothing."""
    if reason == "merged":
        return
    inbox = await session.get_one(Inbox, conversation.inbox_id)
    if not inbox.csat_survey_enabled:
        return
    contact = await session.get_one(Contact, conversation.contact_id)
    if contact.blocked or await repo.last_automatic(session, conversation.id, CSAT_SURVEY) is not None:
        return
    emailed = inbox.channel_type == ChannelType.EMAIL and bool(contact.email)
    _write(session, conversation, CSAT_TEXT, CSAT_SURVEY, content_type=INPUT_CSAT, emailed=emailed)
    await session.flush()
    if emailed:
        add_job(session, CSAT_EMAIL_JOB, conversation_id=conversation.id)


# --- auto-resolve ---------------------------------------------------------------------------------------------


def auto_resolve_settings(account: Account) -> tuple[int | None, str]:
    """(minutes of inactivity after which open conversations resolve or None, the message sent then)."""
    settings = account.settings or {}
    minutes = settings.get("auto_resolve_after")
    return (int(minutes) if isinstance(minutes, int) and minutes > 0 else None), str(
        settings.get("auto_resolve_message") or ""
    )


async def set_auto_resolve(
    session: AsyncSession, actor: Actor, *, after_minutes: int | None, message: str | None
) -> Account:
    """An administrator sets (or, with None, turns off) auto-resolve for the account."""
    errors: list[FieldError] = []
    if after_minutes is not None and not MIN_AUTO_RESOLVE_MINUTES <= after_minutes <= MAX_AUTO_RESOLVE_MINUTES:
        errors.append(
            FieldError(
                "afterMinutes",
                "OUT_OF_RANGE",
                f"Resolve after {MIN_AUTO_RESOLVE_MINUTES} minutes to 999 days of inactivity (or null: never).",
            )
        )
    if message is not None and len(message) > MAX_AUTO_RESOLVE_MESSAGE:
        errors.append(FieldError("message", "TOO_LONG", f"At most {MAX_AUTO_RESOLVE_MESSAGE:,} characters."))
    if errors:
        raise ValidationError(errors)
    account = await session.get_one(Account, actor.require_account_id(), with_for_update=True)
    settings = dict(account.settings or {})
    if after_minutes is None:
        settings.pop("auto_resolve_after", None)
    else:
        settings["auto_resolve_after"] = after_minutes
    if message is not None:
        if message.strip():
            settings["auto_resolve_message"] = message
        else:
            settings.pop("auto_resolve_message", None)
    account.settings = settings
    await session.flush()
    return account


def _inactivity(minutes: int) -> str:
    if minutes % (24 * 60) == 0:
        days = minutes // (24 * 60)
        return f"{days} day{'s' if days != 1 else ''}"
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{minutes} minutes"


async def resolve_idle(session: AsyncSession, now: datetime | None = None) -> int:
    """Resolve open conversations idle for longer than their account allows (a batch per call; rows
    another scheduler holds are skipped)."""
    from domain.helpdesk import conversations

    now = now or utcnow()
    resolved = 0
    system = Actor(label="system")
    for account in await repo.accounts_with_auto_resolve(session):
        minutes, message = auto_resolve_settings(account)
        if minutes is None:
            continue
        for conversation in await repo.idle_open_conversations(
            session, account.id, now - timedelta(minutes=minutes), AUTO_RESOLVE_BATCH - resolved
        ):
            if message.strip():
                _write(session, conversation, message, AUTO_RESOLVE)
            await conversations.resolve_automatically(
                session,
                system,
                conversation,
                now,
                activity=f"Conversation was marked resolved by system due to {_inactivity(minutes)} of inactivity",
                reason="auto_resolved",
            )
            resolved += 1
        if resolved >= AUTO_RESOLVE_BATCH:
            break
    await session.flush()
    return resolved
