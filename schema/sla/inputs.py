"""Inputs of the SLA mutations."""

from __future__ import annotations

import strawberry

from domain.sla.policies import MAX_DESCRIPTION, MAX_NAME, MAX_TARGET


@strawberry.input(description="A new SLA policy: at least one target.")
class SlaPolicyCreateInput:
    name: str = strawberry.field(description=f"Unique within the account (any case), up to {MAX_NAME} characters.")
    description: str = strawberry.field(default="", description=f"Up to {MAX_DESCRIPTION} characters.")
    first_response_seconds: int | None = strawberry.field(
        default=None, description=f"Seconds to the first reply, 1 to {MAX_TARGET} (null: not timed)."
    )
    next_response_seconds: int | None = strawberry.field(
        default=None, description=f"Seconds to each next reply, 1 to {MAX_TARGET} (null: not timed)."
    )
    resolution_seconds: int | None = strawberry.field(
        default=None, description=f"Seconds to resolution, 1 to {MAX_TARGET} (null: not timed)."
    )
    business_hours_only: bool = strawberry.field(
        default=False, description="Count only the working hours of the conversation's inbox."
    )


@strawberry.input(description="Change an SLA policy: omitted fields stay; a target given as null stops being timed.")
class SlaPolicyUpdateInput:
    name: str | None = strawberry.field(default=strawberry.UNSET, description="New name.")
    description: str | None = strawberry.field(default=strawberry.UNSET, description="New description.")
    first_response_seconds: int | None = strawberry.field(
        default=strawberry.UNSET, description="New first response target (null: not timed)."
    )
    next_response_seconds: int | None = strawberry.field(
        default=strawberry.UNSET, description="New next response target (null: not timed)."
    )
    resolution_seconds: int | None = strawberry.field(
        default=strawberry.UNSET, description="New resolution target (null: not timed)."
    )
    business_hours_only: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Count only working hours (null: unchanged)."
    )
