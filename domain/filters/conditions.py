"""Conditions → one SQL predicate. A condition is Chatwoot's `{attribute_key, filter_operator, values,
query_operator}`; each condition's `query_operator` joins it to the next one and the chain is read
left to right: `a AND b OR c` is `(a AND b) OR c`. Every value is a bound parameter; LIKE patterns
escape `%`, `_` and `\\`.

Attributes are standard (a column, a JSON key of `additional_attributes`, the contact's columns on a
conversation, labels) or custom (the account's definitions of the model, typed by their display
type). `STANDARD` is the registry: a new standard attribute is one entry there.

Semantics: `equal_to` matches any of the values, `not_equal_to` none of them (rows without a value
included); `contains`/`starts_with` any value, `does_not_contain` none (case-insensitive);
`is_present` a non-empty value; `is_greater_than`/`is_less_than` one value (dates compare by day);
`days_before` one whole number N: the date is before today minus N days."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Float, String, and_, case, cast, exists, func, not_, or_, select, true, type_coerce
from sqlalchemy.sql import ColumnElement

from db.models import Contact, ContactLabel, Conversation, ConversationLabel, CustomAttributeDefinition, Label
from domain.enums import AttributeDisplayType, AttributeModel, ConversationStatus, Priority
from domain.errors import FieldError, ValidationError
from domain.filters.enums import AttributeKind, FilterOperator, QueryOperator

MAX_CONDITIONS = 20
MAX_VALUES = 100
MAX_VALUE_LENGTH = 255

Op = FilterOperator
K = AttributeKind
_ALL_OPS = frozenset(Op)
OPERATORS: dict[AttributeKind, frozenset[FilterOperator]] = {
    K.TEXT: frozenset(
        {
            Op.EQUAL_TO,
            Op.NOT_EQUAL_TO,
            Op.CONTAINS,
            Op.DOES_NOT_CONTAIN,
            Op.STARTS_WITH,
            Op.IS_PRESENT,
            Op.IS_NOT_PRESENT,
        }
    ),
    K.LINK: frozenset(
        {
            Op.EQUAL_TO,
            Op.NOT_EQUAL_TO,
            Op.CONTAINS,
            Op.DOES_NOT_CONTAIN,
            Op.STARTS_WITH,
            Op.IS_PRESENT,
            Op.IS_NOT_PRESENT,
        }
    ),
    K.NUMBER: frozenset(
        {Op.EQUAL_TO, Op.NOT_EQUAL_TO, Op.IS_GREATER_THAN, Op.IS_LESS_THAN, Op.IS_PRESENT, Op.IS_NOT_PRESENT}
    ),
    K.DATE: frozenset(
        {
            Op.EQUAL_TO,
            Op.NOT_EQUAL_TO,
            Op.IS_GREATER_THAN,
            Op.IS_LESS_THAN,
            Op.DAYS_BEFORE,
            Op.IS_PRESENT,
            Op.IS_NOT_PRESENT,
        }
    ),
    K.LIST: frozenset({Op.EQUAL_TO, Op.NOT_EQUAL_TO, Op.IS_PRESENT, Op.IS_NOT_PRESENT}),
    K.CHECKBOX: frozenset({Op.EQUAL_TO, Op.NOT_EQUAL_TO}),
    K.CHOICE: frozenset({Op.EQUAL_TO, Op.NOT_EQUAL_TO, Op.IS_PRESENT, Op.IS_NOT_PRESENT}),
    K.REFERENCE: frozenset({Op.EQUAL_TO, Op.NOT_EQUAL_TO, Op.IS_PRESENT, Op.IS_NOT_PRESENT}),
    K.LABELS: frozenset({Op.EQUAL_TO, Op.NOT_EQUAL_TO, Op.IS_PRESENT, Op.IS_NOT_PRESENT}),
}
DISPLAY_KINDS = {
    AttributeDisplayType.TEXT: K.TEXT,
    AttributeDisplayType.NUMBER: K.NUMBER,
    AttributeDisplayType.CURRENCY: K.NUMBER,
    AttributeDisplayType.PERCENT: K.NUMBER,
    AttributeDisplayType.LINK: K.LINK,
    AttributeDisplayType.DATE: K.DATE,
    AttributeDisplayType.LIST: K.LIST,
    AttributeDisplayType.CHECKBOX: K.CHECKBOX,
}


@dataclass(frozen=True)
class Condition:
    attribute_key: str
    filter_operator: str
    values: Sequence[str] = ()
    query_operator: str | None = None


@dataclass(frozen=True)
class Standard:
    """A standard attribute: its kind, the expression it reads, and (choice, reference) what it accepts."""

    kind: AttributeKind
    expr: Callable[[], Any]
    choices: frozenset[str] = frozenset()
    reference: str = ""  # the global-id type name of a reference's values
    nullable: bool = True
    custom: bool = False  # a custom attribute: its value is JSON (dates as ISO text)


def _json_text(column: Any, key: str) -> ColumnElement[Any]:
    return column[key].as_string()  # type: ignore[no-any-return]


def _contact_column(name: str) -> Callable[[], Any]:
    def expr() -> ColumnElement[Any]:
        col = getattr(Contact, name)
        return select(col).where(Contact.id == Conversation.contact_id).scalar_subquery()

    return expr


_STATUS = frozenset(s.value for s in ConversationStatus)
_PRIORITY = frozenset(p.value for p in Priority)

STANDARD: dict[AttributeModel, dict[str, Standard]] = {
    AttributeModel.CONVERSATION: {
        "status": Standard(K.CHOICE, lambda: type_coerce(Conversation.status, String), _STATUS, nullable=False),
        "priority": Standard(K.CHOICE, lambda: type_coerce(Conversation.priority, String), _PRIORITY),
        "assignee_id": Standard(K.REFERENCE, lambda: Conversation.assignee_id, reference="User"),
        "inbox_id": Standard(K.REFERENCE, lambda: Conversation.inbox_id, reference="Inbox", nullable=False),
        "team_id": Standard(K.REFERENCE, lambda: Conversation.team_id, reference="Team"),
        "contact_id": Standard(K.REFERENCE, lambda: Conversation.contact_id, reference="Contact", nullable=False),
        "display_id": Standard(K.NUMBER, lambda: Conversation.display_id, nullable=False),
        "labels": Standard(K.LABELS, lambda: Conversation.id),
        "created_at": Standard(K.DATE, lambda: Conversation.created_at, nullable=False),
        "last_activity_at": Standard(K.DATE, lambda: Conversation.last_activity_at, nullable=False),
        "browser_language": Standard(
            K.TEXT, lambda: _json_text(Conversation.additional_attributes, "browser_language")
        ),
        "conversation_language": Standard(
            K.TEXT, lambda: _json_text(Conversation.additional_attributes, "conversation_language")
        ),
        "referer": Standard(K.TEXT, lambda: _json_text(Conversation.additional_attributes, "referer")),
        "mail_subject": Standard(K.TEXT, lambda: _json_text(Conversation.additional_attributes, "mail_subject")),
        "contact_name": Standard(K.TEXT, _contact_column("name")),
        "contact_email": Standard(K.TEXT, _contact_column("email")),
        "contact_phone_number": Standard(K.TEXT, _contact_column("phone_number")),
        "contact_identifier": Standard(K.TEXT, _contact_column("identifier")),
    },
    AttributeModel.CONTACT: {
        "name": Standard(K.TEXT, lambda: Contact.name),
        "email": Standard(K.TEXT, lambda: Contact.email),
        "phone_number": Standard(K.TEXT, lambda: Contact.phone_number),
        "identifier": Standard(K.TEXT, lambda: Contact.identifier),
        "country_code": Standard(K.TEXT, lambda: _json_text(Contact.additional_attributes, "country_code")),
        "city": Standard(K.TEXT, lambda: _json_text(Contact.additional_attributes, "city")),
        "company_name": Standard(K.TEXT, lambda: _json_text(Contact.additional_attributes, "company_name")),
        "created_at": Standard(K.DATE, lambda: Contact.created_at, nullable=False),
        "last_activity_at": Standard(K.DATE, lambda: Contact.last_activity_at),
        "blocked": Standard(K.CHECKBOX, lambda: Contact.blocked, nullable=False),
        "labels": Standard(K.LABELS, lambda: Contact.id),
    },
}


def _like(value: str, *, prefix_only: bool = False) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%" if prefix_only else "%" + escaped + "%"


@dataclass
class _Checker:
    path: str
    errors: list[FieldError] = field(default_factory=list)

    def fail(self, suffix: str, code: str, message: str) -> None:
        self.errors.append(FieldError(f"{self.path}.{suffix}", code, message))


def _one(values: Sequence[str], c: _Checker) -> str | None:
    if len(values) != 1:
        c.fail("values", "INVALID_VALUE", "Give exactly one value.")
        return None
    return values[0]


def _day(value: str, c: _Checker) -> date | None:
    try:
        return datetime.fromisoformat(value).date() if "T" in value or " " in value else date.fromisoformat(value)
    except ValueError:
        c.fail("values", "INVALID_VALUE", "Give an ISO 8601 date.")
        return None


def _number(value: str, c: _Checker) -> float | None:
    try:
        n = float(value)
    except ValueError:
        n = float("nan")
    if n != n or n in (float("inf"), float("-inf")):
        c.fail("values", "INVALID_VALUE", "Give a number.")
        return None
    return n


def _boolean(value: str, c: _Checker) -> bool | None:
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    c.fail("values", "INVALID_VALUE", "Give true or false.")
    return None


def _present(expr: ColumnElement[Any], kind: AttributeKind) -> ColumnElement[bool]:
    if kind in (K.TEXT, K.LINK, K.LIST):
        return and_(expr.is_not(None), expr != "")
    return expr.is_not(None)


def _pg_number(column: Any, key: str) -> ColumnElement[Any]:
    return case((func.jsonb_typeof(column[key]) == "number", cast(column[key].as_string(), Float)), else_=None)


class Compiler:
    """Checks conditions and builds their predicate; collects every error before raising."""

    def __init__(
        self,
        model: AttributeModel,
        definitions: Sequence[CustomAttributeDefinition],
        *,
        account_id: int,
        decode_reference: Callable[[str, str], int | None],
        dialect: str = "postgresql",
        today: date | None = None,
        path: str = "filter.conditions",
        extra: dict[str, Standard] | None = None,
    ) -> None:
        self.model = model
        self.definitions = {d.attribute_key: d for d in definitions if d.attribute_model == model}
        self.account_id = account_id
        self.decode_reference = decode_reference
        self.dialect = dialect
        self.today = today or datetime.now(UTC).date()
        self.path = path
        self.root = Conversation if model == AttributeModel.CONVERSATION else Contact
        # Attributes a caller adds to the model's (automation: the event's message, the contact's
        # custom attributes); they are looked up first.
        self.extra = extra or {}

    def compile(self, conditions: Sequence[Condition]) -> ColumnElement[bool]:
        errors: list[FieldError] = []
        if len(conditions) > MAX_CONDITIONS:
            raise ValidationError.single(self.path, "TOO_MANY", f"At most {MAX_CONDITIONS} conditions.")
        parts: list[ColumnElement[bool] | None] = []
        joins: list[QueryOperator] = []
        for n, condition in enumerate(conditions):
            c = _Checker(f"{self.path}.{n}")
            parts.append(self._one(condition, c))
            joins.append(self._join(condition, c, last=n == len(conditions) - 1))
            errors.extend(c.errors)
        if errors:
            raise ValidationError(errors)
        result: ColumnElement[bool] | None = None
        for n, part in enumerate(parts):
            assert part is not None
            if result is None:
                result = part
            else:
                result = and_(result, part) if joins[n - 1] == QueryOperator.AND else or_(result, part)
        return result if result is not None else true()

    def _join(self, condition: Condition, c: _Checker, *, last: bool) -> QueryOperator:
        raw = (condition.query_operator or "").lower()
        if not raw:
            return QueryOperator.AND
        try:
            return QueryOperator(raw)
        except ValueError:
            c.fail("queryOperator", "INVALID_OPERATOR", "Use `and` or `or`.")
            return QueryOperator.AND

    def _one(self, condition: Condition, c: _Checker) -> ColumnElement[bool] | None:
        try:
            op = FilterOperator(condition.filter_operator.lower())
        except ValueError:
            c.fail("filterOperator", "INVALID_OPERATOR", f"Unknown operator `{condition.filter_operator}`.")
            return None
        values = list(condition.values)
        if len(values) > MAX_VALUES or any(len(v) > MAX_VALUE_LENGTH for v in values):
            c.fail("values", "INVALID_VALUE", f"At most {MAX_VALUES} values of {MAX_VALUE_LENGTH} characters.")
            return None
        key = condition.attribute_key
        standard = self.extra.get(key) or STANDARD[self.model].get(key)
        if standard is not None:
            kind, expr = standard.kind, standard.expr()
        elif key in self.definitions:
            definition = self.definitions[key]
            kind = DISPLAY_KINDS[definition.display_type]
            column = self.root.custom_attributes
            if kind == K.NUMBER:
                expr = _pg_number(column, key) if self.dialect == "postgresql" else column[key].as_float()
            else:
                expr = _json_text(column, key)
            choices = frozenset(str(v) for v in definition.list_values) if kind == K.LIST else frozenset()
            standard = Standard(kind, lambda: expr, choices, custom=True)
        else:
            c.fail("attributeKey", "UNKNOWN_ATTRIBUTE", f"No {self.model.value} attribute `{key}`.")
            return None
        if op not in OPERATORS[kind]:
            c.fail("filterOperator", "INVALID_OPERATOR", f"`{op.value}` does not apply to a {kind.value} attribute.")
            return None
        if op in (Op.IS_PRESENT, Op.IS_NOT_PRESENT):
            present = self._labels_present() if kind == K.LABELS else _present(expr, kind)
            return present if op == Op.IS_PRESENT else not_(present)
        if not values:
            c.fail("values", "REQUIRED", "Give at least one value.")
            return None
        match = self._match(kind, standard, expr, op, values, c)
        if match is None:
            return None
        if op in (Op.NOT_EQUAL_TO, Op.DOES_NOT_CONTAIN):
            # the complement: rows without a value are "not equal" too
            return or_(expr.is_(None), not_(match)) if kind != K.LABELS else not_(match)
        return match

    def _label_link(self) -> tuple[Any, Any]:
        """The link table of the filtered model's labels and its condition on the row."""
        if self.model == AttributeModel.CONVERSATION:
            return ConversationLabel, ConversationLabel.conversation_id == Conversation.id
        return ContactLabel, ContactLabel.contact_id == Contact.id

    def _labels_present(self) -> ColumnElement[bool]:
        _, linked = self._label_link()
        return exists().where(linked)

    def _match(
        self,
        kind: AttributeKind,
        standard: Standard,
        expr: ColumnElement[Any],
        op: FilterOperator,
        values: list[str],
        c: _Checker,
    ) -> ColumnElement[bool] | None:
        if kind in (K.TEXT, K.LINK):
            if op in (Op.EQUAL_TO, Op.NOT_EQUAL_TO):
                return func.lower(expr).in_([v.lower() for v in values])
            patterns = [_like(v, prefix_only=op == Op.STARTS_WITH) for v in values]
            return or_(*(expr.ilike(p, escape="\\") for p in patterns))
        if kind in (K.CHOICE, K.LIST):
            bad = [v for v in values if v not in standard.choices] if standard.choices else []
            if bad:
                c.fail("values", "INVALID_VALUE", f"Unknown value `{bad[0]}`.")
                return None
            return expr.in_(values)
        if kind == K.REFERENCE:
            ids = [self.decode_reference(v, standard.reference) for v in values]
            if any(i is None for i in ids):
                c.fail("values", "INVALID_VALUE", f"Give {standard.reference} IDs.")
                return None
            return expr.in_(ids)
        if kind == K.LABELS:
            titles = [v.strip().lower() for v in values]
            link, linked = self._label_link()
            return exists().where(
                linked,
                link.label_id == Label.id,
                Label.account_id == self.account_id,
                Label.title.in_(titles),
            )
        if kind == K.CHECKBOX:
            flag = _boolean(values[0], c) if len(values) == 1 else _one(values, c)
            if flag is None or not isinstance(flag, bool):
                return None
            if _is_bool(expr):
                return expr.is_(flag)
            return (
                expr == ("true" if flag else "false")
                if self.dialect == "postgresql"
                else expr.in_(["1", "true"] if flag else ["0", "false"])
            )
        if kind == K.NUMBER:
            if op in (Op.EQUAL_TO, Op.NOT_EQUAL_TO):
                numbers = [_number(v, c) for v in values]
                if any(n is None for n in numbers):
                    return None
                return expr.in_(numbers)
            value = _one(values, c)
            n = _number(value, c) if value is not None else None
            if n is None:
                return None
            return expr > n if op == Op.IS_GREATER_THAN else expr < n
        if kind == K.DATE:
            return self._date(standard, expr, op, values, c)
        return None  # pragma: no cover - every kind is handled above

    def _date(
        self, standard: Standard, expr: ColumnElement[Any], op: FilterOperator, values: list[str], c: _Checker
    ) -> ColumnElement[bool] | None:
        column_date = not standard.custom
        if op == Op.DAYS_BEFORE:
            value = _one(values, c)
            if value is None:
                return None
            if not (value.isascii() and value.isdigit() and len(value) <= 5):
                c.fail("values", "INVALID_VALUE", "Give a whole number of days.")
                return None
            bound = self.today - timedelta(days=int(value))
            return self._compare(expr, column_date, "<", bound)
        if op in (Op.IS_GREATER_THAN, Op.IS_LESS_THAN):
            value = _one(values, c)
            day = _day(value, c) if value is not None else None
            if day is None:
                return None
            return self._compare(expr, column_date, ">" if op == Op.IS_GREATER_THAN else "<", day)
        days = [_day(v, c) for v in values]
        if any(d is None for d in days):
            return None
        return or_(*(self._compare(expr, column_date, "=", d) for d in days if d is not None))

    def _compare(self, expr: ColumnElement[Any], column_date: bool, op: str, day: date) -> ColumnElement[bool]:
        """Dates compare by day: a timestamp column against the day's bounds (index friendly), a
        custom date (ISO text) by its first ten characters."""
        if column_date:
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            end = start + timedelta(days=1)
            if op == "<":
                return expr < start
            if op == ">":
                return expr >= end
            return and_(expr >= start, expr < end)
        text = func.substr(expr, 1, 10)
        iso = day.isoformat()
        return {"<": text < iso, ">": text > iso, "=": text == iso}[op]


def _is_bool(expr: ColumnElement[Any]) -> bool:
    try:
        return expr.type.python_type is bool
    except NotImplementedError:
        return False


def _is_datetime(expr: ColumnElement[Any]) -> bool:
    try:
        return expr.type.python_type is datetime
    except NotImplementedError:
        return False
