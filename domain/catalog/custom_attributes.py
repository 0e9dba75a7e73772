"""Custom attribute definitions, which administrators manage, and the check of the values that
contacts and conversations carry under them (a widget visitor's included)."""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from db.models import CustomAttributeDefinition
from db.repositories import catalog as repo
from domain import audit
from domain.accounts.actor import Actor
from domain.audit import RequestMeta
from domain.catalog.checks import description_of, flush_unique, refuse_beyond, required
from domain.catalog.limits import MAX_DEFINITIONS_PER_MODEL, MAX_LINK_VALUE, MAX_LIST_VALUES, MAX_TEXT_VALUE
from domain.catalog.patterns import PATTERN_BUDGET, PatternError, compile_pattern
from domain.enums import AttributeDisplayType, AttributeModel
from domain.errors import FieldError, NotFound, ValidationError

ATTRIBUTE_KEY_RE = re.compile(r"[\w.-]+")  # Chatwoot: letters, digits, underscores, dots and hyphens

# Chatwoot's standard attributes (CustomAttributeDefinition::STANDARD_ATTRIBUTES): a custom key may not
# shadow them, since filters and automations address both kinds by key.
RESERVED_KEYS: dict[AttributeModel, frozenset[str]] = {
    AttributeModel.CONVERSATION: frozenset(
        {
            "status",
            "priority",
            "assignee_id",
            "inbox_id",
            "team_id",
            "display_id",
            "campaign_id",
            "labels",
            "browser_language",
            "country_code",
            "referer",
            "created_at",
            "last_activity_at",
        }
    ),
    AttributeModel.CONTACT: frozenset(
        {
            "name",
            "email",
            "phone_number",
            "identifier",
            "country_code",
            "city",
            "company_name",
            "created_at",
            "last_activity_at",
            "referer",
            "blocked",
        }
    ),
}


def _check_list_values(values: list[str], display_type: AttributeDisplayType, errors: list[FieldError]) -> list[str]:
    if display_type != AttributeDisplayType.LIST:
        if values:
            errors.append(FieldError("listValues", "INVALID_LIST_VALUES", "Only list attributes take list values."))
        return []
    cleaned = [v.strip() for v in values]
    if not cleaned:
        errors.append(FieldError("listValues", "REQUIRED", "A list attribute needs at least one value."))
    elif len(cleaned) > MAX_LIST_VALUES:
        errors.append(FieldError("listValues", "TOO_MANY", f"At most {MAX_LIST_VALUES} values."))
    elif any(not v or len(v) > 255 for v in cleaned):
        errors.append(FieldError("listValues", "INVALID_LIST_VALUES", "Each value needs 1 to 255 characters."))
    elif len(set(cleaned)) != len(cleaned):
        errors.append(FieldError("listValues", "INVALID_LIST_VALUES", "Values must be distinct."))
    return cleaned


def _check_regex(
    pattern: str | None, cue: str | None, display_type: AttributeDisplayType, errors: list[FieldError]
) -> tuple[str | None, str | None]:
    pattern = pattern or None
    cue = (cue or "").strip() or None
    if cue is not None and len(cue) > 255:
        errors.append(FieldError("regexCue", "TOO_LONG", "At most 255 characters."))
    if pattern is None:
        return None, cue
    if display_type != AttributeDisplayType.TEXT:
        errors.append(FieldError("regexPattern", "INVALID_REGEX", "Only text attributes take a pattern."))
    elif len(pattern) > 255:
        errors.append(FieldError("regexPattern", "TOO_LONG", "At most 255 characters."))
    else:
        try:
            compile_pattern(pattern)
        except PatternError as exc:
            errors.append(FieldError("regexPattern", "INVALID_REGEX", str(exc)))
    return pattern, cue


async def _definition_or_404(session: AsyncSession, actor: Actor, definition_id: int) -> CustomAttributeDefinition:
    row = await repo.attribute_definition_in_account(session, actor.require_account_id(), definition_id)
    if row is None:
        raise NotFound("No such custom attribute definition")
    return row


