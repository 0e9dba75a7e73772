"""The account's catalog: teams and their members, labels, canned responses and custom attribute
definitions — the services behind their mutations, and the checks other domains use (custom
attribute values, labels by title, teams).

Chatwoot's rules: administrators create, change and delete teams, team members, labels and custom
attribute definitions; every member reads them; any agent manages canned responses. Each list is
small and complete: an account holds at most the `MAX_*` numbers below, refused beyond that."""

from __future__ import annotations

import math
import re
import re._constants as _C  # Python's own regex parser: private, stable since 3.11
import re._parser as _P
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import CannedResponse, CustomAttributeDefinition, Label, Team
from db.repositories import catalog as repo
from domain import audit
from domain.accounts.actor import Actor
from domain.audit import RequestMeta
from domain.enums import AttributeDisplayType, AttributeModel
from domain.errors import BadUserInput, FieldError, NotFound, ValidationError

MAX_TEAMS = 200
MAX_LABELS = 1000
MAX_CANNED_RESPONSES = 1000
MAX_DEFINITIONS_PER_MODEL = 200
MAX_USER_IDS = 100
MAX_LIST_VALUES = 100
MAX_DESCRIPTION = 1000
MAX_CANNED_CONTENT = 10_000
MAX_TEXT_VALUE = 1000  # a text attribute's value; keeps pattern checks well under a millisecond per value
MAX_LINK_VALUE = 2048
MAX_SEARCH = 100

LABEL_TITLE_RE = re.compile(r"[\w-]+")  # Chatwoot: letters, digits, underscores and hyphens
COLOR_RE = re.compile(r"#[0-9a-fA-F]{6}")
ATTRIBUTE_KEY_RE = re.compile(r"[\w.-]+")  # Chatwoot: letters, digits, underscores, dots and hyphens
DEFAULT_COLOR = "#1f93ff"

# Chatwoot's standard attributes (CustomAttributeDefinition::STANDARD_ATTRIBUTES): a custom key may not
# shadow them, since filters and automations address both kinds by key.
RESERVED_KEYS: dict[AttributeModel, frozenset[str]] = {
    AttributeModel.CONVERSATION: frozenset({
        "status", "priority", "assignee_id", "inbox_id", "team_id", "display_id", "campaign_id", "labels",
        "browser_language", "country_code", "referer", "created_at", "last_activity_at",
    }),
    AttributeModel.CONTACT: frozenset({
        "name", "email", "phone_number", "identifier", "country_code", "city", "company_name", "created_at",
        "last_activity_at", "referer", "blocked",
    }),
}


# --- shared checks -------------------------------------------------------------------------------------


def _required(value: str, field: str, errors: list[FieldError], max_len: int) -> str:
    value = value.strip()
    if not value:
        errors.append(FieldError(field, "REQUIRED", "This field is required."))
    elif len(value) > max_len:
        errors.append(FieldError(field, "TOO_LONG", f"At most {max_len} characters."))
    return value


def _description(value: str, errors: list[FieldError], field: str = "description") -> str:
    if len(value) > MAX_DESCRIPTION:
        errors.append(FieldError(field, "TOO_LONG", f"At most {MAX_DESCRIPTION} characters."))
    return value.strip()


def _limit(count: int, maximum: int, what: str) -> None:
    if count >= maximum:
        raise ValidationError.single(None, "LIMIT_REACHED", f"An account can have at most {maximum} {what}.")


# --- teams ---------------------------------------------------------------------------------------------


async def team_in_account(session: AsyncSession, account_id: int, team_id: int) -> Team | None:
    """The team with this id if it belongs to the account; None otherwise."""
    return await repo.team_in_account(session, account_id, team_id)


async def is_team_member(session: AsyncSession, team_id: int, user_id: int) -> bool:
    """Whether the user belongs to the team (and is still a member of the team's account)."""
    return await repo.is_team_member(session, team_id, user_id)


async def _team_or_404(session: AsyncSession, actor: Actor, team_id: int, *, lock: bool = False) -> Team:
    team = await repo.team_in_account(session, actor.account_id, team_id, lock=lock)
    if team is None:
        raise NotFound("No such team")
    return team


async def _check_team_name(session: AsyncSession, actor: Actor, name: str, errors: list[FieldError], own_id: int | None) -> str:
    name = _required(name, "name", errors, 100)
    if name and not errors:
        other = await repo.team_by_name(session, actor.account_id, name)
        if other is not None and other.id != own_id:
            errors.append(FieldError("name", "TAKEN", "A team with this name exists."))
    return name


