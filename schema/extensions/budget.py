"""The hourly cost budget of a caller (token, user or IP): each operation's cost is charged to it,
reported in `extensions.cost` and by the `rateLimit` field; a spent budget refuses the operation."""

from __future__ import annotations

from typing import Any

from domain.errors import ErrorCode, ParleyError
from infra.logs import get_logger
from resolvers.caller import Caller, CostReport
from schema.extensions.refusals import as_graphql_error

log = get_logger("parley.limits")


async def charge(context: Any, caller: Caller, cost: int, window: int) -> tuple[CostReport | None, list[Any] | None]:
    """Charge the operation's cost to the caller's budget: the report (None without a budget or when
    the store is unreachable) and, when the budget is spent, the errors that refuse the operation.
    The request's rate limits, which the HTTP view left for this step, are checked in the same round
    trip; when one refuses, nothing is charged and the view answers 429."""
    from domain.events.channels import AUTH_EPOCH_KEY
    from infra.ratelimit import BudgetCharge, check_limits

    budget = caller.limits.get("cost_budget_per_hour", 0)
    services = getattr(context, "services", None)
    store = getattr(services, "cost_budget", None)
    pending = getattr(context, "pending_limits", None)
    if pending is not None:
        context.pending_limits = None
    wanted = (
        BudgetCharge(caller.budget_key, cost, budget, window) if budget > 0 and store and caller.budget_key else None
    )
    if wanted is None and not pending:
        return None, None
    checks, hits = pending or ([], 1)
    cache = getattr(services, "auth_cache", None)
    try:
        outcome = await check_limits(
            getattr(services, "rate_limiter", None),
            store,
            checks,
            hits,
            wanted,
            epoch_key=AUTH_EPOCH_KEY if cache is not None else None,
        )
    except Exception as exc:  # noqa: BLE001 - Redis down: serve without the budget, as the rate limits do
        log.warning("cost_budget.unavailable", error=type(exc).__name__)
        return None, None
    moved = cache is not None and outcome.auth_epoch is not None and cache.observe(outcome.auth_epoch)
    if moved and getattr(context, "actor_from_cache", False):
        # Credentials changed somewhere since this process last looked and this request's caller came
        # from the cache, so it may be stale: its fields resolve the caller again (from the database).
        # A caller read from the database during this request is as fresh as the request.
        forget = getattr(context, "forget_actor", None)
        if forget is not None:
            forget()
            context.credentials_refreshed = True
    if outcome.refused is not None and outcome.decision is not None:
        context.throttled = (outcome.decision.retry_after_seconds, outcome.refused.name)
        return None, [as_graphql_error(RateLimited("Too many requests"))]
    state = outcome.budget
    if state is None:
        return None, None
    report = CostReport(cost, caller.limits["max_cost"], state.limit, state.used, state.remaining, state.reset_at)
    caller.cost = report
    if state.allowed:
        return report, None
    reset_at = report.as_extension()["budget"]["resetAt"]
    exc = BudgetExhausted(
        f"The hourly query cost budget is spent ({state.used} of {state.limit} used); it resets at {reset_at}",
        retryAfter=state.retry_after_seconds,
        resetAt=reset_at,
        cost=cost,
        remaining=state.remaining,
    )
    return report, [as_graphql_error(exc)]


class RateLimited(ParleyError):
    """A rate limit refused the request (the view answers it with 429 and Retry-After)."""

    code = ErrorCode.RATE_LIMITED
    default_message = "Too many requests"


class BudgetExhausted(ParleyError):
    code = ErrorCode.RATE_LIMITED
    default_message = "The hourly query cost budget is spent"
