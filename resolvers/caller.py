"""Who sends an operation, as far as limits care: its kind (anonymous, user, bot, partner), the key
of its cost budget, its limits, whether it may introspect, and the cost report `rateLimit` shows.
Resolved once per request or socket and kept on the context."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.accounts.actor import ActorKind
from domain.partners.service import PartnerActor, is_partner_token
from infra.settings import Introspection


@dataclass
class Caller:
    """Who sends the operation, as far as limits care: a kind (anonymous, user, bot, partner), the
    key of its cost budget, its limits and whether it may introspect."""

    kind: str
    budget_key: str | None
    limits: dict[str, int]
    introspection: bool
    actor: Any = None
    cost: CostReport | None = None  # of the operation being run, for `rateLimit`


@dataclass
class CostReport:
    cost: int
    max_cost: int
    limit: int
    used: int
    remaining: int
    reset_at: datetime

    def as_extension(self) -> dict[str, Any]:
        return {
            "requestedQueryCost": self.cost,
            "maximumQueryCost": self.max_cost,
            "budget": {
                "limit": self.limit,
                "used": self.used,
                "remaining": self.remaining,
                "resetAt": self.reset_at.isoformat().replace("+00:00", "Z"),
            },
        }


DEFAULT_LIMITS = {
    "max_depth": 12,
    "max_aliases": 30,
    "max_tokens": 5000,
    "max_root_fields": 20,
    "max_mutations": 5,
    "max_directives": 50,
    "max_cost": 10_000,
    "cost_budget_per_hour": 0,
}


async def caller_of(context: Any) -> Caller:
    """The caller of this request or socket, resolved once and kept on the context."""
    existing = getattr(context, "caller", None)
    if isinstance(existing, Caller):
        return existing
    services = getattr(context, "services", None)
    if services is None:  # the schema executed directly (tests, scripts): default limits
        return Caller("user", None, dict(DEFAULT_LIMITS), True)
    settings = services.settings
    credential = context.credential
    actor = None
    try:
        actor = await context.actor() if credential.token else None
    except Exception:  # noqa: BLE001 - the fields meet the same error and report it; limit as anonymous meanwhile
        actor = None
    ip = context.meta.ip or "unknown"
    if actor is None or not actor.is_authenticated:
        kind, key = "anonymous", f"ip:{ip}"
        if is_partner_token(credential.token):
            kind = "partner"
    elif isinstance(actor, PartnerActor):
        kind, key = "partner", f"partner-token:{actor.partner_token_id}"
    elif actor.kind == ActorKind.bot:
        kind, key = "bot", f"token:{actor.api_token_id}"
    else:
        kind = "user"
        key = f"token:{actor.api_token_id}" if actor.api_token_id else f"user:{actor.user_id}"
    policy = settings.introspection_policy
    introspection = policy == Introspection.everyone or (policy == Introspection.users and kind == "user")
    caller = Caller(kind, key, settings.query_limits(kind), introspection, actor)
    try:
        context.caller = caller
    except AttributeError:  # pragma: no cover - a context without the slot
        pass
    return caller