async def create_team(
    session: AsyncSession, actor: Actor, *, name: str, description: str, allow_auto_assign: bool, meta: RequestMeta
) -> Team:
    errors: list[FieldError] = []
    description = _description(description, errors)
    name = await _check_team_name(session, actor, name, errors, None)
    if errors:
        raise ValidationError(errors)
    _limit(await repo.count_teams(session, actor.account_id), MAX_TEAMS, "teams")
    team = Team(account_id=actor.account_id, name=name, description=description, allow_auto_assign=allow_auto_assign)
    session.add(team)
    await _flush_unique(session, "name", "A team with this name exists.")
    audit.record(session, actor, "team.create", "Team", team.id,
                 {"name": name, "description": description, "allowAutoAssign": allow_auto_assign}, meta)
    await session.flush()
    return team


async def update_team(
    session: AsyncSession,
    actor: Actor,
    team_id: int,
    *,
    name: str | None,
    description: str | None,
    allow_auto_assign: bool | None,
    meta: RequestMeta,
) -> Team:
    team = await _team_or_404(session, actor, team_id)
    errors: list[FieldError] = []
    if description is not None:
        description = _description(description, errors)
    if name is not None:
        name = await _check_team_name(session, actor, name, errors, team.id)
    if errors:
        raise ValidationError(errors)
    changes: dict[str, list[Any]] = {}
    for attr, key, value in (("name", "name", name), ("description", "description", description),
                             ("allow_auto_assign", "allowAutoAssign", allow_auto_assign)):
        if value is not None and getattr(team, attr) != value:
            changes[key] = [getattr(team, attr), value]
            setattr(team, attr, value)
    if changes:
        await _flush_unique(session, "name", "A team with this name exists.")
        audit.record(session, actor, "team.update", "Team", team.id, changes, meta)
        await session.flush()
    return team


async def delete_team(session: AsyncSession, actor: Actor, team_id: int, meta: RequestMeta) -> Team:
    """Its memberships go with it; its conversations stay, without a team (ON DELETE SET NULL)."""
    team = await _team_or_404(session, actor, team_id)
    audit.record(session, actor, "team.delete", "Team", team.id, {"name": team.name}, meta)
    await session.delete(team)
    await session.flush()
    return team


TeamMembersMode = Literal["add", "remove", "set"]


async def change_team_members(
    session: AsyncSession, actor: Actor, team_id: int, user_ids: Sequence[int], mode: TeamMembersMode, meta: RequestMeta
) -> Team:
    """Add users to the team, remove them, or make the team exactly these users. Added users must be
    members of the account; removing someone who is not in the team is a no-op."""
    team = await _team_or_404(session, actor, team_id, lock=True)
    if len(user_ids) > MAX_USER_IDS:
        raise ValidationError.single("userIds", "TOO_MANY", f"At most {MAX_USER_IDS} users at once.")
    wanted = list(dict.fromkeys(user_ids))
    current = await repo.team_member_user_ids(session, team.id)
    if mode != "remove":
        members = await repo.account_member_user_ids(session, actor.account_id, wanted)
        # One answer for "no such user" and "not in this account": user ids of other accounts stay unknown.
        errors = [FieldError("userIds", "NOT_A_MEMBER", f"userIds[{user_ids.index(u)}] is not a member of this account.")
                  for u in wanted if u not in members]
        if errors:
            raise ValidationError(errors)
    if mode == "add":
        added, removed = [u for u in wanted if u not in current], []
    elif mode == "remove":
        added, removed = [], [u for u in wanted if u in current]
    else:
        added, removed = [u for u in wanted if u not in current], sorted(current - set(wanted))
    await repo.add_team_members(session, actor.account_id, team.id, added)
    await repo.remove_team_members(session, team.id, removed)
    if added or removed:
        audit.record(session, actor, f"team.members_{mode}", "Team", team.id,
                     {"added": sorted(added), "removed": removed}, meta)
    await session.flush()
    return team


# --- labels --------------------------------------------------------------------------------------------


