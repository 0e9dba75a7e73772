"""Agent bots (Chatwoot's webhook bots): administrators create, change and delete them and connect
them to inboxes, one bot per inbox. A bot is told about its inboxes' conversations at its outgoing
URL (a webhook row of its own, signed with a secret encrypted at rest and shown once) and answers
through its API token, which reaches only the conversations of those inboxes."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import ApiToken, Bot, Inbox, Webhook
from db.repositories import accounts as repo
from db.repositories import helpdesk as helpdesk_repo
from db.repositories import webhooks as webhook_repo
from domain import audit, events
from domain.accounts import tokens
from domain.accounts.actor import Actor
from domain.audit import RequestMeta
from domain.errors import FieldError, NotFound, ValidationError
from domain.events.enums import EventType
from domain.webhooks import service as webhooks
from domain.webhooks import signing
from domain.webhooks.enums import BOT_EVENTS
from infra.api_names import camel_case
from infra.settings import Settings

MAX_NAME = 255
MAX_DESCRIPTION = 1000
MAX_BOTS = 50
KEEP: Any = object()  # an omitted input field


def _name(given: Any, errors: list[FieldError]) -> str:
    value = str(given or "").strip()
    if not value:
        errors.append(FieldError("name", "REQUIRED", "This field is required."))
    elif len(value) > MAX_NAME:
        errors.append(FieldError("name", "TOO_LONG", f"At most {MAX_NAME} characters."))
    return value


def _description(given: Any, errors: list[FieldError]) -> str:
    value = str(given or "").strip()
    if len(value) > MAX_DESCRIPTION:
        errors.append(FieldError("description", "TOO_LONG", f"At most {MAX_DESCRIPTION} characters."))
    return value


async def _url(given: Any, settings: Settings, errors: list[FieldError]) -> str | None:
    """A blank URL means none (the bot is not told anything); any other is vetted as a webhook's."""
    value = str(given or "").strip()
    if not value:
        return None
    found: list[FieldError] = []
    value = await webhooks.check_url(value, settings, found)
    errors.extend(FieldError("outgoingUrl", e.code, e.message) for e in found)
    return value


async def bot_or_404(session: AsyncSession, actor: Actor, bot_id: int) -> Bot:
    bot = await repo.bot_in_account(session, actor.require_account_id(), bot_id, lock=True)
    if bot is None:
        raise NotFound("No such bot")
    return bot


async def _sync_webhook(session: AsyncSession, bot: Bot, settings: Settings) -> str | None:
    """Keep the bot's webhook in step with its outgoing URL; the new signing secret when one is made."""
    existing = await webhook_repo.bot_webhook_of(session, bot.account_id, bot.id)
    if bot.outgoing_url is None:
        if existing is not None:
            await session.delete(existing)  # its deliveries and attempts go with it
            await session.flush()
        return None
    if existing is not None:
        if existing.url != bot.outgoing_url:
            existing.url = bot.outgoing_url
            existing.enabled, existing.disabled_reason, existing.failed_deliveries_in_row = True, None, 0
            existing.updated_at = utcnow()
        existing.description = f"Agent bot {bot.name}"[: webhooks.MAX_DESCRIPTION]
        await session.flush()
        return None
    secret = signing.new_secret()
    webhook = Webhook(
        account_id=bot.account_id,
        url=bot.outgoing_url,
        description=f"Agent bot {bot.name}"[: webhooks.MAX_DESCRIPTION],
        events=sorted(e.value for e in BOT_EVENTS),
        bot_id=bot.id,
        enabled=True,
        failed_deliveries_in_row=0,
    )
    webhooks.set_secret(webhook, secret, settings)
    session.add(webhook)
    await session.flush()
    return secret


