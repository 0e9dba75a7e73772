"""Benchmark of the reports: a year's overview of a large account from the daily roll-ups, against
the same numbers computed from raw rows, measured in the same run on the same PostgreSQL.

    python -m bench.reports                       # 50,000 conversations, 500,000 messages
    python -m bench.reports --conversations 5000  # a 10 % run

The database (default `parley_bench_reports`) is dropped, created and migrated; the account is seeded
with bulk SQL (generate_series), its reporting events derived in SQL the way the reporting consumer
would record them (business-hour values are synthetic: 35 % of the value), and its roll-ups rebuilt
by `domain.reports.recorder.rebuild_rollups`. Then each query runs `--repeat` times and the median
is reported, with ratios against the baselines:

- raw tables: counts from `conversations` and `messages`, first response from
  `conversations.first_reply_created_at`, medians with percentile_cont (no reporting data at all);
- raw reporting events: every metric from `reporting_events` (Chatwoot's data source, no roll-ups).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from sqlalchemy import text

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/parley_bench_reports"
TZ = "Europe/Berlin"
INBOXES, AGENTS, TEAMS, LABELS = 5, 20, 4, 10
HOURS = [
    {"day_of_week": d, "closed_all_day": False, "open_all_day": False, "open_time": "09:00", "close_time": "17:00"}
    for d in range(1, 6)
]


def say(message: str) -> None:
    print(message, flush=True)


class Step:
    def __init__(self, label: str) -> None:
        self.label = label

    def __enter__(self) -> Step:
        self.start = time.perf_counter()
        print(f"  {self.label} …", end="", flush=True)
        return self

    def __exit__(self, *exc) -> None:
        print(f" {time.perf_counter() - self.start:.1f} s", flush=True)


async def recreate(url: str) -> None:
    from db.session import create_engine

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    engine = create_engine(urlunsplit(parts._replace(path="/postgres")), pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()


# Message k of conversation g happens k hours (plus a jitter under 30 minutes) after the conversation starts;
# even k are the contact's, odd k the agent's replies.
def msg_time(k: str = "k") -> str:
    return f"c.created_at + make_interval(secs => {k} * 3600 + ((c.id * 31 + {k} * 17) % 1800))"


MSG_TIME = msg_time()


async def seed(conn, n: int, per: int, days: int) -> None:
    import json

    now = datetime.now(UTC)
    start = now - timedelta(days=days)
    await conn.execute(
        text(
            "INSERT INTO accounts (id, name, locale, timezone, status, settings, conversation_seq, event_seq, "
            "created_at, updated_at) VALUES (1, 'Bench', 'en', :tz, 'active', '{}', :n, 0, :t, :t)"
        ),
        {"tz": TZ, "n": n, "t": start},
    )
    await conn.execute(
        text(
            "INSERT INTO inboxes (id, account_id, name, channel_type, channel_config, hmac_token_encrypted, hmac_token_key_id, hmac_mandatory, greeting_enabled, "
            "greeting_message, out_of_office_message, working_hours_enabled, working_hours, timezone, enable_auto_assignment, "
            "created_at, updated_at) SELECT g, 1, 'Inbox ' || g, 'api', '{}', 'v1:none:' || md5(g::text), 'none', false, false, '', '', true, "
            "CAST(:h AS JSONB), :tz, true, :t, :t FROM generate_series(1, :k) g"
        ),
        {"h": json.dumps(HOURS), "tz": TZ, "t": start, "k": INBOXES},
    )
    await conn.execute(
        text(
            "INSERT INTO users (id, name, email, availability, is_super_admin, created_at, updated_at) "
            "SELECT g, 'Agent ' || g, 'agent' || g || '@bench.test', 'offline', false, :t, :t FROM generate_series(1, :k) g"
        ),
        {"t": start, "k": AGENTS},
    )
    await conn.execute(
        text(
            "INSERT INTO account_memberships (account_id, user_id, role, created_at) "
            "SELECT 1, g, CASE WHEN g = 1 THEN 'administrator' ELSE 'agent' END, :t FROM generate_series(1, :k) g"
        ),
        {"t": start, "k": AGENTS},
    )
    await conn.execute(
        text(
            "INSERT INTO teams (id, account_id, name, description, allow_auto_assign, created_at) "
            "SELECT g, 1, 'Team ' || g, '', true, :t FROM generate_series(1, :k) g"
        ),
        {"t": start, "k": TEAMS},
    )
    await conn.execute(
        text(
            "INSERT INTO labels (id, account_id, title, description, color, show_on_sidebar, created_at) "
            "SELECT g, 1, 'label' || g, '', '#000000', true, :t FROM generate_series(1, :k) g"
        ),
        {"t": start, "k": LABELS},
    )
    contacts = max(n // 5, 1)
    await conn.execute(
        text(
            "INSERT INTO contacts (id, account_id, name, additional_attributes, custom_attributes, contact_type, blocked, created_at, updated_at) "
            "SELECT g, 1, 'Contact ' || g, '{}', '{}', 'visitor', false, :t, :t FROM generate_series(1, :k) g"
        ),
        {"t": start, "k": contacts},
    )
    await conn.execute(
        text(
            "INSERT INTO conversations (id, account_id, display_id, inbox_id, contact_id, status, assignee_id, team_id, last_activity_at, "
            "first_reply_created_at, additional_attributes, custom_attributes, created_at, updated_at) "
            "SELECT g, 1, g, 1 + g % :inboxes, 1 + g % :contacts, CASE WHEN g % 5 = 0 THEN 'open' ELSE 'resolved' END, "
            "1 + g % :agents, CASE WHEN g % 3 = 0 THEN NULL ELSE 1 + g % :teams END, CAST(:s AS timestamptz), NULL, '{}', '{}', "
            "CAST(:s AS timestamptz) + make_interval(secs => (g::float8 / CAST(:n AS int)) * CAST(:span AS float8)), CAST(:s AS timestamptz) "
            "FROM generate_series(1, CAST(:n AS int)) g"
        ),
        {
            "inboxes": INBOXES,
            "contacts": contacts,
            "agents": AGENTS,
            "teams": TEAMS,
            "n": n,
            "s": start,
            "span": (days - 1) * 86400.0,
        },
    )
    await conn.execute(
        text(
            "UPDATE conversations c SET first_reply_created_at = "
            + msg_time("1")
            + ", last_activity_at = "
            + msg_time(str(per - 1))
        )
    )
    await conn.execute(
        text(
            "INSERT INTO conversation_labels (conversation_id, label_id, account_id) SELECT id, 1 + id % :l, 1 FROM conversations"
        ),
        {"l": LABELS},
    )
    await conn.execute(
        text(
            "INSERT INTO messages (account_id, conversation_id, inbox_id, message_type, content, private, sender_type, sender_id, "
            f"content_attributes, created_at) SELECT 1, c.id, c.inbox_id, CASE WHEN k % 2 = 0 THEN 'incoming' ELSE 'outgoing' END, "
            "'message', false, CASE WHEN k % 2 = 0 THEN 'contact' ELSE 'user' END, "
            f"CASE WHEN k % 2 = 0 THEN c.contact_id ELSE c.assignee_id END, '{{}}', {MSG_TIME} "
            "FROM conversations c CROSS JOIN generate_series(0, :last) k"
        ),
        {"last": per - 1},
    )


async def derive_reporting_events(conn) -> None:
    """What the consumer would have recorded, in bulk."""
    cols = (
        "INSERT INTO reporting_events (account_id, source_event_id, name, value, value_in_business_hours, conversation_id, "
        "inbox_id, user_id, team_id, event_start_time, event_end_time, created_at) "
    )
    await conn.execute(
        text(
            cols
            + "SELECT c.account_id, c.id, 'conversation_opened', 0, 0, c.id, c.inbox_id, c.assignee_id, c.team_id, "
            "c.created_at, c.created_at, now() FROM conversations c"
        )
    )
    await conn.execute(
        text(
            cols
            + "SELECT m.account_id, m.id, CASE WHEN m.message_type = 'incoming' THEN 'incoming_message' ELSE 'outgoing_message' END, "
            "0, 0, c.id, c.inbox_id, CASE WHEN m.message_type = 'incoming' THEN c.assignee_id ELSE m.sender_id END, "
            "c.team_id, m.created_at, m.created_at, now() FROM messages m JOIN conversations c ON c.id = m.conversation_id"
        )
    )
    seconds = "EXTRACT(EPOCH FROM (c.first_reply_created_at - c.created_at))"
    await conn.execute(
        text(
            cols
            + f"SELECT c.account_id, c.id, 'first_response', {seconds}, {seconds} * 0.35, c.id, c.inbox_id, c.assignee_id, "
            "c.team_id, c.created_at, c.first_reply_created_at, now() FROM conversations c "
            "WHERE c.first_reply_created_at IS NOT NULL"
        )
    )
    # Each later reply (odd k ≥ 3) measured from the contact's message just before it.
    await conn.execute(
        text(
            cols + "SELECT m.account_id, m.id, 'reply_time', EXTRACT(EPOCH FROM (m.created_at - prev.created_at)), "
            "EXTRACT(EPOCH FROM (m.created_at - prev.created_at)) * 0.35, c.id, c.inbox_id, m.sender_id, c.team_id, prev.created_at, "
            "m.created_at, now() FROM messages m JOIN conversations c ON c.id = m.conversation_id "
            "JOIN LATERAL (SELECT p.created_at FROM messages p WHERE p.conversation_id = m.conversation_id AND p.id < m.id "
            "ORDER BY p.id DESC LIMIT 1) prev ON true "
            "WHERE m.message_type = 'outgoing' AND m.created_at > c.first_reply_created_at"
        )
    )
    resolved_at = "c.last_activity_at + interval '1 hour'"
    await conn.execute(
        text(
            cols
            + f"SELECT c.account_id, c.id, 'conversation_resolved', EXTRACT(EPOCH FROM ({resolved_at} - c.created_at)), "
            f"EXTRACT(EPOCH FROM ({resolved_at} - c.created_at)) * 0.35, c.id, c.inbox_id, c.assignee_id, c.team_id, c.created_at, "
            f"{resolved_at}, now() FROM conversations c WHERE c.status = 'resolved'"
        )
    )
    await conn.execute(text("ANALYZE"))


BASELINE_TABLES = """
WITH conv AS (
  SELECT date_trunc('month', created_at AT TIME ZONE :tz)::date AS bucket, count(*) AS opened
  FROM conversations WHERE account_id = :a AND created_at >= :lo AND created_at < :hi GROUP BY 1),
