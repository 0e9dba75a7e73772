"""Resolvers of webhooks and dead jobs: parse input, call one domain service, build the payload."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from db.repositories import webhooks as repo
from domain import jobs
from domain.errors import NotFound
from domain.webhooks import service
from resolvers.context import Context
from resolvers.mutations import mutate
from schema.core.errors import PayloadErrors
from schema.core.ids import decode_id, decode_optional
from schema.core.pagination import Connection, build_connection, decode_int_cursor, page_size
from schema.webhooks import inputs as i
from schema.webhooks import types as t
from schema.webhooks.errors import WebhookError, WebhookErrorCode

Ctx = Info[Context, None]
_errors = PayloadErrors(WebhookError, WebhookErrorCode)

WebhookID = Annotated[strawberry.ID, strawberry.argument(description="The webhook's global ID.")]
First = Annotated[int | None, strawberry.argument(description="Page size (default 25, at most 100).")]
After = Annotated[str | None, strawberry.argument(description="The `endCursor` of the previous page.")]


def _given(value: Any) -> Any:
    return service.KEEP if value is strawberry.UNSET else value


# --- queries -------------------------------------------------------------------------------------------


async def webhooks(info: Ctx, first: First = None, after: After = None) -> Connection[t.Webhook]:
    actor = await info.context.actor()
    limit = page_size(first)
    async with info.context.db() as session:
        rows = await repo.webhooks_page(session, actor.account_id, decode_int_cursor(after), limit)
    return build_connection(rows, limit, t.Webhook.from_row, lambda r: r.id, after is not None)


async def webhook(info: Ctx, id: WebhookID) -> t.Webhook:
    actor = await info.context.actor()
    pk = decode_id(id, "Webhook")
    async with info.context.db() as session:
        row = await repo.webhook_in_account(session, actor.account_id, pk)
    if row is None:
        raise NotFound("No such webhook")
    return t.Webhook.from_row(row)


async def _webhook_pk(info: Ctx, session, account_id: int, id: str) -> int:
    pk = decode_id(id, "Webhook")
    if await repo.webhook_in_account(session, account_id, pk) is None:
        raise NotFound("No such webhook")
    return pk


async def webhook_deliveries(
    info: Ctx, webhook_id: WebhookID, first: First = None, after: After = None
) -> Connection[t.WebhookDelivery]:
    actor = await info.context.actor()
    limit = page_size(first)
    async with info.context.db() as session:
        pk = await _webhook_pk(info, session, actor.account_id, webhook_id)
        rows = await repo.deliveries_page(session, actor.account_id, pk, decode_int_cursor(after), limit)
    return build_connection(rows, limit, t.WebhookDelivery.from_row, lambda r: r.id, after is not None)


async def webhook_attempts(
    info: Ctx, webhook_id: WebhookID, first: First = None, after: After = None
) -> Connection[t.WebhookAttempt]:
    actor = await info.context.actor()
    limit = page_size(first)
    async with info.context.db() as session:
        pk = await _webhook_pk(info, session, actor.account_id, webhook_id)
        rows = await repo.attempts_page(session, actor.account_id, pk, decode_int_cursor(after), limit)
    return build_connection(rows, limit, t.WebhookAttempt.from_row, lambda r: r.id, after is not None)


async def dead_jobs(info: Ctx, first: First = None, after: After = None) -> Connection[t.DeadJob]:
    actor = await info.context.actor()
    limit = page_size(first)
    async with info.context.db() as session:
        rows = await repo.dead_jobs_page(session, actor.account_id, decode_int_cursor(after), limit)
    return build_connection(rows, limit, t.DeadJob.from_row, lambda r: r.id, after is not None)


# --- mutations -----------------------------------------------------------------------------------------


async def webhook_create(
    info: Ctx, input: Annotated[i.WebhookCreateInput, strawberry.argument(description="The new webhook.")]
) -> t.WebhookSecretPayload:
    actor = await info.context.actor()
    inbox_pk = decode_optional(input.inbox_id, "Inbox")

    async def work(session) -> t.WebhookSecretPayload:
        row, secret = await service.create_webhook(
            session,
            actor,
            info.context.settings,
            url=input.url,
            description=input.description,
            events=list(input.events),
            inbox_id=inbox_pk,
            meta=info.context.meta,
        )
        return t.WebhookSecretPayload(webhook=t.Webhook.from_row(row), secret=secret, errors=[])

    return await mutate(info, _errors, work, lambda e: t.WebhookSecretPayload(webhook=None, secret=None, errors=e))


async def webhook_update(
    info: Ctx,
    id: WebhookID,
    input: Annotated[i.WebhookUpdateInput, strawberry.argument(description="What to change.")],
) -> t.WebhookPayload:
    actor = await info.context.actor()
    pk = decode_id(id, "Webhook")
    inbox: Any = service.KEEP
    if input.inbox_id is not strawberry.UNSET:
        inbox = decode_optional(input.inbox_id, "Inbox")

    async def work(session) -> t.WebhookPayload:
        row = await service.update_webhook(
            session,
            actor,
            info.context.settings,
            pk,
            url=_given(input.url),
            description=_given(input.description),
            events=_given(input.events),
            inbox_id=inbox,
            enabled=_given(input.enabled),
            meta=info.context.meta,
        )
        return t.WebhookPayload(webhook=t.Webhook.from_row(row), errors=[])

    return await mutate(info, _errors, work, lambda e: t.WebhookPayload(webhook=None, errors=e))


async def webhook_delete(info: Ctx, id: WebhookID) -> t.WebhookPayload:
    actor = await info.context.actor()
    pk = decode_id(id, "Webhook")

    async def work(session) -> t.WebhookPayload:
        row = await service.delete_webhook(session, actor, pk, info.context.meta)
        return t.WebhookPayload(webhook=t.Webhook.from_row(row), errors=[])

    return await mutate(info, _errors, work, lambda e: t.WebhookPayload(webhook=None, errors=e))


async def webhook_secret_rotate(info: Ctx, id: WebhookID) -> t.WebhookSecretPayload:
    actor = await info.context.actor()
    pk = decode_id(id, "Webhook")

    async def work(session) -> t.WebhookSecretPayload:
        row, secret = await service.rotate_secret(session, actor, info.context.settings, pk, info.context.meta)
        return t.WebhookSecretPayload(webhook=t.Webhook.from_row(row), secret=secret, errors=[])

    return await mutate(info, _errors, work, lambda e: t.WebhookSecretPayload(webhook=None, secret=None, errors=e))


async def webhook_test(info: Ctx, id: WebhookID) -> t.WebhookDeliveryPayload:
    actor = await info.context.actor()
    pk = decode_id(id, "Webhook")

    async def work(session) -> t.WebhookDeliveryPayload:
        row = await service.queue_test(session, actor, pk)
        return t.WebhookDeliveryPayload(delivery=t.WebhookDelivery.from_row(row), errors=[])

    return await mutate(info, _errors, work, lambda e: t.WebhookDeliveryPayload(delivery=None, errors=e))


def _kind(value: str) -> str | None:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode().partition(":")[0]
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None


async def webhook_redeliver(
    info: Ctx,
    id: Annotated[strawberry.ID, strawberry.argument(description="A WebhookAttempt ID (or a WebhookDelivery ID).")],
) -> t.WebhookDeliveryPayload:
    actor = await info.context.actor()
    if _kind(id) == "WebhookDelivery":
        target = {"delivery_id": decode_id(id, "WebhookDelivery")}
    else:
        target = {"attempt_id": decode_id(id, "WebhookAttempt")}

    async def work(session) -> t.WebhookDeliveryPayload:
        row = await service.queue_redelivery(session, actor, **target)
        return t.WebhookDeliveryPayload(delivery=t.WebhookDelivery.from_row(row), errors=[])

    return await mutate(info, _errors, work, lambda e: t.WebhookDeliveryPayload(delivery=None, errors=e))


async def dead_job_retry(
    info: Ctx, id: Annotated[strawberry.ID, strawberry.argument(description="The dead job's global ID.")]
) -> t.DeadJobRetryPayload:
    actor = await info.context.actor()
    pk = decode_id(id, "DeadJob")

    async def work(session) -> t.DeadJobRetryPayload:
        row = await jobs.retry_dead_job(session, actor, pk, info.context.meta)
        return t.DeadJobRetryPayload(dead_job=t.DeadJob.from_row(row), errors=[])

    return await mutate(info, _errors, work, lambda e: t.DeadJobRetryPayload(dead_job=None, errors=e))