async def create_bot(
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    *,
    name: str,
    description: str,
    outgoing_url: str | None,
    meta: RequestMeta,
) -> tuple[Bot, str, str | None]:
    """The new bot, its API token and (with an outgoing URL) its signing secret, both shown this once."""
    errors: list[FieldError] = []
    name = _name(name, errors)
    description = _description(description, errors)
    url = await _url(outgoing_url, settings, errors)
    if errors:
        raise ValidationError(errors)
    account_id = actor.require_account_id()
    if await repo.count_bots(session, account_id) >= MAX_BOTS:
        raise ValidationError.single(None, "LIMIT_REACHED", f"An account can have at most {MAX_BOTS} bots.")
    bot = Bot(account_id=account_id, name=name, description=description, outgoing_url=url)
    session.add(bot)
    await session.flush()
    # Its first token comes with it (one audit entry for both); more are made with apiTokenCreate.
    token, token_hash = tokens.new_secret(tokens.PREFIX_BOT)
    session.add(
        ApiToken(
            account_id=account_id,
            bot_id=bot.id,
            name=name[:100],
            token_prefix=token[:12],
            token_hash=token_hash,
            created_by_id=actor.user_id,
        )
    )
    audit.record(
        session, actor, "bot.create", "Bot", bot.id, {"name": name, "outgoingUrl": url, "tokenPrefix": token[:12]}, meta
    )
    secret = await _sync_webhook(session, bot, settings)
    return bot, token, secret


async def update_bot(
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    bot_id: int,
    *,
    name: Any = KEEP,
    description: Any = KEEP,
    outgoing_url: Any = KEEP,
    meta: RequestMeta,
) -> tuple[Bot, str | None]:
    """Omitted fields stay; a blank or null `outgoing_url` stops the bot's deliveries. A new signing
    secret is returned when the bot gets an outgoing URL it had none of."""
    bot = await bot_or_404(session, actor, bot_id)
    errors: list[FieldError] = []
    values: dict[str, Any] = {}
    if name is not KEEP:
        values["name"] = _name(name, errors)
    if description is not KEEP:
        values["description"] = _description(description, errors)
    if outgoing_url is not KEEP:
        values["outgoing_url"] = await _url(outgoing_url, settings, errors)
    if errors:
        raise ValidationError(errors)
    changes = {attr: [getattr(bot, attr), value] for attr, value in values.items() if getattr(bot, attr) != value}
    if not changes:
        return bot, None
    for attr, (_, value) in changes.items():
        setattr(bot, attr, value)
    bot.updated_at = utcnow()
    audit.record(session, actor, "bot.update", "Bot", bot.id, {camel_case(k): v for k, v in changes.items()}, meta)
    await session.flush()
    return bot, await _sync_webhook(session, bot, settings)


async def delete_bot(session: AsyncSession, actor: Actor, bot_id: int, meta: RequestMeta) -> Bot:
    """Its tokens and webhook go with it; its inboxes are left without a bot."""
    bot = await bot_or_404(session, actor, bot_id)
    for inbox in await helpdesk_repo.inboxes_of_bot(session, bot.account_id, bot.id):
        _disconnect(session, actor, inbox)
    audit.record(session, actor, "bot.delete", "Bot", bot.id, {"name": bot.name}, meta)
    await session.delete(bot)
    await session.flush()
    return bot


def _inbox_event(session: AsyncSession, actor: Actor, inbox: Inbox) -> None:
    events.record(
        session,
        account_id=inbox.account_id,
        type=EventType.INBOX_UPDATED,
        inbox_id=inbox.id,
        actor_user_id=actor.user_id,
        payload={"changed": ["botId"]},
    )


def _disconnect(session: AsyncSession, actor: Actor, inbox: Inbox) -> None:
    inbox.bot_id = None
    _inbox_event(session, actor, inbox)


async def set_inbox_bot(
    session: AsyncSession, actor: Actor, inbox_id: int, bot_id: int | None, meta: RequestMeta
) -> Inbox:
    """Connect the bot to the inbox (replacing the one it had), or with None leave it without one.
    Conversations already open stay as they are; new ones start pending while a bot is set."""
    account_id = actor.require_account_id()
    inbox = await helpdesk_repo.inbox_in_account(session, account_id, inbox_id, lock=True)
    if inbox is None:
        raise ValidationError.single("id", "NOT_FOUND", "No such inbox.")
    if bot_id is not None and await repo.bot_in_account(session, account_id, bot_id) is None:
        raise ValidationError.single("botId", "NOT_FOUND", "No such bot.")
    if inbox.bot_id == bot_id:
        return inbox
    audit.record(session, actor, "inbox.bot_set", "Inbox", inbox.id, {"botId": [inbox.bot_id, bot_id]}, meta)
    inbox.bot_id = bot_id
    _inbox_event(session, actor, inbox)
    await session.flush()
    return inbox
