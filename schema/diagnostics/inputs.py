"""Inputs of diagnostics mutations and queries."""

from __future__ import annotations

import strawberry


@strawberry.input(description="A message to publish to the subscribers of a topic.")
class DiagnosticsPingInput:
    topic: str = strawberry.field(description="1 to 64 letters, digits, '.', '_' or '-'.")
    message: str = strawberry.field(description="Up to 1,000 characters.")
    via_worker: bool = strawberry.field(
        default=False, description="Publish from a background job instead of from this request."
    )