async def create_attribute_definition(
    session: AsyncSession,
    actor: Actor,
    *,
    model: AttributeModel,
    key: str,
    display_name: str,
    display_type: AttributeDisplayType,
    description: str,
    list_values: list[str],
    regex_pattern: str | None,
    regex_cue: str | None,
    meta: RequestMeta,
) -> CustomAttributeDefinition:
    errors: list[FieldError] = []
    key = required(key, "key", errors, 100)
    if key and len(key) <= 100:
        if not ATTRIBUTE_KEY_RE.fullmatch(key):
            errors.append(FieldError("key", "INVALID_KEY", "Use only letters, digits, underscores, dots and hyphens."))
        elif key in RESERVED_KEYS[model]:
            errors.append(FieldError("key", "RESERVED_KEY", f"`{key}` is a standard {model.value} attribute."))
    display_name = required(display_name, "displayName", errors, 255)
    description = description_of(description, errors)
    values = _check_list_values(list_values, display_type, errors)
    regex_pattern, regex_cue = _check_regex(regex_pattern, regex_cue, display_type, errors)
    if not errors and await repo.attribute_definitions_by_keys(session, actor.require_account_id(), model, [key]):
        errors.append(FieldError("key", "TAKEN", f"A {model.value} attribute with this key exists."))
    if errors:
        raise ValidationError(errors)
    refuse_beyond(
        await repo.count_attribute_definitions(session, actor.require_account_id(), model),
        MAX_DEFINITIONS_PER_MODEL,
        f"{model.value} attributes",
    )
    row = CustomAttributeDefinition(
        account_id=actor.account_id,
        attribute_model=model,
        attribute_key=key,
        display_name=display_name,
        display_type=display_type,
        description=description,
        list_values=values,
        regex_pattern=regex_pattern,
        regex_cue=regex_cue,
    )
    session.add(row)
    await flush_unique(session, "key", f"A {model.value} attribute with this key exists.")
    audit.record(
        session,
        actor,
        "custom_attribute_definition.create",
        "CustomAttributeDefinition",
        row.id,
        {"model": model.value, "key": key, "displayType": display_type.value},
        meta,
    )
    await session.flush()
    return row


KEEP: Any = object()  # a keyword left out: the value stays as it is


async def update_attribute_definition(
    session: AsyncSession,
    actor: Actor,
    definition_id: int,
    *,
    display_name: str | None = None,
    description: str | None = None,
    list_values: list[str] | None = None,
    regex_pattern: str | None = KEEP,
    regex_cue: str | None = KEEP,
    meta: RequestMeta,
) -> CustomAttributeDefinition:
    """Key, model and type stay as created: stored values were checked against them. `regex_pattern`
    and `regex_cue` left out stay; None removes them."""
    row = await _definition_or_404(session, actor, definition_id)
    errors: list[FieldError] = []
    if display_name is not None:
        display_name = required(display_name, "displayName", errors, 255)
    if description is not None:
        description = description_of(description, errors)
    if list_values is not None:
        list_values = _check_list_values(list_values, row.display_type, errors)
    new_pattern = row.regex_pattern if regex_pattern is KEEP else regex_pattern
    new_cue = row.regex_cue if regex_cue is KEEP else regex_cue
    if regex_pattern is not KEEP or regex_cue is not KEEP:
        new_pattern, new_cue = _check_regex(new_pattern, new_cue, row.display_type, errors)
    if errors:
        raise ValidationError(errors)
    changes: dict[str, list[Any]] = {}
    for attr, key, value in (
        ("display_name", "displayName", display_name),
        ("description", "description", description),
        ("list_values", "listValues", list_values),
    ):
        if value is not None and getattr(row, attr) != value:
            changes[key] = [getattr(row, attr), value]
            setattr(row, attr, value)
    for attr, key, value in (("regex_pattern", "regexPattern", new_pattern), ("regex_cue", "regexCue", new_cue)):
        if getattr(row, attr) != value:
            changes[key] = [getattr(row, attr), value]
            setattr(row, attr, value)
    if changes:
        audit.record(
            session, actor, "custom_attribute_definition.update", "CustomAttributeDefinition", row.id, changes, meta
        )
        await session.flush()
    return row


async def delete_attribute_definition(
    session: AsyncSession, actor: Actor, definition_id: int, meta: RequestMeta
) -> CustomAttributeDefinition:
    """Values already stored under the key stay on contacts and conversations, as in Chatwoot."""
    row = await _definition_or_404(session, actor, definition_id)
    audit.record(
        session,
        actor,
        "custom_attribute_definition.delete",
        "CustomAttributeDefinition",
        row.id,
        {"model": row.attribute_model.value, "key": row.attribute_key},
        meta,
    )
    await session.delete(row)
    await session.flush()
    return row


