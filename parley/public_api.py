"""The API channel's public client API under `/public/api/v1`, in Chatwoot's paths and JSON shapes so
Chatwoot's client SDKs and the partner code written for them work unchanged:

    GET        /public/api/v1/inboxes/{inbox_identifier}
    POST       /public/api/v1/inboxes/{inbox_identifier}/contacts
    GET|PATCH  /public/api/v1/inboxes/{inbox_identifier}/contacts/{contact_identifier}
    GET|POST   …/contacts/{contact_identifier}/conversations
    GET        …/contacts/{contact_identifier}/conversations/{conversation_id}
    GET|POST   …/contacts/{contact_identifier}/conversations/{conversation_id}/messages

REST rather than GraphQL fields: this is the one surface whose callers are other products' clients
(Chatwoot SDKs, partners' existing integrations) that speak these paths and nothing else; the
identifiers in the path are the only credentials, as in Chatwoot. The rules live in
`domain/api_channel/client.py`; this module parses, rate-limits per IP and answers JSON.

Errors are `{"error": {"code", "message", "fields": [{"field", "code", "message"}]}}`: 400 for a body
that is not a JSON object, 404 for an unknown inbox, contact or conversation, 422 for invalid input
(nothing is written), 429 with `Retry-After` when the caller's IP is over its limit."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from db.models import Contact, Conversation, Message
from db.repositories import widget as widget_repo
from domain.accounts import tokens
from domain.api_channel import client as api
from domain.enums import MessageType, SenderType
from domain.errors import NotAuthenticated, NotFound, RateLimited, ValidationError
from domain.events.relay import Relay
from domain.events.unit import unit_of_work
from domain.widget.sessions import shown_email
from infra.api_names import encode_global_id
from infra.logs import get_logger

log = get_logger("parley.public_api")
PREFIX = "/public/api/v1/inboxes/{inbox_identifier}"
CONTACT = PREFIX + "/contacts/{contact_identifier}"
CONVERSATION = CONTACT + "/conversations/{conversation_id}"
MESSAGE_TYPE_NUMBERS = {
    MessageType.INCOMING: 0,
    MessageType.OUTGOING: 1,
    MessageType.ACTIVITY: 2,
    MessageType.TEMPLATE: 3,
}


def _error(
    status: int, code: str, message: str, fields: list[dict[str, Any]] | None = None, **headers: str
) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "fields": fields or []}}, status, headers=headers)


def _epoch(value: datetime | None) -> int | None:
    return int(value.timestamp()) if value else None


def contact_json(client: api.Client, pubsub_token: str | None = None) -> dict[str, Any]:
    contact = client.contact
    body = {
        "id": encode_global_id("Contact", contact.id),
        "source_id": client.contact_inbox.source_id,
        "name": contact.name,
        "email": shown_email(contact),
        "phone_number": contact.phone_number,
        "identifier": contact.identifier,
        "custom_attributes": contact.custom_attributes or {},
        "hmac_verified": client.contact_inbox.hmac_verified,
    }
    if pubsub_token is not None:
        body["pubsub_token"] = pubsub_token
    return body


def _contact_brief(contact: Contact) -> dict[str, Any]:
    return {"id": encode_global_id("Contact", contact.id), "name": contact.name, "email": shown_email(contact)}


def conversation_json(conversation: Conversation, client: api.Client) -> dict[str, Any]:
    return {
        "id": conversation.display_id,
        "inbox_id": client.inbox.api_identifier,
        "status": conversation.status.value,
        "custom_attributes": conversation.custom_attributes or {},
        "created_at": _epoch(conversation.created_at),
        "last_activity_at": _epoch(conversation.last_activity_at),
        "agent_last_seen_at": _epoch(conversation.agent_last_seen_at),
        "contact_last_seen_at": _epoch(conversation.contact_last_seen_at),
        "contact": _contact_brief(client.contact),
    }


def message_json(message: Message, conversation: Conversation, names: dict[tuple[str, int], str]) -> dict[str, Any]:
    if message.sender_type == SenderType.CONTACT:
        sender: dict[str, Any] | None = {"type": "contact", "id": encode_global_id("Contact", message.sender_id or 0)}
    elif message.sender_type in (SenderType.USER, SenderType.BOT) and message.sender_id:
        kind = "user" if message.sender_type == SenderType.USER else "bot"
        sender = {"type": kind, "name": names.get((kind, message.sender_id), "")}
    else:
        sender = None
    attributes = {k: v for k, v in (message.content_attributes or {}).items() if k in ("echo_id", "in_reply_to")}
    return {
        "id": message.id,
        "content": "" if message.deleted_at else message.content,
        "message_type": MESSAGE_TYPE_NUMBERS[message.message_type],
        "content_type": "text",
        "content_attributes": {**attributes, **({"deleted": True} if message.deleted_at else {})},
        "echo_id": attributes.get("echo_id"),
        "created_at": _epoch(message.created_at),
        "conversation_id": conversation.display_id,
        "sender": sender,
    }


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise _BadBody("The body is not JSON.") from None
    if not isinstance(data, dict):
        raise _BadBody("The body must be a JSON object.")
    return data


class _BadBody(Exception):
    pass


Handler = Callable[[Request], Awaitable[Response]]


def _endpoint(handler: Handler, *, write: bool = False) -> Handler:
    """Rate limit by IP, then run; domain errors become typed JSON answers."""

    async def endpoint(request: Request) -> Response:
        services = request.app.state.services
        settings = services.settings
        limiter = services.rate_limiter
        per_minute = settings.widget_messages_per_ip_per_minute if write else settings.rate_limit_anonymous_per_minute
        ip = request.client.host if request.client else "unknown"
        if limiter is not None and per_minute > 0:
            decision = await limiter.hit(f"public-api:{'write' if write else 'read'}:ip:{ip}", per_minute)
            if not decision.allowed:
                wait = max(1, int(decision.retry_after_seconds + 0.999))
                return _error(429, "RATE_LIMITED", "Too many requests; try again later.", **{"Retry-After": str(wait)})
        try:
            return await handler(request)
        except _BadBody as exc:
            return _error(400, "BAD_REQUEST", str(exc))
        except ValidationError as exc:
            fields = [{"field": e.field, "code": e.code, "message": e.message} for e in exc.errors]
            return _error(422, "BAD_USER_INPUT", "The request is invalid; nothing was changed.", fields)
        except NotFound as exc:
            return _error(404, "NOT_FOUND", exc.message)
        except NotAuthenticated as exc:
            return _error(401, "UNAUTHENTICATED", exc.message)
        except RateLimited as exc:
            return _error(429, "RATE_LIMITED", exc.message)

    return endpoint


def _params(request: Request) -> tuple[str, str, str]:
    p = request.path_params
    return p["inbox_identifier"], p.get("contact_identifier", ""), p.get("conversation_id", "")


def _pubsub_token(request: Request, client: api.Client) -> str:
    """A widget session token of this contact inbox: the contact's live updates over GraphQL
    (`widgetEvents`) and the widget fields, as Chatwoot's pubsub token opens its ActionCable stream."""
    settings = request.app.state.services.settings
    from db.base import utcnow

    ci = client.contact_inbox
    return tokens.issue_widget_token(
        settings.secret_key,
        contact_inbox_id=ci.id,
        inbox_id=ci.inbox_id,
        account_id=ci.account_id,
        source_id=ci.source_id,
        now=utcnow(),
        ttl=timedelta(days=settings.widget_session_days),
    )


