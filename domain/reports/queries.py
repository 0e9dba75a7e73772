"""Report queries: metrics of the account or of one agent, inbox, team or label over a range of days
in the account's time zone, grouped by day, week or month, and the same metrics per agent, inbox,
team or label. Counts and averages come from the daily roll-ups; medians from the raw reporting
events (see README.md in this folder)."""

from __future__ import annotations

import contextlib
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import (
    Account,
    AccountMembership,
    ConversationLabel,
    Inbox,
    Label,
    ReportingEvent,
    ReportingRollup,
    Team,
    User,
)
from db.session import dialect_name
from domain.errors import FieldError, ValidationError
from domain.reports.enums import Dimension, GroupBy, Metric

MAX_RANGE_DAYS = 731
TIMED = (Metric.FIRST_RESPONSE, Metric.REPLY_TIME, Metric.CONVERSATION_RESOLVED)
COLUMN = {Dimension.AGENT: "user_id", Dimension.INBOX: "inbox_id", Dimension.TEAM: "team_id"}


@dataclass
class TimeMetric:
    """Seconds; None when nothing was measured."""

    count: int = 0
    average: float | None = None
    median: float | None = None
    average_business_hours: float | None = None
    median_business_hours: float | None = None


@dataclass
class Metrics:
    conversations_opened: int = 0
    conversations_resolved: int = 0
    conversations_reopened: int = 0
    incoming_messages: int = 0
    outgoing_messages: int = 0
    first_response: TimeMetric = field(default_factory=TimeMetric)
    reply_time: TimeMetric = field(default_factory=TimeMetric)
    resolution_time: TimeMetric = field(default_factory=TimeMetric)


@dataclass
class Bucket:
    start: date
    metrics: Metrics


@dataclass
class Report:
    timezone: str
    since: date
    until: date
    group_by: GroupBy
    summary: Metrics
    series: list[Bucket]


@dataclass
class SummaryRow:
    dimension: Dimension
    id: int
    name: str
    metrics: Metrics


@dataclass(frozen=True)
class Range:
    since: date
    until: date
    timezone: str

    @property
    def lo(self) -> datetime:
        return datetime.combine(self.since, time(0), tzinfo=ZoneInfo(self.timezone)).astimezone(UTC)

    @property
    def hi(self) -> datetime:
        return datetime.combine(self.until + timedelta(days=1), time(0), tzinfo=ZoneInfo(self.timezone)).astimezone(UTC)


def check_range(since: date, until: date) -> None:
    if until < since:
        raise ValidationError(FieldError("until", "INVALID_RANGE", "The range ends before it starts."))
    if (until - since).days >= MAX_RANGE_DAYS:
        raise ValidationError(FieldError("since", "RANGE_TOO_LONG", f"A report spans at most {MAX_RANGE_DAYS} days."))


async def account_timezone(session: AsyncSession, account_id: int) -> str:
    return await session.scalar(select(Account.timezone).where(Account.id == account_id)) or "UTC"


def bucket_of(day: date, group_by: GroupBy) -> date:
    if group_by == GroupBy.WEEK:
        return day - timedelta(days=day.weekday())  # Monday, as PostgreSQL's date_trunc('week')
    if group_by == GroupBy.MONTH:
        return day.replace(day=1)
    return day


def buckets(since: date, until: date, group_by: GroupBy) -> list[date]:
    out: list[date] = []
    day = since
    while day <= until:
        start = bucket_of(day, group_by)
        if not out or out[-1] != start:
            out.append(start)
        day += timedelta(days=1)
    return out


# --- accumulating --------------------------------------------------------------------------------------


class _Acc:
    """count, sum and business-hours sum per metric, and medians once known."""

    def __init__(self) -> None:
        self.sums: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
        self.medians: dict[str, tuple[float | None, float | None]] = {}

    def add(self, name: str, count: int, total: float, total_bh: float) -> None:
        acc = self.sums[name]
        acc[0] += int(count)  # sums of BIGINT come back as Decimal on PostgreSQL
        acc[1] += float(total or 0.0)
        acc[2] += float(total_bh or 0.0)

    def metrics(self) -> Metrics:
        def timed(name: Metric) -> TimeMetric:
            count, total, total_bh = self.sums.get(name.value, [0, 0.0, 0.0])
            median, median_bh = self.medians.get(name.value, (None, None))
            if not count:
                return TimeMetric()
            return TimeMetric(int(count), total / count, median, total_bh / count, median_bh)

        def n(name: Metric) -> int:
            return int(self.sums.get(name.value, [0])[0])

        return Metrics(
            conversations_opened=n(Metric.CONVERSATION_OPENED),
            conversations_resolved=n(Metric.CONVERSATION_RESOLVED),
            conversations_reopened=n(Metric.CONVERSATION_REOPENED),
            incoming_messages=n(Metric.INCOMING_MESSAGE),
            outgoing_messages=n(Metric.OUTGOING_MESSAGE),
            first_response=timed(Metric.FIRST_RESPONSE),
            reply_time=timed(Metric.REPLY_TIME),
            resolution_time=timed(Metric.CONVERSATION_RESOLVED),
        )


