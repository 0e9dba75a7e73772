"""Inputs of realtime mutations and queries."""

from __future__ import annotations

import strawberry

from schema.accounts.types import AvailabilityEnum


@strawberry.input(description="Start or stop showing that you are typing.")
class TypingSetInput:
    conversation_id: strawberry.ID = strawberry.field(description="The conversation.")
    on: bool = strawberry.field(
        description="True when typing starts (repeat every few seconds while typing); false when it stops."
    )
    private: bool = strawberry.field(default=False, description="Typing a private note (only agents see it).")


@strawberry.input(description="Choose your availability.")
class AvailabilitySetInput:
    availability: AvailabilityEnum = strawberry.field(description="online, busy or offline.")
