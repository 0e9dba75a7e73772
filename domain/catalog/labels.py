"""Labels: administrators create, rename, recolour and delete them; every member reads them and
puts them on conversations, where other domains look them up by title."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Label
from db.repositories import catalog as repo
from domain import audit
from domain.accounts.actor import Actor
from domain.audit import RequestMeta
from domain.catalog.checks import description_of, flush_unique, refuse_beyond, required
from domain.catalog.limits import MAX_LABELS
from domain.errors import FieldError, NotFound, ValidationError

LABEL_TITLE_RE = re.compile(r"[\w-]+")  # Chatwoot: letters, digits, underscores and hyphens
COLOR_RE = re.compile(r"#[0-9a-fA-F]{6}")


def _check_title(title: str, errors: list[FieldError]) -> str:
    title = required(title, "title", errors, 100).lower()
    if title and len(title) <= 100 and not LABEL_TITLE_RE.fullmatch(title):
        errors.append(FieldError("title", "INVALID_TITLE", "Use only letters, digits, underscores and hyphens."))
    return title


def _check_color(color: str, errors: list[FieldError]) -> str:
    color = color.strip()
    if not COLOR_RE.fullmatch(color):
        errors.append(FieldError("color", "INVALID_COLOR", "Use a colour such as #1f93ff."))
    return color.lower()


async def labels_by_titles(session: AsyncSession, account_id: int, titles: list[str]) -> tuple[list[Label], list[str]]:
    """The account's labels with these titles (any case), in the order asked, each once; and the
    titles (as given, stripped, each once) that name no label."""
    normalized: dict[str, str] = {}
    for title in titles:
        normalized.setdefault(title.strip().lower(), title.strip())
    rows = await repo.labels_with_titles(session, account_id, [t for t in normalized if t])
    by_title = {label.title: label for label in rows}
    found = [by_title[t] for t in normalized if t in by_title]
    missing = [given for t, given in normalized.items() if t not in by_title]
    return found, missing


async def _label_or_404(session: AsyncSession, actor: Actor, label_id: int) -> Label:
    label = await repo.label_in_account(session, actor.require_account_id(), label_id)
    if label is None:
        raise NotFound("No such label")
    return label


async def create_label(
    session: AsyncSession,
    actor: Actor,
    *,
    title: str,
    description: str,
    color: str,
    show_on_sidebar: bool,
    meta: RequestMeta,
) -> Label:
    errors: list[FieldError] = []
    title = _check_title(title, errors)
    description = description_of(description, errors)
    color = _check_color(color, errors)
    if not errors and await repo.label_by_title(session, actor.require_account_id(), title):
        errors.append(FieldError("title", "TAKEN", "A label with this title exists."))
    if errors:
        raise ValidationError(errors)
    refuse_beyond(await repo.count_labels(session, actor.require_account_id()), MAX_LABELS, "labels")
    label = Label(
        account_id=actor.account_id, title=title, description=description, color=color, show_on_sidebar=show_on_sidebar
    )
    session.add(label)
    await flush_unique(session, "title", "A label with this title exists.")
    audit.record(
        session,
        actor,
        "label.create",
        "Label",
        label.id,
        {"title": title, "color": color, "showOnSidebar": show_on_sidebar},
        meta,
    )
    await session.flush()
    return label


async def update_label(
    session: AsyncSession,
    actor: Actor,
    label_id: int,
    *,
    title: str | None,
    description: str | None,
    color: str | None,
    show_on_sidebar: bool | None,
    meta: RequestMeta,
) -> Label:
    """A new title renames the label on every conversation that carries it."""
    label = await _label_or_404(session, actor, label_id)
    errors: list[FieldError] = []
    if title is not None:
        title = _check_title(title, errors)
        if not errors:
            other = await repo.label_by_title(session, actor.require_account_id(), title)
            if other is not None and other.id != label.id:
                errors.append(FieldError("title", "TAKEN", "A label with this title exists."))
    if description is not None:
        description = description_of(description, errors)
    if color is not None:
        color = _check_color(color, errors)
    if errors:
        raise ValidationError(errors)
    changes: dict[str, list[Any]] = {}
    for attr, key, value in (
        ("title", "title", title),
        ("description", "description", description),
        ("color", "color", color),
        ("show_on_sidebar", "showOnSidebar", show_on_sidebar),
    ):
        if value is not None and getattr(label, attr) != value:
            changes[key] = [getattr(label, attr), value]
            setattr(label, attr, value)
    if changes:
        await flush_unique(session, "title", "A label with this title exists.")
        audit.record(session, actor, "label.update", "Label", label.id, changes, meta)
        await session.flush()
    return label


async def delete_label(session: AsyncSession, actor: Actor, label_id: int, meta: RequestMeta) -> Label:
    """The label also leaves every conversation that carried it (ON DELETE CASCADE)."""
    label = await _label_or_404(session, actor, label_id)
    audit.record(session, actor, "label.delete", "Label", label.id, {"title": label.title}, meta)
    await session.delete(label)
    await session.flush()
    return label
