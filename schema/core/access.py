"""Every root field declares who may call it. `access(rule)` attaches the rule; the extension checks it
before the resolver runs, so authorization of entry points lives in this one place. A root field
without a rule is refused by a test that walks the schema."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from strawberry.extensions.field_extension import FieldExtension
from strawberry.types import Info

from domain.accounts.policy import Rule, require


class Access(FieldExtension):
    def __init__(self, rule: Rule) -> None:
        self.rule = rule

    def apply(self, field) -> None:  # type: ignore[override]
        # The rule is part of the contract: it is shown in the field's description.
        # A field object is shared by every schema built from it (the exported SDL, each app), and
        # each build applies its extensions again: add the note once.
        note = f"Access: {self.rule.value}."
        if field.description and field.description.endswith(note):
            return
        field.description = f"{field.description} {note}" if field.description else note

    async def resolve_async(self, next_: Callable[..., Awaitable[Any]], source: Any, info: Info, **kwargs: Any) -> Any:
        actor = await info.context.actor()
        require(actor, self.rule)
        return await next_(source, info, **kwargs)

    def resolve(self, next_: Callable[..., Any], source: Any, info: Info, **kwargs: Any) -> Any:
        raise RuntimeError("root fields with an access rule must be async")


def access(rule: Rule) -> list[FieldExtension]:
    return [Access(rule)]


def rule_of(field) -> Rule | None:
    if getattr(field, "parley_rule", None) is not None:
        return field.parley_rule
    for ext in getattr(field, "extensions", None) or ():
        if isinstance(ext, Access):
            return ext.rule
    return None


def field(resolver, rule: Rule, description: str):
    """A root query field with its access rule."""
    import strawberry

    return strawberry.field(resolver=resolver, description=description, extensions=access(rule))


def mutation(resolver, rule: Rule, description: str):
    """A root mutation with its access rule."""
    import strawberry

    return strawberry.mutation(resolver=resolver, description=description, extensions=access(rule))


def subscription(rule: Rule, description: str):
    """A root subscription with its access rule. Field extensions do not run for subscriptions, so
    the resolver enforces the same rule (resolvers/realtime.py) before it subscribes; the rule is
    recorded here for the schema's description and the tenancy walk."""
    import strawberry

    def decorator(fn):
        f = strawberry.subscription(description=f"{description} Access: {rule.value}.")(fn)
        f.parley_rule = rule
        return f

    return decorator