msg AS (
  SELECT date_trunc('month', created_at AT TIME ZONE :tz)::date AS bucket,
         count(*) FILTER (WHERE message_type = 'incoming') AS incoming,
         count(*) FILTER (WHERE message_type = 'outgoing' AND NOT private) AS outgoing
  FROM messages WHERE account_id = :a AND created_at >= :lo AND created_at < :hi GROUP BY 1),
frt AS (
  SELECT date_trunc('month', first_reply_created_at AT TIME ZONE :tz)::date AS bucket, count(*) AS n,
         avg(EXTRACT(EPOCH FROM first_reply_created_at - created_at)) AS average,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM first_reply_created_at - created_at)) AS median
  FROM conversations WHERE account_id = :a AND first_reply_created_at >= :lo AND first_reply_created_at < :hi GROUP BY 1)
SELECT * FROM conv FULL JOIN msg USING (bucket) FULL JOIN frt USING (bucket) ORDER BY bucket
"""


async def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = await fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reports", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", default=DEFAULT_URL, help="a PostgreSQL database of its own (dropped and recreated)"
    )
    parser.add_argument("--conversations", type=int, default=50_000)
    parser.add_argument("--messages-per-conversation", type=int, default=10)
    parser.add_argument("--days", type=int, default=365, help="the seeded history and the report's range")
    parser.add_argument("--repeat", type=int, default=5, help="runs per query; the median is reported")
    parser.add_argument("--no-seed", action="store_true", help="time the database a previous run seeded (same sizes)")
    args = parser.parse_args(argv)

    from db.migrate import upgrade
    from db.session import create_engine, create_session_factory
    from domain.reports import queries, recorder
    from domain.reports.enums import Dimension, GroupBy, Metric

    n, per = args.conversations, args.messages_per_conversation
    say(f"reports benchmark: {n:,} conversations, {n * per:,} messages over {args.days} days")
    if not args.no_seed:
        with Step("database created and migrated"):
            await recreate(args.database_url)
            await asyncio.to_thread(upgrade, args.database_url)
    engine = create_engine(args.database_url, pool_size=2, max_overflow=0)
    sessions = create_session_factory(engine)
    try:
        if not args.no_seed:
            with Step("seeded account, inboxes, agents, conversations and messages"):
                async with engine.begin() as conn:
                    await seed(conn, n, per, args.days)
            with Step("derived reporting events"):
                async with engine.begin() as conn:
                    await derive_reporting_events(conn)
            with Step("rebuilt daily roll-ups (rebuild_rollups)"):
                async with sessions() as session:
                    await recorder.rebuild_rollups(session, 1)
                    await session.commit()
            async with engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text("VACUUM ANALYZE"))
        async with engine.connect() as conn:
            counts = dict(
                (
                    await conn.execute(
                        text(
                            "SELECT 'reporting_events', count(*) FROM reporting_events UNION ALL SELECT 'reporting_rollups', count(*) FROM reporting_rollups"
                        )
                    )
                ).all()
            )
        say(f"  {counts['reporting_events']:,} reporting events, {counts['reporting_rollups']:,} roll-up rows")

        today = datetime.now(ZoneInfo(TZ)).date()
        since, until = today - timedelta(days=args.days - 1), today
        rng = queries.Range(since, until, TZ)

        async def overview(group_by=GroupBy.MONTH, medians=True):
            async with sessions() as session:
                return await queries.report(session, 1, since=since, until=until, group_by=group_by, medians=medians)

        async def raw_events():
            async with sessions() as session:
                return await queries._raw(
                    session, 1, rng, list(Metric), GroupBy.MONTH, Dimension.ACCOUNT, None, with_counts=True
                )

        async def raw_tables():
            async with sessions() as session:
                return (
                    await session.execute(text(BASELINE_TABLES), {"tz": TZ, "a": 1, "lo": rng.lo, "hi": rng.hi})
                ).all()

        async def agents():
            async with sessions() as session:
                return await queries.summaries(session, 1, dimension=Dimension.AGENT, since=since, until=until)

        say(f"timing (median of {args.repeat} runs each):")
        await overview()  # warm the pool and caches alike for every contender
        await raw_events()
        await raw_tables()
        t_month, result = await timed(overview, args.repeat)
        t_day, _ = await timed(lambda: overview(GroupBy.DAY), args.repeat)
        t_plain, _ = await timed(lambda: overview(medians=False), args.repeat)
        t_agents, _ = await timed(agents, args.repeat)
        t_events, raw = await timed(raw_events, args.repeat)
        t_tables, _ = await timed(raw_tables, args.repeat)
        summary = result.summary
        # The roll-ups must say what the raw events say.
        assert summary.incoming_messages == raw[("incoming_message", None)][0]
        assert summary.resolution_time.count == raw[("conversation_resolved", None)][0]
        say(f"  year overview by month (roll-ups + medians)   {t_month * 1000:8.1f} ms")
        say(f"  year overview by day                          {t_day * 1000:8.1f} ms")
        say(f"  year overview by month without medians        {t_plain * 1000:8.1f} ms")
        say(f"  per-agent summaries over the year             {t_agents * 1000:8.1f} ms")
        say(
            f"  baseline: every metric from reporting_events  {t_events * 1000:8.1f} ms   ratio {t_events / t_month:5.1f}×"
        )
        say(
            f"  baseline: counts + FRT from raw tables        {t_tables * 1000:8.1f} ms   ratio {t_tables / t_month:5.1f}×"
        )
        say(f"  counts and averages only: roll-ups vs raw reporting events  ratio {t_events / t_plain:5.1f}×")
        say(
            f"  (overview: {summary.conversations_opened:,} opened, {summary.incoming_messages:,} incoming, "
            f"{summary.outgoing_messages:,} outgoing, median first response {summary.first_response.median:.0f} s)"
        )
    finally:
        await engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
