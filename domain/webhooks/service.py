"""Account webhooks: administrators create, change, disable and delete them; the signing secret is
encrypted at rest and shown only when made (creation, rotation). The event-log consumer fans events
out to one delivery per (webhook, event); the delivery job sends it, logs every attempt, retries what
may succeed later, and disables a webhook that keeps failing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.base import utcnow
from db.models import Account, Conversation, Event, Inbox, User, Webhook, WebhookAttempt, WebhookDelivery
from db.repositories import events as event_repo
from db.repositories import helpdesk as helpdesk_repo
from db.repositories import webhooks as repo
from domain import audit, crypto
from domain.accounts.actor import Actor
from domain.audit import RequestMeta
from domain.enums import ChannelType, ConversationStatus, MessageType
from domain.errors import FieldError, NotFound, ValidationError
from domain.events import outbox
from domain.events.enums import EventType
from domain.webhooks import delivery, payloads, signing, ssrf
from domain.webhooks.enums import BotEvent, WebhookDeliveryStatus, WebhookEvent
from infra import metrics, traces
from infra.api_names import camel_case
from infra.settings import Settings

DELIVER_ACTOR = "webhooks.deliver"
MAX_DESCRIPTION = 1000
MAX_RETRY_DELAY_SECONDS = 8 * 3600
SECRET_CONTEXT = b"webhook-secret"
KEEP: Any = object()  # an omitted input field


# --- configuration -------------------------------------------------------------------------------------


async def check_url(url: str, settings: Settings, errors: list[FieldError]) -> str:
    url = url.strip()
    try:
        await ssrf.vet(url, allow_private=settings.webhooks_allow_private_targets)
    except ssrf.TargetRefused as exc:
        errors.append(FieldError("url", exc.code, exc.message))
    return url


def _check_events(events: list[WebhookEvent], errors: list[FieldError]) -> list[str]:
    if not events:
        errors.append(FieldError("events", "REQUIRED", "Subscribe to at least one event."))
    return sorted({WebhookEvent(e).value for e in events})


async def _check_inbox(
    session: AsyncSession, actor: Actor, inbox_id: int | None, errors: list[FieldError]
) -> int | None:
    if (
        inbox_id is not None
        and await helpdesk_repo.inbox_in_account(session, actor.require_account_id(), inbox_id) is None
    ):
        errors.append(FieldError("inboxId", "NOT_FOUND", "No such inbox."))
    return inbox_id


def set_secret(webhook: Webhook, secret: str, settings: Settings) -> None:
    webhook.secret_encrypted = crypto.encrypt(secret, settings, context=SECRET_CONTEXT)
    webhook.secret_key_id = crypto.key_id_of(webhook.secret_encrypted) or ""
    webhook.secret_hint = signing.hint(secret)


def secret_of(webhook: Webhook, settings: Settings) -> str:
    return crypto.decrypt(webhook.secret_encrypted, settings, context=SECRET_CONTEXT)


async def webhook_or_404(session: AsyncSession, actor: Actor, webhook_id: int, *, lock: bool = False) -> Webhook:
    webhook = await repo.webhook_in_account(session, actor.require_account_id(), webhook_id, lock=lock)
    if webhook is None:
        raise NotFound("No such webhook")
    return webhook


async def create_webhook(
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    *,
    url: str,
    description: str,
    events: list[WebhookEvent],
    inbox_id: int | None,
    meta: RequestMeta,
) -> tuple[Webhook, str]:
    """The new webhook and its signing secret (shown this once)."""
    errors: list[FieldError] = []
    url = await check_url(url, settings, errors)
    if len(description) > MAX_DESCRIPTION:
        errors.append(FieldError("description", "TOO_LONG", f"At most {MAX_DESCRIPTION} characters."))
    names = _check_events(events, errors)
    inbox_id = await _check_inbox(session, actor, inbox_id, errors)
    if errors:
        raise ValidationError(errors)
    if await repo.count_webhooks(session, actor.require_account_id()) >= repo.MAX_WEBHOOKS:
        raise ValidationError.single(
            None, "LIMIT_REACHED", f"An account can have at most {repo.MAX_WEBHOOKS} webhooks."
        )
    secret = signing.new_secret()
    webhook = Webhook(
        account_id=actor.account_id,
        url=url,
        description=description.strip(),
        events=names,
        inbox_id=inbox_id,
        enabled=True,
        created_by_id=actor.user_id,
        failed_deliveries_in_row=0,
    )
    set_secret(webhook, secret, settings)
    session.add(webhook)
    await session.flush()
    audit.record(
        session,
        actor,
        "webhook.create",
        "Webhook",
        webhook.id,
        {"url": url, "events": names, "inboxId": inbox_id},
        meta,
    )
    return webhook, secret


CALLBACK_EVENTS = [WebhookEvent.MESSAGE_CREATED.value]


async def sync_inbox_callback(session: AsyncSession, inbox: Inbox, settings: Settings) -> Webhook | None:
    """Keep an API inbox's callback webhook in step with its `callback_url`: made (with its own signing
    secret, which an administrator reads by rotating it) when a URL is set, pointed at a new URL (and
    enabled again) when it changes, removed with its delivery log when the URL is cleared. The URL is
    vetted as any webhook's (SSRF rules)."""
    url = ((inbox.channel_config or {}).get("callback_url") or "").strip()
    existing = await repo.inbox_callback_of(session, inbox.account_id, inbox.id)
    if inbox.channel_type != ChannelType.API or not url:
        if existing is not None:
            await session.delete(existing)
            await session.flush()
        return None
    errors: list[FieldError] = []
    url = await check_url(url, settings, errors)
    if errors:
        raise ValidationError([FieldError("callbackUrl", e.code, e.message) for e in errors])
    if existing is None:
        webhook = Webhook(
            account_id=inbox.account_id,
            url=url,
            description=f"Callback of the API inbox {inbox.name}"[:MAX_DESCRIPTION],
            events=CALLBACK_EVENTS,
            inbox_id=inbox.id,
            inbox_callback=True,
            enabled=True,
            failed_deliveries_in_row=0,
        )
        set_secret(webhook, signing.new_secret(), settings)
        session.add(webhook)
    elif existing.url != url:
        existing.url = url
        existing.enabled, existing.disabled_reason, existing.failed_deliveries_in_row = True, None, 0
        existing.updated_at = utcnow()
        webhook = existing
    else:
        webhook = existing
    await session.flush()
    return webhook