def routes() -> list[Route]:
    def unit(request: Request):
        services = request.app.state.services
        return unit_of_work(services.sessions, Relay.of(services))

    def sessions(request: Request):
        return request.app.state.services.sessions()

    async def inbox_show(request: Request) -> Response:
        inbox_identifier, _, _ = _params(request)
        async with sessions(request) as session:
            inbox = await api.inbox_for_identifier(session, inbox_identifier)
        return JSONResponse(
            {
                "identifier": inbox.api_identifier,
                "name": inbox.name,
                "timezone": inbox.timezone,
                "working_hours_enabled": inbox.working_hours_enabled,
                "working_hours": inbox.working_hours or [],
                "greeting_enabled": inbox.greeting_enabled,
                "greeting_message": inbox.greeting_message,
                "hmac_mandatory": inbox.hmac_mandatory,
            }
        )

    async def contact_create(request: Request) -> Response:
        inbox_identifier, _, _ = _params(request)
        data = await _body(request)
        settings = request.app.state.services.settings
        async with unit(request) as session:
            client = await api.create_contact(session, settings, inbox_identifier, data)
            body = contact_json(client, _pubsub_token(request, client))
        log.info("public_api.contact_created", inbox_id=client.inbox.id, contact_id=client.contact.id)
        return JSONResponse(body, 200)

    async def contact_show(request: Request) -> Response:
        inbox_identifier, contact_identifier, _ = _params(request)
        async with sessions(request) as session:
            client = await api.client_for(session, inbox_identifier, contact_identifier)
            body = contact_json(client, _pubsub_token(request, client))
        return JSONResponse(body)

    async def contact_update(request: Request) -> Response:
        inbox_identifier, contact_identifier, _ = _params(request)
        data = await _body(request)
        async with unit(request) as session:
            client = await api.update_contact(session, inbox_identifier, contact_identifier, data)
            body = contact_json(client, _pubsub_token(request, client))
        return JSONResponse(body)

    async def conversations_index(request: Request) -> Response:
        inbox_identifier, contact_identifier, _ = _params(request)
        async with sessions(request) as session:
            client = await api.client_for(session, inbox_identifier, contact_identifier)
            rows = await api.list_conversations(session, client)
            body = [conversation_json(c, client) for c in rows]
        return JSONResponse(body)

    async def conversation_create(request: Request) -> Response:
        inbox_identifier, contact_identifier, _ = _params(request)
        data = await _body(request)
        async with unit(request) as session:
            client = await api.client_for(session, inbox_identifier, contact_identifier)
            conversation = await api.create_conversation(session, client, data)
            body = conversation_json(conversation, client)
        return JSONResponse(body, 200)

    async def conversation_show(request: Request) -> Response:
        inbox_identifier, contact_identifier, conversation_id = _params(request)
        async with sessions(request) as session:
            client = await api.client_for(session, inbox_identifier, contact_identifier)
            conversation = await api.conversation_of(session, client, conversation_id)
            body = conversation_json(conversation, client)
        return JSONResponse(body)

    async def messages_index(request: Request) -> Response:
        inbox_identifier, contact_identifier, conversation_id = _params(request)
        q = request.query_params
        async with sessions(request) as session:
            client = await api.client_for(session, inbox_identifier, contact_identifier)
            conversation, rows = await api.list_messages(
                session, client, conversation_id, before=q.get("before"), after=q.get("after")
            )
            names = await widget_repo.sender_names(session, rows)
            body = [message_json(m, conversation, names) for m in rows]
        return JSONResponse(body)

    async def message_create(request: Request) -> Response:
        inbox_identifier, contact_identifier, conversation_id = _params(request)
        data = await _body(request)
        settings = request.app.state.services.settings
        async with unit(request) as session:
            client = await api.client_for(session, inbox_identifier, contact_identifier)
            conversation, message = await api.create_message(
                session, client, conversation_id, data, max_chars=settings.widget_max_message_chars
            )
            body = message_json(message, conversation, {})
        return JSONResponse(body, 200)

    return [
        Route(PREFIX, _endpoint(inbox_show), methods=["GET"]),
        Route(PREFIX + "/contacts", _endpoint(contact_create, write=True), methods=["POST"]),
        Route(CONTACT, _endpoint(contact_show), methods=["GET"]),
        Route(CONTACT, _endpoint(contact_update, write=True), methods=["PATCH"]),
        Route(CONTACT + "/conversations", _endpoint(conversations_index), methods=["GET"]),
        Route(CONTACT + "/conversations", _endpoint(conversation_create, write=True), methods=["POST"]),
        Route(CONVERSATION, _endpoint(conversation_show), methods=["GET"]),
        Route(CONVERSATION + "/messages", _endpoint(messages_index), methods=["GET"]),
        Route(CONVERSATION + "/messages", _endpoint(message_create, write=True), methods=["POST"]),
    ]