def _check_title(title: str, errors: list[FieldError]) -> str:
    title = _required(title, "title", errors, 100).lower()
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
    label = await repo.label_in_account(session, actor.account_id, label_id)
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
    description = _description(description, errors)
    color = _check_color(color, errors)
    if not errors and await repo.label_by_title(session, actor.account_id, title):
        errors.append(FieldError("title", "TAKEN", "A label with this title exists."))
    if errors:
        raise ValidationError(errors)
    _limit(await repo.count_labels(session, actor.account_id), MAX_LABELS, "labels")
    label = Label(account_id=actor.account_id, title=title, description=description, color=color,
                  show_on_sidebar=show_on_sidebar)
    session.add(label)
    await _flush_unique(session, "title", "A label with this title exists.")
    audit.record(session, actor, "label.create", "Label", label.id,
                 {"title": title, "color": color, "showOnSidebar": show_on_sidebar}, meta)
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
            other = await repo.label_by_title(session, actor.account_id, title)
            if other is not None and other.id != label.id:
                errors.append(FieldError("title", "TAKEN", "A label with this title exists."))
    if description is not None:
        description = _description(description, errors)
    if color is not None:
        color = _check_color(color, errors)
    if errors:
        raise ValidationError(errors)
    changes: dict[str, list[Any]] = {}
    for attr, key, value in (("title", "title", title), ("description", "description", description),
                             ("color", "color", color), ("show_on_sidebar", "showOnSidebar", show_on_sidebar)):
        if value is not None and getattr(label, attr) != value:
            changes[key] = [getattr(label, attr), value]
            setattr(label, attr, value)
    if changes:
        await _flush_unique(session, "title", "A label with this title exists.")
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


# --- canned responses ----------------------------------------------------------------------------------


def _check_short_code(short_code: str, errors: list[FieldError]) -> str:
    short_code = _required(short_code, "shortCode", errors, 100)
    if short_code and any(c.isspace() for c in short_code):
        # The composer's `/` menu ends a short code at the first space.
        errors.append(FieldError("shortCode", "INVALID_SHORT_CODE", "A short code cannot contain spaces."))
    return short_code


def _check_content(content: str, errors: list[FieldError]) -> str:
    if not content.strip():
        errors.append(FieldError("content", "REQUIRED", "This field is required."))
    elif len(content) > MAX_CANNED_CONTENT:
        errors.append(FieldError("content", "TOO_LONG", f"At most {MAX_CANNED_CONTENT} characters."))
    return content


async def search_canned_responses(session: AsyncSession, actor: Actor, search: str | None) -> Sequence[CannedResponse]:
    if search is not None and len(search) > MAX_SEARCH:
        raise BadUserInput(f"`search` takes at most {MAX_SEARCH} characters", field="search")
    return await repo.canned_responses(session, actor.account_id, (search or "").strip() or None)


async def _canned_or_404(session: AsyncSession, actor: Actor, canned_id: int) -> CannedResponse:
    row = await repo.canned_response_in_account(session, actor.account_id, canned_id)
    if row is None:
        raise NotFound("No such canned response")
    return row


async def create_canned_response(session: AsyncSession, actor: Actor, *, short_code: str, content: str) -> CannedResponse:
    errors: list[FieldError] = []
    short_code = _check_short_code(short_code, errors)
    content = _check_content(content, errors)
    if not errors and await repo.canned_response_by_short_code(session, actor.account_id, short_code):
        errors.append(FieldError("shortCode", "TAKEN", "A canned response with this short code exists."))
    if errors:
        raise ValidationError(errors)
    _limit(await repo.count_canned_responses(session, actor.account_id), MAX_CANNED_RESPONSES, "canned responses")
    row = CannedResponse(account_id=actor.account_id, short_code=short_code, content=content)
    session.add(row)
    await _flush_unique(session, "shortCode", "A canned response with this short code exists.")
    return row


async def update_canned_response(
    session: AsyncSession, actor: Actor, canned_id: int, *, short_code: str | None, content: str | None
) -> CannedResponse:
    row = await _canned_or_404(session, actor, canned_id)
    errors: list[FieldError] = []
    if short_code is not None:
        short_code = _check_short_code(short_code, errors)
        if not errors:
            other = await repo.canned_response_by_short_code(session, actor.account_id, short_code)
            if other is not None and other.id != row.id:
                errors.append(FieldError("shortCode", "TAKEN", "A canned response with this short code exists."))
    if content is not None:
        content = _check_content(content, errors)
    if errors:
        raise ValidationError(errors)
    if short_code is not None:
        row.short_code = short_code
    if content is not None:
        row.content = content
    await _flush_unique(session, "shortCode", "A canned response with this short code exists.")
    return row