async def validate_custom_attributes(
    session: AsyncSession,
    account_id: int,
    model: AttributeModel,
    values: dict[str, Any],
    field: str = "customAttributes",
) -> list[FieldError]:
    """Errors of custom attribute values against the account's definitions for `model`: each key must
    be defined (`UNKNOWN_ATTRIBUTE`) and its value must fit the definition's type (`INVALID_ATTRIBUTE`):
    number, currency and percent take JSON numbers; checkbox true or false; date an ISO 8601 date or
    date-time string; link an http(s) URL; list one of the definition's values; text a string of at
    most 1000 characters that matches the definition's pattern, if it has one (the message is then
    its cue). A null value passes: it means "remove this attribute". Each error's field is
    `<field>.<key>`. One query."""
    if not isinstance(values, dict):
        return [FieldError(field, "INVALID_ATTRIBUTE", "Custom attributes must be an object of key → value.")]
    if len(values) > MAX_DEFINITIONS_PER_MODEL:
        return [FieldError(field, "INVALID_ATTRIBUTE", f"At most {MAX_DEFINITIONS_PER_MODEL} attributes.")]
    keys = [k for k in values if isinstance(k, str)]
    definitions = await repo.attribute_definitions_by_keys(session, account_id, model, keys)
    errors: list[FieldError] = []
    budget = [PATTERN_BUDGET]
    for key, value in values.items():
        path = f"{field}.{key}"
        definition = definitions.get(key)
        if definition is None:
            errors.append(
                FieldError(path, "UNKNOWN_ATTRIBUTE", f"No {model.value} attribute is defined with the key `{key}`.")
            )
            continue
        if value is None:
            continue
        problem = _value_problem(definition, value, budget)
        if problem is not None:
            errors.append(FieldError(path, "INVALID_ATTRIBUTE", problem))
    return errors


def _value_problem(definition: CustomAttributeDefinition, value: Any, budget: list[int]) -> str | None:
    kind = definition.display_type
    name = definition.display_name
    if kind in (AttributeDisplayType.NUMBER, AttributeDisplayType.CURRENCY, AttributeDisplayType.PERCENT):
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or (isinstance(value, float) and not math.isfinite(value))
        ):
            return f"{name} takes a number."
        return None
    if kind == AttributeDisplayType.CHECKBOX:
        return None if isinstance(value, bool) else f"{name} takes true or false."
    if not isinstance(value, str):
        return f"{name} takes a string."
    if kind == AttributeDisplayType.DATE:
        return None if _is_iso_date(value) else f"{name} takes an ISO 8601 date such as 2024-05-31."
    if kind == AttributeDisplayType.LINK:
        if len(value) > MAX_LINK_VALUE:
            return f"{name} takes a link of at most {MAX_LINK_VALUE} characters."
        parts = urlsplit(value) if not any(c.isspace() for c in value) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            return f"{name} takes an http or https link."
        return None
    if kind == AttributeDisplayType.LIST:
        return (
            None
            if value in (definition.list_values or [])
            else f"{name} takes one of: {', '.join(definition.list_values or [])}."
        )
    # text
    if len(value) > MAX_TEXT_VALUE:
        return f"{name} takes at most {MAX_TEXT_VALUE} characters."
    if definition.regex_pattern:
        try:
            pattern = compile_pattern(definition.regex_pattern)
        except PatternError:  # stored before a rule tightened; refuse rather than guess
            return definition.regex_cue or f"{name} does not match the pattern {definition.regex_pattern}."
        budget[0] -= (len(value) + 1) * len(pattern.kinds)
        if budget[0] < 0:
            return "Too many patterned values to check at once; send fewer."
        matches = pattern.search(value)
        if not matches:
            return definition.regex_cue or f"{name} does not match the pattern {definition.regex_pattern}."
    return None


def _is_iso_date(value: str) -> bool:
    if len(value) > 40:
        return False
    try:
        if len(value) == 10:
            date.fromisoformat(value)
        else:
            datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def value_problem(definition: CustomAttributeDefinition, value: Any) -> str | None:
    """Why one value does not fit its definition (None when it does), with a budget of its own."""
    return _value_problem(definition, value, [PATTERN_BUDGET])