def _refuse_callback(webhook: Webhook) -> None:
    if webhook.inbox_callback or webhook.bot_id is not None:
        raise ValidationError.single(
            None, "INBOX_CALLBACK", "This webhook is an API inbox's callback: change the inbox's callbackUrl instead."
        )


async def update_webhook(
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    webhook_id: int,
    *,
    url: Any = KEEP,
    description: Any = KEEP,
    events: Any = KEEP,
    inbox_id: Any = KEEP,
    enabled: Any = KEEP,
    meta: RequestMeta,
) -> Webhook:
    """Omitted fields (KEEP) stay; `inbox_id=None` removes the inbox filter."""
    webhook = await webhook_or_404(session, actor, webhook_id, lock=True)
    _refuse_callback(webhook)
    errors: list[FieldError] = []
    values: dict[str, Any] = {}
    if url is not KEEP:
        if url is None:
            errors.append(FieldError("url", "REQUIRED", "This field is required."))
        else:
            values["url"] = await check_url(url, settings, errors)
    if description is not KEEP:
        description = (description or "").strip()
        if len(description) > MAX_DESCRIPTION:
            errors.append(FieldError("description", "TOO_LONG", f"At most {MAX_DESCRIPTION} characters."))
        values["description"] = description
    if events is not KEEP:
        values["events"] = _check_events(events or [], errors)
    if inbox_id is not KEEP:
        values["inbox_id"] = await _check_inbox(session, actor, inbox_id, errors)
    if enabled is not KEEP:
        if enabled is None:
            errors.append(FieldError("enabled", "REQUIRED", "Say true or false."))
        else:
            values["enabled"] = bool(enabled)
    if errors:
        raise ValidationError(errors)
    changes: dict[str, list[Any]] = {}
    for attr, value in values.items():
        if getattr(webhook, attr) != value:
            changes[camel_case(attr)] = [getattr(webhook, attr), value]
            setattr(webhook, attr, value)
    if "enabled" in values and changes.get("enabled"):
        webhook.disabled_reason = None if webhook.enabled else "disabled by an administrator"
        if webhook.enabled:
            webhook.failed_deliveries_in_row = 0
    if changes:
        webhook.updated_at = utcnow()
        audit.record(session, actor, "webhook.update", "Webhook", webhook.id, changes, meta)
        await session.flush()
    return webhook