# --- raw reporting events ----------------------------------------------------------------------------


def _dimension_filter(dimension: Dimension, dimension_id: int | None) -> tuple[str, dict[str, Any]]:
    if dimension == Dimension.ACCOUNT or dimension_id is None:
        return "", {}
    if dimension == Dimension.LABEL:
        return (
            " AND conversation_id IN (SELECT conversation_id FROM conversation_labels WHERE label_id = :dim)",
            {"dim": dimension_id},
        )
    return f" AND {COLUMN[dimension]} = :dim", {"dim": dimension_id}


async def _raw(
    session: AsyncSession,
    account_id: int,
    rng: Range,
    names: Sequence[Metric],
    group_by: GroupBy | None,
    dimension: Dimension,
    dimension_id: int | None,
    *,
    with_counts: bool,
) -> dict[tuple[str, date | None], tuple[Any, ...]]:
    """(name, bucket or None for the whole range) → (count, sum, sum in business hours, median, median
    in business hours), read from the raw reporting events of the range. On PostgreSQL one statement
    with `percentile_cont` and GROUPING SETS over the (account, name, end time) index; on SQLite the
    values are read and the medians taken in Python (statistics.median interpolates the same way)."""
    where, params = _dimension_filter(dimension, dimension_id)
    params.update(a=account_id, lo=rng.lo, hi=rng.hi, names=[n.value for n in names])
    out: dict[tuple[str, date | None], tuple[Any, ...]] = {}
    if dialect_name(session) == "postgresql":
        # Buckets by binary search over their start instants (width_bucket) rather than converting every
        # row's time to the account's zone: the sort for the medians dominates, and this keeps it lean.
        starts = buckets(rng.since, rng.until, group_by) if group_by else []
        zone = ZoneInfo(rng.timezone)
        params["starts"] = [datetime.combine(b, time(0), tzinfo=zone).astimezone(UTC) for b in starts]
        bucket = "width_bucket(event_end_time, CAST(:starts AS timestamptz[]))" if group_by else "0"
        sets = "GROUPING SETS ((name, bucket), (name))" if group_by else "name"
        # Medians sort every value of the range; give the sort room so it stays in memory. Not SET
        # LOCAL: a query's session may run without a transaction, where SET LOCAL does nothing.
        await session.execute(text("SET work_mem = '64MB'"))
        stmt = text(
            f"SELECT name, {bucket} AS bucket, count(*), sum(value), sum(value_in_business_hours), "
            "percentile_cont(0.5) WITHIN GROUP (ORDER BY value), "
            "percentile_cont(0.5) WITHIN GROUP (ORDER BY value_in_business_hours) "
            "FROM reporting_events WHERE account_id = :a AND name = ANY(:names) "
            f"AND event_end_time >= :lo AND event_end_time < :hi{where} GROUP BY {sets}"
        )
        try:
            rows = (await session.execute(stmt, params)).all()
        finally:
            with contextlib.suppress(Exception):  # in a failed transaction the rollback undoes the SET
                await session.execute(text("RESET work_mem"))
        for name, b, count, total, total_bh, median, median_bh in rows:
            key = starts[b - 1] if group_by and b is not None else None
            out[(name, key)] = (count, total or 0.0, total_bh or 0.0, median, median_bh)
        return out
    stmt = text(
        "SELECT name, event_end_time, value, value_in_business_hours FROM reporting_events WHERE account_id = :a "
        f"AND name IN ({', '.join(f':n{i}' for i in range(len(names)))}) AND event_end_time >= :lo AND event_end_time < :hi{where}"
    ).bindparams(**{f"n{i}": n.value for i, n in enumerate(names)})
    params.pop("names")
    params["lo"], params["hi"] = rng.lo.strftime("%Y-%m-%d %H:%M:%S.%f"), rng.hi.strftime("%Y-%m-%d %H:%M:%S.%f")
    zone = ZoneInfo(rng.timezone)
    groups: dict[tuple[str, date | None], list[tuple[float, float]]] = defaultdict(list)
    for name, end, value, value_bh in await session.execute(stmt, params):
        end = (
            datetime.fromisoformat(str(end)).replace(tzinfo=UTC)
            if not isinstance(end, datetime)
            else end.replace(tzinfo=UTC)
        )
        groups[(name, None)].append((value, value_bh))
        if group_by:
            groups[(name, bucket_of(end.astimezone(zone).date(), group_by))].append((value, value_bh))
    for key, values in groups.items():
        out[key] = (
            len(values),
            sum(v for v, _ in values),
            sum(b for _, b in values),
            statistics.median(v for v, _ in values),
            statistics.median(b for _, b in values),
        )
    return out


