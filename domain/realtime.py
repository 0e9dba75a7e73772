"""Real-time rules: which logged events a stream carries, how they are named to clients, typing
indicators and presence (both ephemeral: broadcast directly, never written to the event log)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Event, User
from domain.accounts.actor import Actor
from domain.enums import Availability
from domain.errors import ValidationError
from domain.events.enums import EventType, LiveType, Stream, shown_in

# Which streams carry which event types is declared beside each type (domain/events/enums.py).
ACCOUNT_STREAM_TYPES = shown_in(Stream.ACCOUNT)
CONVERSATION_STREAM_TYPES = shown_in(Stream.CONVERSATION)

EPHEMERAL_KEY = "ephemeral"


def public_type(event: Event) -> str:
    """The event's name for clients: the log's type, except that deleting a message (an update that
    blanks it) is announced as `message.deleted`."""
    if event.type == EventType.MESSAGE_UPDATED:
        changed = (event.payload or {}).get("changed_attributes") or {}
        if "deleted" in changed:
            return LiveType.MESSAGE_DELETED
    return event.type


def in_account_stream(event: Event) -> bool:
    return event.type in ACCOUNT_STREAM_TYPES


def in_conversation_stream(event: Event) -> bool:
    return event.type in CONVERSATION_STREAM_TYPES


def inbox_event_visible(actor: Actor, inbox_id: int | None, member_inbox_ids: set[int]) -> bool:
    return actor.is_administrator or (inbox_id is not None and inbox_id in member_inbox_ids)


# --- typing ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Typing:
    conversation_id: int
    on: bool
    private: bool
    user_id: int | None = None
    contact_id: int | None = None

    def message(self) -> str:
        return json.dumps(
            {
                EPHEMERAL_KEY: "typing",
                "conversation_id": self.conversation_id,
                "on": self.on,
                "private": self.private,
                "user_id": self.user_id,
                "contact_id": self.contact_id,
            }
        )

    @property
    def who(self) -> str:
        return f"user:{self.user_id}" if self.user_id is not None else f"contact:{self.contact_id}"

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Typing:
        return cls(
            conversation_id=int(data["conversation_id"]),
            on=bool(data["on"]),
            private=bool(data["private"]),
            user_id=data.get("user_id"),
            contact_id=data.get("contact_id"),
        )


# --- presence --------------------------------------------------------------------------------------


def effective_status(availability: Availability, connected: bool) -> Availability:
    """What others see: offline without an open socket, otherwise the availability the agent chose."""
    return availability if connected else Availability.OFFLINE


def presence_message(user_id: int, status: Availability) -> str:
    return json.dumps({EPHEMERAL_KEY: "presence", "user_id": user_id, "status": status.value})


def parse_availability(value: str) -> Availability:
    try:
        return Availability(value)
    except ValueError:
        raise ValidationError.single("availability", "INVALID", "Choose online, busy or offline.") from None


async def set_availability(session: AsyncSession, actor: Actor, availability: Availability) -> User:
    """Store the availability the agent chose (it is theirs across accounts, as their profile)."""
    from db.repositories import accounts as account_repo

    user = await account_repo.user_by_id(session, actor.require_user_id())
    assert user is not None  # the signed-in user's own row
    if user.availability != availability:
        user.availability = availability
        await session.flush()
    return user