async def delete_webhook(session: AsyncSession, actor: Actor, webhook_id: int, meta: RequestMeta) -> Webhook:
    webhook = await webhook_or_404(session, actor, webhook_id, lock=True)
    _refuse_callback(webhook)
    audit.record(session, actor, "webhook.delete", "Webhook", webhook.id, {"url": webhook.url}, meta)
    await session.delete(webhook)  # deliveries and attempts go with it
    await session.flush()
    return webhook


async def rotate_secret(
    session: AsyncSession, actor: Actor, settings: Settings, webhook_id: int, meta: RequestMeta
) -> tuple[Webhook, str]:
    """A new secret signs every request from now on, retries of earlier deliveries included."""
    webhook = await webhook_or_404(session, actor, webhook_id, lock=True)
    secret = signing.new_secret()
    set_secret(webhook, secret, settings)
    webhook.updated_at = utcnow()
    audit.record(session, actor, "webhook.secret_rotate", "Webhook", webhook.id, {}, meta)
    await session.flush()
    return webhook, secret


async def queue_test(session: AsyncSession, actor: Actor, webhook_id: int) -> WebhookDelivery:
    """A `webhook_test` ping, sent once (no retries), disabled webhooks included."""
    webhook = await webhook_or_404(session, actor, webhook_id)
    account = await session.get_one(Account, actor.account_id)
    row = WebhookDelivery(
        account_id=actor.account_id,
        webhook_id=webhook.id,
        event_id=None,
        event_type="webhook_test",
        message_id=_message_id(),
        body=payloads.ping_body(account, webhook.id, utcnow()),
        status=WebhookDeliveryStatus.PENDING,
        attempt_count=0,
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    outbox.add_job(session, DELIVER_ACTOR, delivery_id=row.id, manual=True)
    return row


async def queue_redelivery(
    session: AsyncSession, actor: Actor, *, attempt_id: int | None = None, delivery_id: int | None = None
) -> WebhookDelivery:
    """Send a delivery once more, now, with the same `webhook-id` and body (receivers dedupe on it)."""
    if attempt_id is not None:
        attempt = await repo.attempt_in_account(session, actor.require_account_id(), attempt_id)
        if attempt is None:
            raise NotFound("No such webhook attempt")
        delivery_id = attempt.delivery_id
    row = await repo.delivery_in_account(session, actor.require_account_id(), delivery_id or 0)
    if row is None:
        raise NotFound("No such webhook delivery")
    outbox.add_job(session, DELIVER_ACTOR, delivery_id=row.id, manual=True)
    return row


# --- fan-out -------------------------------------------------------------------------------------------


def _message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def bot_event(event: Event) -> BotEvent | None:
    """The name an agent bot hears this event by, if it hears it at all: a new conversation, the
    contact's public messages (never its own replies, agents' or notes), and a conversation opened."""
    if event.type == EventType.CONVERSATION_CREATED:
        return BotEvent.CONVERSATION_CREATED
    if event.type == EventType.MESSAGE_CREATED:
        incoming = (event.payload or {}).get("message_type") == MessageType.INCOMING.value
        return BotEvent.MESSAGE_CREATED if incoming and not event.private else None
    if event.type == EventType.CONVERSATION_STATUS_CHANGED:
        status = ((event.payload or {}).get("changed_attributes") or {}).get("status") or [None, None]
        return BotEvent.CONVERSATION_OPENED if status[-1] == ConversationStatus.OPEN.value else None
    return None


def _matches_bot(webhook: Webhook, event: Event, inbox_bots: dict[int, int]) -> BotEvent | None:
    """A bot's webhook hears its events of the inboxes connected to the bot now."""
    if event.inbox_id is None or inbox_bots.get(event.inbox_id) != webhook.bot_id:
        return None
    if event.created_at < webhook.created_at:
        return None
    name = bot_event(event)
    return name if name is not None and name.value in (webhook.events or []) else None


def _matches(webhook: Webhook, event: Event, name: WebhookEvent) -> bool:
    if webhook.bot_id is not None:
        return False
    if name.value not in (webhook.events or []):
        return False
    # A webhook hears what happened after it was made, however late the fan-out of an older event runs.
    if event.created_at < webhook.created_at:
        return False
    if webhook.inbox_callback:
        # An API inbox's callback hears what its partner must send on: the public messages of agents
        # and bots (outgoing), never the contact's own, private notes or activity lines.
        return (
            webhook.inbox_id == event.inbox_id
            and not event.private
            and (event.payload or {}).get("message_type") == MessageType.OUTGOING.value
        )
    # An inbox filter keeps only events that concern that inbox (contact events concern none).
    return webhook.inbox_id is None or webhook.inbox_id == event.inbox_id


async def fan_out(session: AsyncSession, event_ids: list[int]) -> list[int]:
    """One delivery per matching enabled webhook and event, with its body fixed now, and one delivery
    job each through the outbox. Pairs that already have a delivery are skipped, so running this
    again for the same events changes nothing. Returns the new deliveries' ids."""
    # Most accounts have no webhook: one statement answers that, and the transaction ends at once.
    if not await repo.any_enabled_webhook_for_events(session, event_ids):
        return []
    events = await event_repo.events_by_ids(session, event_ids, payloads.SOURCE_TYPES)
    if not events:
        return []
    webhooks = await repo.subscribed_webhooks(session, sorted({e.account_id for e in events}))
    if not webhooks:
        return []
    bots = [w for w in webhooks if w.bot_id is not None]
    inbox_bots = (
        await helpdesk_repo.bots_of_inboxes(session, sorted({e.inbox_id for e in events if e.inbox_id})) if bots else {}
    )
    builder = payloads.PayloadBuilder(session)
    rows: list[dict[str, Any]] = []

    def row(event: Event, webhook: Webhook, name: str, body: str) -> dict[str, Any]:
        return {
            "account_id": event.account_id,
            "webhook_id": webhook.id,
            "event_id": event.id,
            "event_type": name,
            "message_id": _message_id(),
            "body": body,
            "status": WebhookDeliveryStatus.PENDING,
            "attempt_count": 0,
            "created_at": utcnow(),
        }

    for event in events:
        name = payloads.EVENT_MAP[event.type]
        targets = [w for w in webhooks if w.account_id == event.account_id and _matches(w, event, name)]
        bot_targets = [
            (w, bot_name)
            for w in bots
            if w.account_id == event.account_id and (bot_name := _matches_bot(w, event, inbox_bots)) is not None
        ]
        if not targets and not bot_targets:
            continue
        data = await builder.body(event)
        if data is None:
            continue
        body = payloads.encode(data)
        for webhook in targets:
            rows.append(row(event, webhook, name.value, body))
        for webhook, bot_name in bot_targets:
            rows.append(row(event, webhook, bot_name.value, payloads.encode({**data, "event": bot_name.value})))
    new_ids = await repo.insert_deliveries(session, rows)
    for delivery_id in new_ids:
        outbox.add_job(session, DELIVER_ACTOR, delivery_id=delivery_id)
    return new_ids


async def queue_typing(
    session: AsyncSession,
    conversation: Conversation,
    *,
    user_id: int | None,
    contact_id: int | None,
    on: bool,
    private: bool,
) -> list[int]:
    """`conversation_typing_on/off` for webhooks that asked for them. Typing is ephemeral (never in
    the event log), so these deliveries have no event; each is sent once a typingSet call says so."""
    name = WebhookEvent.CONVERSATION_TYPING_ON if on else WebhookEvent.CONVERSATION_TYPING_OFF
    webhooks = [
        w
        for w in await repo.subscribed_webhooks(session, [conversation.account_id])
        if name.value in (w.events or []) and (w.inbox_id is None or w.inbox_id == conversation.inbox_id)
    ]
    if not webhooks:
        return []
    builder = payloads.PayloadBuilder(session)
    account = await session.get_one(Account, conversation.account_id)
    user = await session.get(User, user_id) if user_id is not None else None
    body = payloads.encode(
        {
            "event": name.value,
            "occurredAt": payloads.iso_time(utcnow()),
            "account": payloads.account_data(account),
            "conversation": await builder.conversation_data(conversation),
            "user": payloads.user_data(user),
            "contactId": payloads.gid("Contact", contact_id),
            "isPrivate": private,
        }
    )
    rows = [
        {
            "account_id": conversation.account_id,
            "webhook_id": w.id,
            "event_id": None,
            "event_type": name.value,
            "message_id": _message_id(),
            "body": body,
            "status": WebhookDeliveryStatus.PENDING,
            "attempt_count": 0,
            "created_at": utcnow(),
        }
        for w in webhooks
    ]
    new_ids = await repo.insert_deliveries(session, rows)
    for delivery_id in new_ids:
        outbox.add_job(session, DELIVER_ACTOR, delivery_id=delivery_id)
    return new_ids


# --- delivery ------------------------------------------------------------------------------------------


@dataclass
class DeliveryResult:
    done: bool
    retry_in_seconds: float | None = None
    outcome: delivery.Outcome | None = None


def retry_delay(settings: Settings, attempts_made: int) -> float:
    """Exponential: base, 4×base, 16×base… capped at 8 hours (about a day over the default 10 tries)."""
    delay: float = settings.webhooks_retry_base_seconds * 4 ** (attempts_made - 1)
    return min(delay, MAX_RETRY_DELAY_SECONDS)


@dataclass(frozen=True)
class Prepared:
    """What one attempt sends: read (and the secret decrypted) before the request, so the request
    itself holds no database connection."""

    delivery_id: int
    url: str
    host: str
    body: str
    message_id: str
    secret: str
    manual: bool


async def deliver(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, delivery_id: int, *, manual: bool = False
) -> DeliveryResult:
    """Make one attempt of a delivery and record it. Without `manual`, a delivery already delivered or
    failed is left alone (a job that runs twice sends once)."""
    prepared = await prepare(sessions, settings, delivery_id, manual=manual)
    if prepared is None:
        return DeliveryResult(done=True)
    return await attempt(sessions, settings, prepared)


async def prepare(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, delivery_id: int, *, manual: bool = False
) -> Prepared | None:
    """The next attempt of a delivery, or None when there is nothing to send (delivered or failed
    already, or its webhook gone; a disabled webhook fails its pending deliveries)."""
    async with sessions() as session:
        row = await session.get(WebhookDelivery, delivery_id)
        webhook = await session.get(Webhook, row.webhook_id) if row is not None else None
        if row is None or webhook is None:
            return None
        if not manual and row.status != WebhookDeliveryStatus.PENDING:
            return None
        if not manual and not webhook.enabled:
            row.status, row.completed_at = WebhookDeliveryStatus.FAILED, utcnow()
            await session.commit()
            return None
        return Prepared(
            delivery_id=row.id,
            url=webhook.url,
            host=delivery.host_of(webhook.url),
            body=row.body,
            message_id=row.message_id,
            secret=secret_of(webhook, settings),
            manual=manual,
        )


async def attempt(sessions: async_sessionmaker[AsyncSession], settings: Settings, prepared: Prepared) -> DeliveryResult:
    """Send one prepared attempt and record it: delivered, failed for good, or due again later."""
    delivery_id, manual = prepared.delivery_id, prepared.manual
    timestamp = int(utcnow().timestamp())
    headers = signing.headers(prepared.secret, prepared.message_id, timestamp, prepared.body)
    with traces.span(
        "webhooks.attempt", **{"parley.webhook_delivery_id": delivery_id, "server.address": prepared.host}
    ):
        traceparent = traces.current_traceparent()
        if traceparent is not None:  # the receiver may continue the trace of the change it is told about
            headers[traces.TRACEPARENT] = traceparent
        outcome = await delivery.post(
            prepared.url,
            prepared.body,
            headers,
            timeout=settings.webhooks_timeout_seconds,
            allow_private=settings.webhooks_allow_private_targets,
        )
    metrics.webhook_outcome(outcome.succeeded, outcome.retryable, outcome.gone)
    async with sessions() as session, session.begin():
        row = await session.get(WebhookDelivery, delivery_id, with_for_update=True)
        webhook = await session.get(Webhook, row.webhook_id, with_for_update=True) if row is not None else None
        if row is None or webhook is None:
            return DeliveryResult(done=True, outcome=outcome)
        number = await repo.count_attempts(session, row.id) + 1
        session.add(
            WebhookAttempt(
                account_id=row.account_id,
                webhook_id=row.webhook_id,
                delivery_id=row.id,
                number=number,
                manual=manual,
                succeeded=outcome.succeeded,
                status_code=outcome.status_code,
                duration_ms=outcome.duration_ms,
                response_body=outcome.response_body,
                error=(outcome.error or None) and outcome.error[:255],
                remote_ip=outcome.remote_ip,
                created_at=utcnow(),
            )
        )
        if not manual:
            row.attempt_count += 1
        if outcome.succeeded:
            row.status, row.completed_at = WebhookDeliveryStatus.DELIVERED, utcnow()
            webhook.failed_deliveries_in_row = 0
            return DeliveryResult(done=True, outcome=outcome)
        if manual:
            return DeliveryResult(done=True, outcome=outcome)
        if outcome.gone:
            _disable(session, webhook, "the receiver answered 410 Gone")
        elif outcome.retryable and row.attempt_count < settings.webhooks_max_attempts:
            return DeliveryResult(
                done=False, retry_in_seconds=retry_delay(settings, row.attempt_count), outcome=outcome
            )
        row.status, row.completed_at = WebhookDeliveryStatus.FAILED, utcnow()
        webhook.failed_deliveries_in_row += 1
        if webhook.enabled and webhook.failed_deliveries_in_row >= settings.webhooks_disable_after_failures:
            _disable(session, webhook, f"{webhook.failed_deliveries_in_row} deliveries in a row failed")
        return DeliveryResult(done=True, outcome=outcome)


def _disable(session: AsyncSession, webhook: Webhook, reason: str) -> None:
    if not webhook.enabled:
        return
    webhook.enabled = False
    webhook.disabled_reason = reason
    webhook.updated_at = utcnow()
    system = Actor(account_id=webhook.account_id, label="system")
    audit.record(
        session, system, "webhook.auto_disable", "Webhook", webhook.id, {"enabled": [True, False], "reason": reason}
    )