async def delete_canned_response(session: AsyncSession, actor: Actor, canned_id: int) -> CannedResponse:
    row = await _canned_or_404(session, actor, canned_id)
    await session.delete(row)
    await session.flush()
    return row


# --- custom attribute definitions ----------------------------------------------------------------------


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


def _check_regex(pattern: str | None, cue: str | None, display_type: AttributeDisplayType, errors: list[FieldError]) -> tuple[str | None, str | None]:
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
    row = await repo.attribute_definition_in_account(session, actor.account_id, definition_id)
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
    key = _required(key, "key", errors, 100)
    if key and len(key) <= 100:
        if not ATTRIBUTE_KEY_RE.fullmatch(key):
            errors.append(FieldError("key", "INVALID_KEY", "Use only letters, digits, underscores, dots and hyphens."))
        elif key in RESERVED_KEYS[model]:
            errors.append(FieldError("key", "RESERVED_KEY", f"`{key}` is a standard {model.value} attribute."))
    display_name = _required(display_name, "displayName", errors, 255)
    description = _description(description, errors)
    values = _check_list_values(list_values, display_type, errors)
    regex_pattern, regex_cue = _check_regex(regex_pattern, regex_cue, display_type, errors)
    if not errors and await repo.attribute_definitions_by_keys(session, actor.account_id, model, [key]):
        errors.append(FieldError("key", "TAKEN", f"A {model.value} attribute with this key exists."))
    if errors:
        raise ValidationError(errors)
    _limit(await repo.count_attribute_definitions(session, actor.account_id, model), MAX_DEFINITIONS_PER_MODEL,
           f"{model.value} attributes")
    row = CustomAttributeDefinition(
        account_id=actor.account_id, attribute_model=model, attribute_key=key, display_name=display_name,
        display_type=display_type, description=description, list_values=values, regex_pattern=regex_pattern,
        regex_cue=regex_cue,
    )
    session.add(row)
    await _flush_unique(session, "key", f"A {model.value} attribute with this key exists.")
    audit.record(session, actor, "custom_attribute_definition.create", "CustomAttributeDefinition", row.id,
                 {"model": model.value, "key": key, "displayType": display_type.value}, meta)
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
        display_name = _required(display_name, "displayName", errors, 255)
    if description is not None:
        description = _description(description, errors)
    if list_values is not None:
        list_values = _check_list_values(list_values, row.display_type, errors)
    new_pattern = row.regex_pattern if regex_pattern is KEEP else regex_pattern
    new_cue = row.regex_cue if regex_cue is KEEP else regex_cue
    if regex_pattern is not KEEP or regex_cue is not KEEP:
        new_pattern, new_cue = _check_regex(new_pattern, new_cue, row.display_type, errors)
    if errors:
        raise ValidationError(errors)
    changes: dict[str, list[Any]] = {}
    for attr, key, value in (("display_name", "displayName", display_name), ("description", "description", description),
                             ("list_values", "listValues", list_values)):
        if value is not None and getattr(row, attr) != value:
            changes[key] = [getattr(row, attr), value]
            setattr(row, attr, value)
    for attr, key, value in (("regex_pattern", "regexPattern", new_pattern), ("regex_cue", "regexCue", new_cue)):
        if getattr(row, attr) != value:
            changes[key] = [getattr(row, attr), value]
            setattr(row, attr, value)
    if changes:
        audit.record(session, actor, "custom_attribute_definition.update", "CustomAttributeDefinition", row.id,
                     changes, meta)
        await session.flush()
    return row


async def delete_attribute_definition(
    session: AsyncSession, actor: Actor, definition_id: int, meta: RequestMeta
) -> CustomAttributeDefinition:
    """Values already stored under the key stay on contacts and conversations, as in Chatwoot."""
    row = await _definition_or_404(session, actor, definition_id)
    audit.record(session, actor, "custom_attribute_definition.delete", "CustomAttributeDefinition", row.id,
                 {"model": row.attribute_model.value, "key": row.attribute_key}, meta)
    await session.delete(row)
    await session.flush()
    return row


