"""GraphQL types of SLAs: policies, the SLA applied to a conversation, payloads."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from domain.sla.enums import SlaStatus
from schema.core.ids import encode_id
from schema.sla.errors import SlaError

if TYPE_CHECKING:
    from schema.helpdesk.types import Conversation

SlaStatusEnum = strawberry.enum(
    SlaStatus,
    name="SlaStatus",
    description="ACTIVE: running, nothing missed; ACTIVE_WITH_MISSES: running, a target missed; HIT: resolved "
    "with every target met; MISSED: resolved with a target missed.",
)


@strawberry.type(description="An SLA policy of the account: response and resolution targets.")
class SlaPolicy:
    pk: strawberry.Private[int]
    name: str = strawberry.field(description="Unique within the account (any case).")
    description: str = strawberry.field(description="What it is for.")
    first_response_seconds: int | None = strawberry.field(
        description="Time to an agent's first public reply (null: not timed)."
    )
    next_response_seconds: int | None = strawberry.field(
        description="Time to answer each later message of the contact (null: not timed)."
    )
    resolution_seconds: int | None = strawberry.field(
        description="Time to resolve, from creation or a reopening (null: not timed)."
    )
    business_hours_only: bool = strawberry.field(
        description="Count only the working hours of the conversation's inbox (when the inbox has them enabled)."
    )
    created_at: datetime = strawberry.field(description="When it was created.")

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("SlaPolicy", self.pk))

    @classmethod
    def from_row(cls, row) -> SlaPolicy:
        return cls(
            pk=row.id,
            name=row.name,
            description=row.description,
            first_response_seconds=row.first_response_seconds,
            next_response_seconds=row.next_response_seconds,
            resolution_seconds=row.resolution_seconds,
            business_hours_only=row.business_hours_only,
            created_at=row.created_at,
        )


@strawberry.type(description="The SLA applied to a conversation and where its targets stand.")
class AppliedSla:
    row: strawberry.Private[object]
    status: SlaStatusEnum = strawberry.field(description="Where the SLA stands.")
    first_response_due_at: datetime | None = strawberry.field(
        description="Deadline of the first response while it runs (null: met, missed, stopped or not timed)."
    )
    next_response_due_at: datetime | None = strawberry.field(
        description="Deadline of the next response while one runs."
    )
    resolution_due_at: datetime | None = strawberry.field(description="Deadline of the resolution while it runs.")
    first_response_missed: bool = strawberry.field(description="The first response came late (or not in time).")
    next_response_missed: bool = strawberry.field(description="A next response came late.")
    resolution_missed: bool = strawberry.field(description="The resolution came late.")
    applied_at: datetime = strawberry.field(description="When the SLA was applied.")

    @strawberry.field(description="The next deadline of the targets that run (null: none runs).")
    def due_at(self) -> datetime | None:
        dues = [d for d in (self.first_response_due_at, self.next_response_due_at, self.resolution_due_at) if d]
        return min(dues, default=None)

    @strawberry.field(description="The policy.")
    async def policy(self, info: strawberry.Info) -> SlaPolicy:
        return SlaPolicy.from_row(await info.context.loaders.sla_policy_by_id.load(self.row.sla_policy_id))

    @classmethod
    def from_row(cls, row) -> AppliedSla:
        return cls(
            row=row,
            status=row.status,
            first_response_due_at=row.first_response_due_at,
            next_response_due_at=row.next_response_due_at,
            resolution_due_at=row.resolution_due_at,
            first_response_missed=row.first_response_missed,
            next_response_missed=row.next_response_missed,
            resolution_missed=row.resolution_missed,
            applied_at=row.created_at,
        )


@strawberry.type(description="Result of the SLA policy mutations.")
class SlaPolicyPayload:
    sla_policy: SlaPolicy | None = strawberry.field(description="The policy (as it was, after a deletion).")
    errors: list[SlaError] = strawberry.field(description="User errors; empty on success.")


@strawberry.type(description="Result of applying or removing a conversation's SLA.")
class ConversationSlaPayload:
    conversation: Annotated[Conversation, strawberry.lazy("schema.helpdesk.types")] | None = strawberry.field(
        description="The conversation."
    )
    errors: list[SlaError] = strawberry.field(description="User errors; empty on success.")
