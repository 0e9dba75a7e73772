"""GraphQL types of account webhooks (with their deliveries and attempts) and of dead jobs, and their
payloads (inputs and errors beside them)."""

from __future__ import annotations

import json
from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from db.repositories.webhooks import MAX_WEBHOOKS
from domain.webhooks.enums import WebhookDeliveryStatus, WebhookEvent
from schema.core.ids import encode_id
from schema.webhooks.errors import WebhookError

WebhookEventEnum = strawberry.enum(
    WebhookEvent,
    name="WebhookEvent",
    description="Chatwoot's webhook events. CONVERSATION_UPDATED also reports assignee and team changes; "
    "MESSAGE_CREATED/UPDATED cover incoming and outgoing messages and private notes (`private: true`), never activity lines.",
)
WebhookDeliveryStatusEnum = strawberry.enum(
    WebhookDeliveryStatus,
    name="WebhookDeliveryStatus",
    description="PENDING (not sent yet or waiting for a retry), DELIVERED (a 2xx answer) or FAILED (retries exhausted, "
    "an answer that retrying cannot fix, or the webhook was disabled).",
)


# --- objects -------------------------------------------------------------------------------------------


@strawberry.type(
    description="An account webhook: events are POSTed as JSON to its URL, signed per the Standard Webhooks spec "
    "(`webhook-id`, `webhook-timestamp`, `webhook-signature`) with its secret."
)
class Webhook:
    pk: strawberry.Private[int]
    inbox_pk: strawberry.Private[int | None]
    url: str = strawberry.field(description="Where events are POSTed (http or https; no private addresses).")
    description: str = strawberry.field(description="What the webhook is for.")
    events: list[WebhookEventEnum] = strawberry.field(description="The events it receives.")
    enabled: bool = strawberry.field(
        description="Disabled webhooks receive nothing (test pings and redeliveries excepted)."
    )
    disabled_reason: str | None = strawberry.field(
        description="Why it is disabled: by an administrator, or automatically after persistent failure."
    )
    secret_hint: str = strawberry.field(
        description="The end of the signing secret, to tell secrets apart; the secret itself is shown only on creation "
        "and rotation."
    )
    inbox_callback: bool = strawberry.field(
        description="The callback URL of its API inbox: sent that inbox's public outgoing messages; set, changed "
        "and removed through the inbox's callbackUrl (rotate its secret to read one)."
    )
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it last changed.")

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("Webhook", self.pk))

    @strawberry.field(
        description="Only events of this inbox are sent (contact events then are not); null: the whole account."
    )
    async def inbox(self, info: strawberry.Info) -> WebhookInbox | None:
        if self.inbox_pk is None:
            return None
        row = await info.context.loaders.inbox_by_id.load(self.inbox_pk)
        return WebhookInbox(pk=row.id, name=row.name) if row is not None else None

    @classmethod
    def from_row(cls, row) -> Webhook:
        return cls(
            pk=row.id,
            inbox_pk=row.inbox_id,
            url=row.url,
            description=row.description,
            events=[WebhookEvent(e) for e in row.events],
            enabled=row.enabled,
            disabled_reason=row.disabled_reason,
            secret_hint=row.secret_hint,
            inbox_callback=row.inbox_callback,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.type(description="The inbox a webhook is limited to.")
class WebhookInbox:
    pk: strawberry.Private[int]
    name: str = strawberry.field(description="The inbox's name.")

    @strawberry.field(description="The inbox's global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("Inbox", self.pk))


@strawberry.type(
    description="One event (or test ping) for one webhook; every try sends the same body and `webhook-id`."
)
class WebhookDelivery:
    pk: strawberry.Private[int]
    body: strawberry.Private[str]
    event: str = strawberry.field(description="The event name sent (`message_created`…, or `webhook_test`).")
    webhook_message_id: str = strawberry.field(
        description="The `webhook-id` header: the same on every try (dedupe on it)."
    )
    status: WebhookDeliveryStatusEnum = strawberry.field(description="Where the delivery stands.")
    attempt_count: int = strawberry.field(description="Automatic tries so far (manual redeliveries not counted).")
    created_at: datetime = strawberry.field(description="When the event was fanned out to this webhook.")
    completed_at: datetime | None = strawberry.field(description="When it was delivered or given up.")

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("WebhookDelivery", self.pk))

    @strawberry.field(description="The JSON body sent.")
    def payload(self) -> JSON:
        return json.loads(self.body)

    @strawberry.field(description="Every try, oldest first.")
    async def attempts(self, info: strawberry.Info) -> list[WebhookAttempt]:
        rows = await info.context.loaders.webhook_attempts_by_delivery.load(self.pk)
        return [WebhookAttempt.from_row(r) for r in rows]

    @classmethod
    def from_row(cls, row) -> WebhookDelivery:
        return cls(
            pk=row.id,
            body=row.body,
            event=row.event_type,
            webhook_message_id=row.message_id,
            status=row.status,
            attempt_count=row.attempt_count,
            created_at=row.created_at,
            completed_at=row.completed_at,
        )


@strawberry.type(description="One try of a webhook delivery.")
class WebhookAttempt:
    pk: strawberry.Private[int]
    delivery_pk: strawberry.Private[int]
    number: int = strawberry.field(description="1 for the first try of its delivery, then 2, 3…")
    manual: bool = strawberry.field(description="A redelivery or test ping an administrator asked for.")
    succeeded: bool = strawberry.field(description="The receiver answered 2xx.")
    status_code: int | None = strawberry.field(description="The HTTP status of the answer; null when none came.")
    duration_ms: int = strawberry.field(description="How long the try took, in milliseconds.")
    response_body: str = strawberry.field(description="The start of the answer's body (at most 1 KB).")
    error: str | None = strawberry.field(
        description="What failed: `HTTP <status>`, `timeout`, `connection: …`, `redirect not followed` or `refused: …` "
        "(a target the address rules forbid)."
    )
    created_at: datetime = strawberry.field(description="When the try ended.")

    @strawberry.field(description="Opaque global ID; pass it to webhookRedeliver to send the delivery again.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("WebhookAttempt", self.pk))

    @strawberry.field(description="The delivery it belongs to.")
    async def delivery(self, info: strawberry.Info) -> WebhookDelivery:
        return WebhookDelivery.from_row(await info.context.loaders.webhook_delivery_by_id.load(self.delivery_pk))

    @classmethod
    def from_row(cls, row) -> WebhookAttempt:
        return cls(
            pk=row.id,
            delivery_pk=row.delivery_id,
            number=row.number,
            manual=row.manual,
            succeeded=row.succeeded,
            status_code=row.status_code,
            duration_ms=row.duration_ms,
            response_body=row.response_body,
            error=row.error,
            created_at=row.created_at,
        )


@strawberry.type(description="A background job of the account that failed for good (retries exhausted).")
class DeadJob:
    pk: strawberry.Private[int]
    actor_name: str = strawberry.field(description="The job (`webhooks.deliver`, `email.send`…).")
    queue_name: str = strawberry.field(description="The queue it ran on.")
    arguments: JSON = strawberry.field(description="Its arguments, with secrets hidden and long text cut.")
    error_class: str = strawberry.field(description="The kind of the last error.")
    error_message: str = strawberry.field(description="The last error's message (cut at 500 characters).")
    attempts: int = strawberry.field(description="How many times it ran.")
    retryable: bool = strawberry.field(
        description="Whether deadJobRetry can queue it again (nothing hidden, not retried yet)."
    )
    created_at: datetime = strawberry.field(description="When it failed for good.")
    retried_at: datetime | None = strawberry.field(description="When an administrator queued it again.")

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("DeadJob", self.pk))

    @classmethod
    def from_row(cls, row) -> DeadJob:
        return cls(
            pk=row.id,
            actor_name=row.actor_name,
            queue_name=row.queue_name,
            arguments=row.kwargs,
            error_class=row.error_class,
            error_message=row.error_message,
            attempts=row.attempts,
            retryable=not row.redacted and row.retried_at is None,
            created_at=row.created_at,
            retried_at=row.retried_at,
        )


# --- inputs and payloads -------------------------------------------------------------------------------


@strawberry.type(description="Result of webhookUpdate and webhookDelete.")
class WebhookPayload:
    webhook: Webhook | None = strawberry.field(description="The webhook (as it was, after a deletion).")
    errors: list[WebhookError] = strawberry.field(description="User errors; empty on success.")


@strawberry.type(description="Result of webhookCreate and webhookSecretRotate.")
class WebhookSecretPayload:
    webhook: Webhook | None = strawberry.field(description="The webhook.")
    secret: str | None = strawberry.field(
        description="The signing secret (`whsec_…`, Standard Webhooks format). Shown only now: store it."
    )
    errors: list[WebhookError] = strawberry.field(description="User errors; empty on success.")


@strawberry.type(description="Result of webhookTest and webhookRedeliver.")
class WebhookDeliveryPayload:
    delivery: WebhookDelivery | None = strawberry.field(description="The delivery queued for sending.")
    errors: list[WebhookError] = strawberry.field(description="User errors; empty on success.")


@strawberry.type(description="Result of deadJobRetry.")
class DeadJobRetryPayload:
    dead_job: DeadJob | None = strawberry.field(description="The dead job, marked retried.")
    errors: list[WebhookError] = strawberry.field(description="User errors; empty on success.")


MAX_WEBHOOKS_NOTE = f"An account has at most {MAX_WEBHOOKS} webhooks."