async def validate_custom_attributes(
    session: AsyncSession, account_id: int, model: AttributeModel, values: dict, field: str = "customAttributes"
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
            errors.append(FieldError(path, "UNKNOWN_ATTRIBUTE", f"No {model.value} attribute is defined with the key `{key}`."))
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
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (isinstance(value, float) and not math.isfinite(value)):
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
        return None if value in (definition.list_values or []) else f"{name} takes one of: {', '.join(definition.list_values or [])}."
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


async def _flush_unique(session: AsyncSession, field: str, message: str) -> None:
    """Flush; a unique violation from a concurrent request that won the race becomes the same TAKEN
    error the check above gives (the transaction is rolled back by the boundary)."""
    try:
        await session.flush()
    except IntegrityError:
        raise ValidationError.single(field, "TAKEN", message) from None


# --- patterns: linear-time matching --------------------------------------------------------------------
#
# Administrators write the patterns and anyone who can set an attribute (a widget visitor included)
# writes the values, so a pattern with catastrophic backtracking such as `^(a+)+$` must not let a
# value pin a CPU. Patterns are parsed by Python's own parser (private but stable since 3.11) and run
# as a Thompson NFA: time grows with the value's length times the pattern's size, never
# exponentially. Backreferences, lookarounds, atomic groups and conditionals need backtracking and are
# refused. Search semantics, as JavaScript's `RegExp.test` that a dashboard would use: anchor with ^…$
# to match the whole value.

MAX_PATTERN_STATES = 128
# Characters × states one validate_custom_attributes call may spend on patterns (about 0.1 s at worst).
PATTERN_BUDGET = 200_000


class PatternError(ValueError):
    """A pattern that is invalid or uses a feature the linear-time matcher does not support."""


_CHAR, _SPLIT, _ASSERT, _MATCH = range(4)


def _is_word(c: str) -> bool:
    return c.isalnum() or c == "_"


_CATEGORIES: dict[Any, Callable[[str], bool]] = {
    _C.CATEGORY_DIGIT: str.isdecimal,
    _C.CATEGORY_NOT_DIGIT: lambda c: not c.isdecimal(),
    _C.CATEGORY_SPACE: str.isspace,
    _C.CATEGORY_NOT_SPACE: lambda c: not c.isspace(),
    _C.CATEGORY_WORD: _is_word,
    _C.CATEGORY_NOT_WORD: lambda c: not _is_word(c),
}


class Pattern:
    """A compiled pattern: `search(text)` says whether it matches anywhere in the text."""

    def __init__(self, source: str) -> None:
        try:
            re.compile(source)
            parsed = _P.parse(source, 0)
        except re.error as exc:
            raise PatternError(f"Not a valid regular expression: {exc.msg}.") from None
        except (OverflowError, RecursionError):
            raise PatternError("The pattern is too complex.") from None
        self.kinds: list[int] = []
        self.args: list[Any] = []
        self.out1: list[int] = []
        self.out2: list[int] = []
        match = self._new(_MATCH, None, -1, -1)
        self.start = self._seq(parsed, parsed.state.flags, match)

    # construction, from the end of the pattern backwards: each piece knows the state after it
    def _new(self, kind: int, arg: Any, out1: int, out2: int) -> int:
        if len(self.kinds) >= MAX_PATTERN_STATES:
            raise PatternError("The pattern is too complex; simplify it (fewer or smaller repetitions).")
        self.kinds.append(kind)
        self.args.append(arg)
        self.out1.append(out1)
        self.out2.append(out2)
        return len(self.kinds) - 1

    def _seq(self, items, flags: int, nxt: int) -> int:
        for op, av in reversed(list(items)):
            nxt = self._item(op, av, flags, nxt)
        return nxt

    def _item(self, op, av, flags: int, nxt: int) -> int:
        ignore_case = bool(flags & _C.SRE_FLAG_IGNORECASE)
        if op is _C.LITERAL or op is _C.NOT_LITERAL:
            ch = chr(av)
            same = (lambda c: c.lower() == ch.lower()) if ignore_case else (lambda c: c == ch)
            pred = same if op is _C.LITERAL else (lambda c: not same(c))
            return self._new(_CHAR, pred, nxt, -1)
        if op is _C.ANY:
            pred = (lambda c: True) if flags & _C.SRE_FLAG_DOTALL else (lambda c: c != "\n")
            return self._new(_CHAR, pred, nxt, -1)
        if op is _C.IN:
            return self._new(_CHAR, self._set(av, ignore_case), nxt, -1)
        if op is _C.AT:
            return self._new(_ASSERT, self._anchor(av, flags), nxt, -1)
        if op is _C.BRANCH:
            starts = [self._seq(alt, flags, nxt) for alt in av[1]]
            start = starts[-1]
            for alt_start in reversed(starts[:-1]):
                start = self._new(_SPLIT, None, alt_start, start)
            return start
        if op is _C.SUBPATTERN:
            _group, add_flags, del_flags, body = av
            return self._seq(body, (flags | add_flags) & ~del_flags, nxt)
        if op is _C.MAX_REPEAT or op is _C.MIN_REPEAT:
            low, high, body = av
            if high is _C.MAXREPEAT or high == _C.MAXREPEAT:
                loop = self._new(_SPLIT, None, -1, nxt)
                self.out1[loop] = self._seq(body, flags, loop)
                start = loop
            else:
                start = nxt
                for _ in range(high - low):
                    start = self._new(_SPLIT, None, self._seq(body, flags, start), nxt)
            for _ in range(low):
                start = self._seq(body, flags, start)
            return start
        raise PatternError(
            "The pattern uses a feature Parley does not run (backreferences, lookarounds, atomic groups, "
            "possessive repeats or conditionals)."
        )

    @staticmethod
    def _set(items, ignore_case: bool) -> Callable[[str], bool]:
        negate = False
        literals: set[str] = set()
        ranges: list[tuple[int, int]] = []
        categories: list[Callable[[str], bool]] = []
        for op, av in items:
            if op is _C.NEGATE:
                negate = True
            elif op is _C.LITERAL:
                literals.add(chr(av))
            elif op is _C.RANGE:
                ranges.append(av)
            elif op is _C.CATEGORY and av in _CATEGORIES:
                categories.append(_CATEGORIES[av])
            else:
                raise PatternError("The pattern uses a character class Parley does not run.")

        def member(c: str) -> bool:
            o = ord(c)
            return c in literals or any(lo <= o <= hi for lo, hi in ranges) or any(f(c) for f in categories)

        def test(c: str) -> bool:
            hit = member(c)
            if not hit and ignore_case:
                hit = any(len(v) == 1 and member(v) for v in (c.lower(), c.upper()))
            return hit != negate

        return test

    @staticmethod
    def _anchor(code, flags: int) -> Callable[[str, int], bool]:
        multiline = bool(flags & _C.SRE_FLAG_MULTILINE)
        if code is _C.AT_BEGINNING:
            return lambda t, i: i == 0 or (multiline and t[i - 1] == "\n")
        if code is _C.AT_BEGINNING_STRING:
            return lambda t, i: i == 0
        if code is _C.AT_END:
            return lambda t, i: i == len(t) or (i == len(t) - 1 and t[i] == "\n") or (multiline and t[i] == "\n")
        if code is _C.AT_END_STRING:
            return lambda t, i: i == len(t)
        if code is _C.AT_BOUNDARY or code is _C.AT_NON_BOUNDARY:
            want = code is _C.AT_BOUNDARY

            def boundary(t: str, i: int) -> bool:
                before = i > 0 and _is_word(t[i - 1])
                after = i < len(t) and _is_word(t[i])
                return (before != after) == want

            return boundary
        raise PatternError("The pattern uses an anchor Parley does not run.")

    # simulation: the set of live states advances one character at a time
    def _close(self, live: set[int], chars: list[int], state: int, text: str, pos: int) -> bool:
        """Add `state` and what it reaches without reading a character; True when that includes MATCH."""
        stack = [state]
        matched = False
        while stack:
            s = stack.pop()
            if s in live:
                continue
            live.add(s)
            kind = self.kinds[s]
            if kind == _CHAR:
                chars.append(s)
            elif kind == _SPLIT:
                stack.append(self.out2[s])
                stack.append(self.out1[s])
            elif kind == _ASSERT:
                if self.args[s](text, pos):
                    stack.append(self.out1[s])
            else:
                matched = True
        return matched

    def search(self, text: str) -> bool:
        live: set[int] = set()
        chars: list[int] = []
        if self._close(live, chars, self.start, text, 0):
            return True
        for pos, ch in enumerate(text):
            next_live: set[int] = set()
            next_chars: list[int] = []
            for s in chars:
                if self.args[s](ch) and self._close(next_live, next_chars, self.out1[s], text, pos + 1):
                    return True
            if self._close(next_live, next_chars, self.start, text, pos + 1):
                return True
            live, chars = next_live, next_chars
        return False


_compiled: dict[str, Pattern] = {}


def compile_pattern(source: str) -> Pattern:
    """The linear-time matcher for a pattern (cached; patterns are few and small)."""
    pattern = _compiled.get(source)
    if pattern is None:
        pattern = Pattern(source)
        if len(_compiled) > 1000:
            _compiled.clear()
        _compiled[source] = pattern
    return pattern
