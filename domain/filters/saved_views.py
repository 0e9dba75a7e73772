"""Saved views (Chatwoot's custom filters): a named list of filter conditions (and, for
conversations, a tab) that a member keeps for themselves or an administrator shares with the whole
account. The payload is checked on save with the checks the list applies, so a saved view always
loads; names are unique per owner and list, in any case."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.models import SavedView
from db.repositories import catalog as catalog_repo
from db.repositories import saved_views as repo
from db.session import dialect_name
from domain.accounts.actor import Actor
from domain.catalog.checks import flush_unique, required
from domain.enums import AttributeModel
from domain.errors import FieldError, Forbidden, NotFound, ValidationError
from domain.filters.conditions import Compiler, Condition
from domain.filters.enums import ConversationTab, SavedViewKind

MAX_VIEWS_PER_OWNER = 100
MAX_NAME = 100
TAKEN = "A view with this name exists."

DecodeReference = Callable[[str, str], int | None]


@dataclass(frozen=True)
class ViewFilter:
    """What a view stores: conditions as given (IDs stay global IDs) and the tab of a conversation view."""

    conditions: Sequence[Condition]
    tab: str | None = None

    def payload(self) -> dict[str, Any]:
        return {
            "conditions": [
                {
                    "attribute_key": c.attribute_key,
                    "filter_operator": c.filter_operator.lower(),
                    "values": list(c.values),
                    "query_operator": c.query_operator.lower() if c.query_operator else None,
                }
                for c in self.conditions
            ],
            "tab": self.tab,
        }


def conditions_of(view: SavedView) -> list[Condition]:
    return [
        Condition(c["attribute_key"], c["filter_operator"], tuple(c.get("values") or ()), c.get("query_operator"))
        for c in view.payload.get("conditions", [])
    ]


def tab_of(view: SavedView) -> str | None:
    tab = view.payload.get("tab")
    return str(tab) if tab else None


async def _check_filter(
    session: AsyncSession,
    actor: Actor,
    kind: SavedViewKind,
    view_filter: ViewFilter,
    decode_reference: DecodeReference,
    errors: list[FieldError],
) -> None:
    """The list's own checks (domain/filters/conditions.py), errors named `conditions.N.field`."""
    model = AttributeModel.CONVERSATION if kind == SavedViewKind.CONVERSATION else AttributeModel.CONTACT
    if view_filter.tab is not None:
        if kind != SavedViewKind.CONVERSATION:
            errors.append(FieldError("tab", "INVALID", "Only conversation views have a tab."))
        elif view_filter.tab not in {t.value for t in ConversationTab}:
            errors.append(FieldError("tab", "INVALID", "Unknown tab."))
    account_id = actor.require_account_id()
    compiler = Compiler(
        model,
        await catalog_repo.attribute_definitions(session, account_id, model),
        account_id=account_id,
        decode_reference=decode_reference,
        dialect=dialect_name(session),
        path="conditions",
    )
    try:
        compiler.compile(view_filter.conditions)
    except ValidationError as exc:
        errors.extend(exc.errors)


async def list_views(session: AsyncSession, actor: Actor, kind: SavedViewKind) -> Sequence[SavedView]:
    """The caller's own views of the list and the account-wide ones."""
    return await repo.visible_views(session, actor.require_account_id(), actor.user_id, kind.value)


async def view_to_apply(session: AsyncSession, actor: Actor, view_id: int, kind: SavedViewKind) -> SavedView:
    """A view of `kind` the caller may see (their own or the account's), to filter a list with;
    another member's, another account's or another list's view is not found."""
    view = await repo.visible_view(session, actor.require_account_id(), actor.user_id, view_id)
    if view is None or view.kind != kind.value:
        raise NotFound("No such saved view")
    return view


async def _view_to_change(session: AsyncSession, actor: Actor, view_id: int) -> SavedView:
    view = await repo.visible_view(session, actor.require_account_id(), actor.user_id, view_id)
    if view is None:
        raise NotFound("No such saved view")
    if view.owner_user_id is None and not actor.is_administrator:
        raise Forbidden("Only administrators change account-wide views")
    return view


async def create_view(
    session: AsyncSession,
    actor: Actor,
    *,
    kind: SavedViewKind,
    name: str,
    view_filter: ViewFilter,
    account_wide: bool,
    decode_reference: DecodeReference,
) -> SavedView:
    if account_wide and not actor.is_administrator:
        raise Forbidden("Only administrators save account-wide views")
    owner = None if account_wide else actor.require_user_id()
    account_id = actor.require_account_id()
    errors: list[FieldError] = []
    name = required(name, "name", errors, MAX_NAME)
    await _check_filter(session, actor, kind, view_filter, decode_reference, errors)
    if name and await repo.view_named(session, account_id, owner, kind.value, name) is not None:
        errors.append(FieldError("name", "TAKEN", TAKEN))
    if errors:
        raise ValidationError(errors)
    if await repo.count_owned(session, account_id, owner) >= MAX_VIEWS_PER_OWNER:
        raise ValidationError.single(None, "LIMIT_REACHED", f"At most {MAX_VIEWS_PER_OWNER} saved views.")
    view = SavedView(
        account_id=account_id, owner_user_id=owner, kind=kind.value, name=name, payload=view_filter.payload()
    )
    session.add(view)
    await flush_unique(session, "name", TAKEN)
    return view


async def update_view(
    session: AsyncSession,
    actor: Actor,
    view_id: int,
    *,
    name: str | None,
    view_filter: ViewFilter | None,
    decode_reference: DecodeReference,
) -> SavedView:
    view = await _view_to_change(session, actor, view_id)
    errors: list[FieldError] = []
    if name is not None:
        name = required(name, "name", errors, MAX_NAME)
        other = await repo.view_named(session, view.account_id, view.owner_user_id, view.kind, name) if name else None
        if other is not None and other.id != view.id:
            errors.append(FieldError("name", "TAKEN", TAKEN))
    if view_filter is not None:
        await _check_filter(session, actor, SavedViewKind(view.kind), view_filter, decode_reference, errors)
    if errors:
        raise ValidationError(errors)
    if name is not None:
        view.name = name
    if view_filter is not None:
        view.payload = view_filter.payload()
    await flush_unique(session, "name", TAKEN)
    return view


async def delete_view(session: AsyncSession, actor: Actor, view_id: int) -> SavedView:
    view = await _view_to_change(session, actor, view_id)
    await session.delete(view)
    await session.flush()
    return view