# --- the report over time ----------------------------------------------------------------------------


async def report(
    session: AsyncSession,
    account_id: int,
    *,
    since: date,
    until: date,
    group_by: GroupBy,
    dimension: Dimension = Dimension.ACCOUNT,
    dimension_id: int | None = None,
    medians: bool = True,
) -> Report:
    """`medians=False` skips the one statement that reads raw events (the medians stay None): counts
    and averages then come from the roll-ups alone."""
    check_range(since, until)
    rng = Range(since, until, await account_timezone(session, account_id))
    summary = _Acc()
    per_bucket: dict[date, _Acc] = {b: _Acc() for b in buckets(since, until, group_by)}
    if dimension == Dimension.LABEL:
        raw = await _raw(session, account_id, rng, list(Metric), group_by, dimension, dimension_id, with_counts=True)
        for (name, b), (count, total, total_bh, _m, _mb) in raw.items():
            (summary if b is None else per_bucket[b]).add(name, count, total, total_bh)
    else:
        kind = "account" if dimension == Dimension.ACCOUNT else dimension.value
        rows = await session.execute(
            select(
                ReportingRollup.day,
                ReportingRollup.name,
                ReportingRollup.count,
                ReportingRollup.sum_value,
                ReportingRollup.sum_value_business_hours,
            ).where(
                ReportingRollup.account_id == account_id,
                ReportingRollup.dimension_type == kind,
                ReportingRollup.dimension_id == (account_id if dimension == Dimension.ACCOUNT else dimension_id),
                ReportingRollup.day >= since,
                ReportingRollup.day <= until,
            )
        )
        for day, name, count, total, total_bh in rows:
            summary.add(name, count, total, total_bh)
            per_bucket[bucket_of(day, group_by)].add(name, count, total, total_bh)
        raw = (
            await _raw(session, account_id, rng, TIMED, group_by, dimension, dimension_id, with_counts=False)
            if medians
            else {}
        )
    for (name, b), (_c, _t, _tb, median, median_bh) in raw.items():
        (summary if b is None else per_bucket[b]).medians[name] = (median, median_bh)
    return Report(
        rng.timezone,
        since,
        until,
        group_by,
        summary.metrics(),
        [Bucket(b, acc.metrics()) for b, acc in per_bucket.items()],
    )


# --- per agent, inbox, team or label -------------------------------------------------------------------


async def _members(session: AsyncSession, account_id: int, dimension: Dimension) -> list[tuple[int, str]]:
    if dimension == Dimension.AGENT:
        stmt = (
            select(User.id, func.coalesce(User.display_name, User.name))
            .join(AccountMembership, AccountMembership.user_id == User.id)
            .where(AccountMembership.account_id == account_id)
        )
    elif dimension == Dimension.INBOX:
        stmt = select(Inbox.id, Inbox.name).where(Inbox.account_id == account_id)
    elif dimension == Dimension.TEAM:
        stmt = select(Team.id, Team.name).where(Team.account_id == account_id)
    else:
        stmt = select(Label.id, Label.title).where(Label.account_id == account_id)
    return sorted(((i, n) for i, n in await session.execute(stmt)), key=lambda r: (r[1].lower(), r[0]))


