"""Email digests of agents' notifications: one email per (user, conversation) whose oldest pending
email notification is due, collecting that conversation's notifications still unread."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import Conversation, Inbox, Message
from db.repositories import helpdesk as helpdesk_repo
from db.repositories import notifications as repo
from domain.notifications.service import preferences_of

SNIPPET = 300


def _snippet(message: Message | None) -> str:
    if message is None or message.deleted_at is not None:
        return ""
    text = " ".join(message.content.split())
    return text if len(text) <= SNIPPET else text[: SNIPPET - 1] + "…"


async def send_due_email_digests(session: AsyncSession, *, now: datetime | None = None, limit: int = 50) -> int:
    """Email each (user, conversation) whose oldest pending email notification is due: one email with
    all of that conversation's notifications still unread, if the user still wants them by email and
    may still see the conversation. Returns the number of emails queued (`email.send` jobs). A group
    that cannot be composed is logged and given up, so it never blocks the others."""
    from infra.logs import get_logger

    now = now or utcnow()
    queued = 0
    for account_id, user_id, conversation_id in await repo.due_email_groups(session, now, limit):
        try:
            async with session.begin_nested():
                queued += await _email_digest(session, account_id, user_id, conversation_id, now)
        except Exception:  # noqa: BLE001 - one bad group must not stop the sweep for ever
            get_logger("parley.notifications").exception(
                "notifications.digest_failed", user_id=user_id, conversation_id=conversation_id
            )
            await repo.give_up_emails(session, user_id, conversation_id, now)
    await session.flush()
    return queued


async def _email_digest(
    session: AsyncSession, account_id: int, user_id: int, conversation_id: int, now: datetime
) -> int:
    from db.models import Account, User
    from domain.email_templates import Safe, html_paragraphs, render
    from domain.events.outbox import add_job

    rows = await repo.lock_pending_emails(session, user_id, conversation_id)
    if not rows:
        return 0  # another sweeper has them
    for row in rows:
        row.email_done_at = now
    await session.flush()
    prefs = preferences_of(await repo.setting_of(session, account_id, user_id))
    wanted = [r for r in rows if r.read_at is None and r.notification_type in prefs.email]
    if not wanted:
        return 0
    actor = (await repo.member_actors(session, account_id, [user_id])).get(user_id)
    if actor is None or not await repo.can_see(session, actor, conversation_id):
        return 0
    user = await session.get_one(User, user_id)
    conversation = await session.get_one(Conversation, conversation_id)
    inbox = await session.get_one(Inbox, conversation.inbox_id)
    account = await session.get_one(Account, account_id)
    message_ids = [r.message_id for r in wanted if r.message_id is not None]
    messages = dict(await helpdesk_repo.messages_by_ids(session, message_ids))
    text_items, html_items = [], []
    for row in wanted:
        snippet = _snippet(messages.get(row.message_id) if row.message_id is not None else None)
        text_items.append(
            render("notification_digest_item.txt", title=row.title, snippet=f"\n  {snippet}" if snippet else "")
        )
        html_items.append(
            render(
                "notification_digest_item.html",
                title=row.title,
                snippet=Safe("<br>" + html_paragraphs(snippet)) if snippet else "",
            )
        )
    count = len(wanted)
    subject = wanted[0].title if count == 1 else f"{count} new notifications in conversation #{conversation.display_id}"
    intro = "You have a new notification:" if count == 1 else f"You have {count} new notifications:"
    common = dict(
        name=user.display_name or user.name,
        intro=intro,
        display_id=conversation.display_id,
        inbox=inbox.name,
        account=account.name,
    )
    text = render("notification_digest.txt", items="".join(text_items), **common)
    html_body = render("notification_digest.html", items=Safe("".join(html_items)), **common)
    add_job(session, "email.send", to=user.email, subject=subject, text=text, html=html_body)
    await session.flush()
    return 1
