"""Automation conditions: the conversation list's filter engine (domain/filters/conditions.py) over
one conversation, with the event's message (`message_type`, `content`, `private`; message_created
rules only) and the contact's custom attributes (`contact.<key>`) added to its attributes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Float, String, case, cast, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from db.models import Contact, Conversation, Message
from db.repositories import catalog as catalog_repo
from db.session import dialect_name
from domain.automation.enums import Trigger
from domain.enums import AttributeModel, MessageType
from domain.filters.conditions import DISPLAY_KINDS, Compiler, Condition, Standard
from domain.filters.enums import AttributeKind
from infra.api_names import decode_global_id

K = AttributeKind
MESSAGE_ATTRIBUTES = ("message_type", "content", "private")
CONTACT_PREFIX = "contact."


def _message_column(message_id: int | None, column: Any) -> ColumnElement[Any]:
    return select(column).where(Message.id == literal(message_id or 0)).scalar_subquery()


def _contact_custom(key: str, kind: AttributeKind, dialect: str) -> ColumnElement[Any]:
    value = Contact.custom_attributes[key]
    if kind == K.NUMBER:
        expr: Any = (
            case((func.jsonb_typeof(value) == "number", cast(value.as_string(), Float)), else_=None)
            if dialect == "postgresql"
            else value.as_float()
        )
    else:
        expr = value.as_string()
    return select(expr).where(Contact.id == Conversation.contact_id).scalar_subquery()


def _constant(expr: ColumnElement[Any]) -> Callable[[], ColumnElement[Any]]:
    return lambda: expr


async def compiler(
    session: AsyncSession, account_id: int, trigger: Trigger, message_id: int | None = None, path: str = "conditions"
) -> Compiler:
    dialect = dialect_name(session)
    extra: dict[str, Standard] = {}
    if trigger == Trigger.MESSAGE_CREATED:
        types = frozenset({MessageType.INCOMING.value, MessageType.OUTGOING.value})
        extra["message_type"] = Standard(
            K.CHOICE, lambda: _message_column(message_id, cast(Message.message_type, String)), types
        )
        extra["content"] = Standard(K.TEXT, lambda: _message_column(message_id, Message.content))
        extra["private"] = Standard(K.CHECKBOX, lambda: _message_column(message_id, Message.private), nullable=False)
    for definition in await catalog_repo.attribute_definitions(session, account_id, AttributeModel.CONTACT):
        kind = DISPLAY_KINDS[definition.display_type]
        expr = _contact_custom(definition.attribute_key, kind, dialect)
        choices = frozenset(str(v) for v in definition.list_values) if kind == K.LIST else frozenset()
        extra[CONTACT_PREFIX + definition.attribute_key] = Standard(kind, _constant(expr), choices, custom=True)
    return Compiler(
        AttributeModel.CONVERSATION,
        await catalog_repo.attribute_definitions(session, account_id, AttributeModel.CONVERSATION),
        account_id=account_id,
        decode_reference=decode_global_id,
        dialect=dialect,
        path=path,
        extra=extra,
    )


async def matches(
    session: AsyncSession,
    account_id: int,
    trigger: Trigger,
    conditions: Sequence[Condition],
    conversation_id: int,
    message_id: int | None,
) -> bool:
    if not conditions:
        return True
    predicate = (await compiler(session, account_id, trigger, message_id)).compile(conditions)
    found = await session.scalar(
        select(Conversation.id).where(
            Conversation.id == conversation_id, Conversation.account_id == account_id, predicate
        )
    )
    return found is not None