async def summaries(
    session: AsyncSession, account_id: int, *, dimension: Dimension, since: date, until: date, medians: bool = True
) -> list[SummaryRow]:
    """One row per agent (member of the account), inbox, team or label over the range, by name; a
    constant number of statements whatever the number of rows."""
    if dimension == Dimension.ACCOUNT:
        raise ValidationError(FieldError("dimension", "INVALID", "Choose agents, inboxes, teams or labels."))
    check_range(since, until)
    rng = Range(since, until, await account_timezone(session, account_id))
    members = await _members(session, account_id, dimension)
    accs: dict[int, _Acc] = {i: _Acc() for i, _ in members}
    params = dict(a=account_id, lo=rng.lo, hi=rng.hi)
    if dimension == Dimension.LABEL:
        # Labels come from the conversations' current labels (agents label when they resolve).
        stmt = (
            select(
                ConversationLabel.label_id,
                ReportingEvent.name,
                func.count(),
                func.sum(ReportingEvent.value),
                func.sum(ReportingEvent.value_in_business_hours),
            )
            .join(ConversationLabel, ConversationLabel.conversation_id == ReportingEvent.conversation_id)
            .where(
                ReportingEvent.account_id == account_id,
                ReportingEvent.event_end_time >= rng.lo,
                ReportingEvent.event_end_time < rng.hi,
            )
            .group_by(ConversationLabel.label_id, ReportingEvent.name)
        )
    else:
        stmt = (
            select(
                ReportingRollup.dimension_id,
                ReportingRollup.name,
                func.sum(ReportingRollup.count),
                func.sum(ReportingRollup.sum_value),
                func.sum(ReportingRollup.sum_value_business_hours),
            )
            .where(
                ReportingRollup.account_id == account_id,
                ReportingRollup.dimension_type == dimension.value,
                ReportingRollup.day >= since,
                ReportingRollup.day <= until,
            )
            .group_by(ReportingRollup.dimension_id, ReportingRollup.name)
        )
    for dim_id, name, count, total, total_bh in await session.execute(stmt):
        if dim_id in accs:
            accs[dim_id].add(name, count, total or 0.0, total_bh or 0.0)
    for (dim_id, name), (median, median_bh) in (
        (await _medians_by(session, rng, params, dimension)) if medians else {}
    ).items():
        if dim_id in accs:
            accs[dim_id].medians[name] = (median, median_bh)
    return [SummaryRow(dimension, i, n, accs[i].metrics()) for i, n in members]


async def _medians_by(
    session: AsyncSession, rng: Range, params: dict[str, Any], dimension: Dimension
) -> dict[tuple[int, str], tuple[Any, ...]]:
    names = [m.value for m in TIMED]
    if dimension == Dimension.LABEL:
        source, key = (
            "reporting_events re JOIN conversation_labels cl ON cl.conversation_id = re.conversation_id",
            "cl.label_id",
        )
    else:
        source, key = "reporting_events re", f"re.{COLUMN[dimension]}"
    filters = (
        f"re.account_id = :a AND re.event_end_time >= :lo AND re.event_end_time < :hi AND {key} IS NOT NULL "
        f"AND re.name IN ({', '.join(f':n{i}' for i in range(len(names)))})"
    )
    binds = {**params, **{f"n{i}": n for i, n in enumerate(names)}}
    out: dict[tuple[int, str], tuple[Any, ...]] = {}
    if dialect_name(session) == "postgresql":
        stmt = text(
            f"SELECT {key}, re.name, percentile_cont(0.5) WITHIN GROUP (ORDER BY re.value), "
            "percentile_cont(0.5) WITHIN GROUP (ORDER BY re.value_in_business_hours) "
            f"FROM {source} WHERE {filters} GROUP BY {key}, re.name"
        )
        for dim_id, name, median, median_bh in await session.execute(stmt, binds):
            out[(dim_id, name)] = (median, median_bh)
        return out
    binds["lo"], binds["hi"] = rng.lo.strftime("%Y-%m-%d %H:%M:%S.%f"), rng.hi.strftime("%Y-%m-%d %H:%M:%S.%f")
    groups: dict[tuple[int, str], list[tuple[float, float]]] = defaultdict(list)
    for dim_id, name, value, value_bh in await session.execute(
        text(f"SELECT {key}, re.name, re.value, re.value_in_business_hours FROM {source} WHERE {filters}"), binds
    ):
        groups[(dim_id, name)].append((value, value_bh))
    return {k: (statistics.median(v for v, _ in vs), statistics.median(b for _, b in vs)) for k, vs in groups.items()}


async def check_dimension(
    session: AsyncSession, account_id: int, dimension: Dimension, dimension_id: int | None
) -> None:
    """The agent, inbox, team or label a report is about must belong to the account."""
    from domain.errors import NotFound

    if dimension == Dimension.ACCOUNT:
        return
    if dimension_id is None:
        raise ValidationError(FieldError("id", "REQUIRED", "Name the agent, inbox, team or label."))
    if dimension == Dimension.AGENT:
        stmt = select(AccountMembership.user_id).where(
            AccountMembership.account_id == account_id, AccountMembership.user_id == dimension_id
        )
    else:
        models: dict[Dimension, type[Inbox | Team | Label]] = {
            Dimension.INBOX: Inbox,
            Dimension.TEAM: Team,
            Dimension.LABEL: Label,
        }
        model = models[dimension]
        stmt = select(model.id).where(model.account_id == account_id, model.id == dimension_id)
    if await session.scalar(stmt) is None:
        raise NotFound(f"No {dimension.value} with this ID")
