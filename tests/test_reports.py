"""Reports: Chatwoot's metrics from the event log, with exact numbers.

The hand-built scenario writes its conversations, messages and event-log rows straight into the
database with known timestamps (shaped as domain/helpdesk/conversations.py writes them) and runs the
reporting consumer on those events; accounts, agents, inboxes with working hours, teams and labels
are built through GraphQL, and every number is read back through GraphQL. A second test drives a
conversation through GraphQL alone and lets the worker record it."""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import text

from db.session import create_session_factory
from domain.reports import recorder
from schema.core.ids import decode_id
from tests.support.accounts import Member, add_agent, signup
from tests.support.desk import ERR, build_desk, user_id

TIME = "count average median averageBusinessHours medianBusinessHours"
METRICS = f"""conversationsOpened conversationsResolved conversationsReopened incomingMessages outgoingMessages
  firstResponse {{ {TIME} }} replyTime {{ {TIME} }} resolutionTime {{ {TIME} }}"""
REPORT = f"""query($i: ReportInput!) {{ report(input: $i) {{ timezone since until groupBy
  summary {{ {METRICS} }} series {{ start metrics {{ {METRICS} }} }} }} }}"""
SUMMARIES = f"""query($i: ReportSummariesInput!) {{ reportSummaries(input: $i) {{ id name dimension metrics {{ {METRICS} }} }} }}"""
WEEKDAYS = [{"dayOfWeek": d, "openTime": "09:00", "closeTime": "17:00"} for d in range(1, 6)] + [
    {"dayOfWeek": d, "closedAllDay": True} for d in (0, 6)
]
TOKYO_DAYS = [{"dayOfWeek": d, "openTime": "09:00", "closeTime": "18:00"} for d in range(1, 6)] + [
    {"dayOfWeek": d, "closedAllDay": True} for d in (0, 6)
]


def at(text_: str) -> datetime:
    return datetime.fromisoformat(text_).replace(tzinfo=UTC)


def timed(count, average, median, average_bh, median_bh) -> dict:
    return {
        "count": count,
        "average": average,
        "median": median,
        "averageBusinessHours": average_bh,
        "medianBusinessHours": median_bh,
    }


NONE = timed(0, None, None, None, None)


def metrics(opened=0, resolved=0, reopened=0, incoming=0, outgoing=0, first=NONE, reply=NONE, resolution=NONE) -> dict:
    return {
        "conversationsOpened": opened,
        "conversationsResolved": resolved,
        "conversationsReopened": reopened,
        "incomingMessages": incoming,
        "outgoingMessages": outgoing,
        "firstResponse": first,
        "replyTime": reply,
        "resolutionTime": resolution,
    }


@dataclass
class Scenario:
    admin: Member
    agent: Member
    ids: dict[str, str]
    pks: dict[str, int]
    event_ids: list[int] = field(default_factory=list)


class Writer:
    """Rows as the helpdesk writes them, with the times we choose."""

    def __init__(self, conn, account: int) -> None:
        self.c, self.account = conn, account
        self.position = itertools.count(1_000_000)
        self.display = itertools.count(1)
        self.event_ids: list[int] = []

    async def conversation(
        self, inbox: int, contact: int, created: datetime, *, assignee=None, team=None, status="open"
    ) -> dict:
        row = (
            await self.c.execute(
                text(
                    "INSERT INTO conversations (account_id, display_id, inbox_id, contact_id, status, assignee_id, team_id, last_activity_at, "
                    "additional_attributes, custom_attributes, created_at, updated_at) "
                    "VALUES (:a, :d, :i, :c, :s, :u, :t, :at, '{}', '{}', :at, :at) RETURNING id"
                ),
                {
                    "a": self.account,
                    "d": next(self.display),
                    "i": inbox,
                    "c": contact,
                    "s": status,
                    "u": assignee,
                    "t": team,
                    "at": created,
                },
            )
        ).scalar()
        conv = {"id": row, "inbox": inbox, "contact": contact}
        await self.event(conv, "conversation.created", created)
        return conv

    async def event(
        self, conv: dict, type_: str, when: datetime, *, message=None, private=False, actor=None, payload=None
    ) -> None:
        import json

        eid = (
            await self.c.execute(
                text(
                    "INSERT INTO events (account_id, position, type, conversation_id, contact_id, inbox_id, message_id, private, actor_user_id, "
                    "payload, created_at, relayed_at) VALUES (:a, :p, :t, :c, :ct, :i, :m, :pr, :u, CAST(:pl AS JSONB), :at, :at) RETURNING id"
                ),
                {
                    "a": self.account,
                    "p": next(self.position),
                    "t": type_,
                    "c": conv["id"],
                    "ct": conv["contact"],
                    "i": conv["inbox"],
                    "m": message,
                    "pr": private,
                    "u": actor,
                    "pl": json.dumps(payload or {}),
                    "at": when,
                },
            )
        ).scalar()
        self.event_ids.append(eid)

    async def message(self, conv: dict, when: datetime, kind: str, *, sender=None, private=False) -> int:
        sender_type = "contact" if kind == "incoming" else "user"
        mid = (
            await self.c.execute(
                text(
                    "INSERT INTO messages (account_id, conversation_id, inbox_id, message_type, content, private, sender_type, sender_id, "
                    "content_attributes, created_at) VALUES (:a, :c, :i, :k, 'x', :p, :st, :s, '{}', :at) RETURNING id"
                ),
                {
                    "a": self.account,
                    "c": conv["id"],
                    "i": conv["inbox"],
                    "k": kind,
                    "p": private,
                    "st": sender_type,
                    "s": conv["contact"] if kind == "incoming" else sender,
                    "at": when,
                },
            )
        ).scalar()
        await self.event(
            conv, "message.created", when, message=mid, private=private, actor=sender, payload={"message_type": kind}
        )
        return mid

    async def incoming(self, conv: dict, when: datetime) -> None:
        await self.message(conv, when, "incoming")

    async def reply(
        self, conv: dict, when: datetime, sender: int, *, first: bool, waiting_since: datetime | None
    ) -> None:
        mid = (
            await self.c.execute(
                text(
                    "INSERT INTO messages (account_id, conversation_id, inbox_id, message_type, content, private, sender_type, sender_id, "
                    "content_attributes, created_at) VALUES (:a, :c, :i, 'outgoing', 'x', false, 'user', :s, '{}', :at) RETURNING id"
                ),
                {"a": self.account, "c": conv["id"], "i": conv["inbox"], "s": sender, "at": when},
            )
        ).scalar()
        await self.event(
            conv,
            "first.reply.created" if first else "reply.created",
            when,
            message=mid,
            actor=sender,
            payload={"waiting_since": waiting_since.isoformat() if waiting_since else None},
        )
        await self.event(conv, "message.created", when, message=mid, actor=sender, payload={"message_type": "outgoing"})

    async def status(self, conv: dict, when: datetime, before: str, after: str, actor=None) -> None:
        await self.c.execute(text("UPDATE conversations SET status = :s WHERE id = :c"), {"s": after, "c": conv["id"]})
        await self.event(
            conv,
            "conversation.status_changed",
            when,
            actor=actor,
            payload={"changed_attributes": {"status": [before, after]}, "snoozed_until": None},
        )


async def _inbox(gql, admin: Member, name: str, timezone: str, hours: list[dict]) -> str:
    body = await gql.data(
        f"""mutation($s: InboxSettingsInput) {{ inboxCreate(input: {{name: "{name}", channelType: API, settings: $s}})
      {{ inbox {{ id }} {ERR} }} }}""",
        {"s": {"workingHoursEnabled": True, "timezone": timezone, "workingHours": hours}},
        headers=admin.headers(),
    )
    assert body["inboxCreate"]["errors"] == [], body
    return body["inboxCreate"]["inbox"]["id"]


async def build_scenario(gql, smtp, db_engine) -> Scenario:
    """Account in New York; a Berlin inbox open Mon–Fri 09–17 and a Tokyo inbox open Mon–Fri 09–18.
    January 2026 (no daylight saving anywhere involved): Berlin = UTC+1, Tokyo = UTC+9, New York = UTC−5."""
    admin = await signup(gql, account="Reports")
    agent = await add_agent(gql, admin, smtp)
    h = admin.headers()
    ids = {
        "admin": await user_id(gql, admin),
        "agent": await user_id(gql, agent),
        "berlin": await _inbox(gql, admin, "Berlin", "Europe/Berlin", WEEKDAYS),
        "tokyo": await _inbox(gql, admin, "Tokyo", "Asia/Tokyo", TOKYO_DAYS),
    }
    ids["team"] = (await gql.data('mutation { teamCreate(input: {name: "Tier 1"}) { team { id } } }', headers=h))[
        "teamCreate"
    ]["team"]["id"]
    for title in ("billing", "vip"):
        ids[title] = (
            await gql.data(f'mutation {{ labelCreate(input: {{title: "{title}"}}) {{ label {{ id }} }} }}', headers=h)
        )["labelCreate"]["label"]["id"]
    contact = await gql.data('mutation { contactCreate(input: {name: "Carla"}) { contact { id } } }', headers=h)
    ids["contact"] = contact["contactCreate"]["contact"]["id"]
    account = decode_id((await gql.data("{ account { id } }", headers=h))["account"]["id"], "Account")
    pk = {
        k: decode_id(v, t)
        for k, v, t in (
            ("admin", ids["admin"], "User"),
            ("agent", ids["agent"], "User"),
            ("berlin", ids["berlin"], "Inbox"),
            ("tokyo", ids["tokyo"], "Inbox"),
            ("team", ids["team"], "Team"),
            ("billing", ids["billing"], "Label"),
            ("vip", ids["vip"], "Label"),
            ("contact", ids["contact"], "Contact"),
        )
    }
    pk["account"] = account
    async with db_engine.begin() as c:
        await c.execute(text("UPDATE accounts SET timezone = 'America/New_York' WHERE id = :a"), {"a": account})
        w = Writer(c, account)
        # 1. Berlin, created Mon 5 Jan 07:00 UTC (08:00 Berlin, before opening), worked by the admin,
        #    resolved, reopened by the contact, answered by the agent, resolved again.
        one = await w.conversation(
            pk["berlin"], pk["contact"], at("2026-01-05 07:00"), assignee=pk["admin"], team=pk["team"]
        )
        await c.execute(
            text("INSERT INTO conversation_labels (conversation_id, label_id, account_id) VALUES (:c, :l, :a)"),
            {"c": one["id"], "l": pk["billing"], "a": account},
        )
        await w.incoming(one, at("2026-01-05 07:00"))
        await w.reply(one, at("2026-01-05 09:00"), pk["admin"], first=True, waiting_since=at("2026-01-05 07:00"))
        await w.message(
            one, at("2026-01-05 09:30"), "outgoing", sender=pk["admin"], private=True
        )  # a note: not counted
        await w.incoming(one, at("2026-01-05 15:00"))
        await w.reply(one, at("2026-01-06 09:00"), pk["admin"], first=False, waiting_since=at("2026-01-05 15:00"))
        await w.status(one, at("2026-01-06 10:00"), "open", "resolved", pk["admin"])
        await w.incoming(one, at("2026-01-07 10:00"))
        await w.status(one, at("2026-01-07 10:00"), "resolved", "open")
        await w.reply(one, at("2026-01-07 11:00"), pk["agent"], first=False, waiting_since=at("2026-01-07 10:00"))
        await w.status(one, at("2026-01-07 12:00"), "open", "resolved", pk["agent"])
        # 2. Tokyo, created Fri 9 Jan 08:00 UTC (17:00 Tokyo, one hour before closing), answered on Monday.
        two = await w.conversation(pk["tokyo"], pk["contact"], at("2026-01-09 08:00"), assignee=pk["agent"])
        await w.incoming(two, at("2026-01-09 08:00"))
        await w.reply(two, at("2026-01-12 01:00"), pk["agent"], first=True, waiting_since=at("2026-01-09 08:00"))
        await w.incoming(two, at("2026-01-12 02:00"))
        await w.reply(two, at("2026-01-12 02:30"), pk["agent"], first=False, waiting_since=at("2026-01-12 02:00"))
        # 3. Berlin on a Saturday (closed): created 10 Jan 03:00 UTC, which is still Friday 9 Jan in New York.
        three = await w.conversation(
            pk["berlin"], pk["contact"], at("2026-01-10 03:00"), assignee=pk["agent"], team=pk["team"]
        )
        await c.execute(
            text("INSERT INTO conversation_labels (conversation_id, label_id, account_id) VALUES (:c, :l, :a)"),
            {"c": three["id"], "l": pk["vip"], "a": account},
        )
        await w.incoming(three, at("2026-01-10 03:00"))
        await w.status(three, at("2026-01-10 04:00"), "open", "resolved", pk["agent"])
    scenario = Scenario(admin, agent, ids, pk, w.event_ids)
    await consume(db_engine, scenario.event_ids)
    return scenario


async def consume(db_engine, event_ids: list[int]) -> int:
    """Run the reporting consumer as its job does, in batches like the outbox would send them."""
    sessions = create_session_factory(db_engine)
    total = 0
    for start in range(0, len(event_ids), 7):
        async with sessions() as session:
            total += await recorder.record(session, event_ids[start : start + 7])
            await session.commit()
    return total


# The numbers, worked out by hand (seconds). Business hours: Berlin 08:00–16:00 UTC, Tokyo 00:00–09:00 UTC, Mon–Fri.
FIRST = timed(2, (7200 + 234000) / 2, (7200 + 234000) / 2, (3600 + 7200) / 2, (3600 + 7200) / 2)
#   one: 07:00 → 09:00 = 7200, in hours 08:00 → 09:00 = 3600; two: Fri 08:00 → Mon 01:00 = 234000, in hours 3600 + 3600.
REPLY = timed(3, (64800 + 3600 + 1800) / 3, 3600.0, (7200 + 3600 + 1800) / 3, 3600.0)
#   one: Mon 15:00 → Tue 09:00 = 64800 (hours 15–16 + 08–09 = 7200); Wed 10:00 → 11:00 = 3600; two: 02:00 → 02:30 = 1800.
RESOLUTION = timed(3, (97200 + 190800 + 3600) / 3, 97200.0, (36000 + 72000 + 0) / 3, 36000.0)
#   one: Mon 07:00 → Tue 10:00 = 97200 (hours 28800 + 7200), → Wed 12:00 = 190800 (28800 + 28800 + 14400);
#   three: Saturday 03:00 → 04:00 = 3600, 0 in hours.
SUMMARY = metrics(
    opened=3, resolved=3, reopened=1, incoming=6, outgoing=5, first=FIRST, reply=REPLY, resolution=RESOLUTION
)
DAYS = {  # New York days
    "2026-01-05": metrics(opened=1, incoming=2, outgoing=1, first=timed(1, 7200.0, 7200.0, 3600.0, 3600.0)),
    "2026-01-06": metrics(
        resolved=1,
        outgoing=1,
        reply=timed(1, 64800.0, 64800.0, 7200.0, 7200.0),
        resolution=timed(1, 97200.0, 97200.0, 36000.0, 36000.0),
    ),
    "2026-01-07": metrics(
        resolved=1,
        reopened=1,
        incoming=1,
        outgoing=1,
        reply=timed(1, 3600.0, 3600.0, 3600.0, 3600.0),
        resolution=timed(1, 190800.0, 190800.0, 72000.0, 72000.0),
    ),
    "2026-01-08": metrics(),
    "2026-01-09": metrics(opened=2, resolved=1, incoming=2, resolution=timed(1, 3600.0, 3600.0, 0.0, 0.0)),
    "2026-01-10": metrics(),
    "2026-01-11": metrics(
        incoming=1,
        outgoing=2,
        first=timed(1, 234000.0, 234000.0, 7200.0, 7200.0),
        reply=timed(1, 1800.0, 1800.0, 1800.0, 1800.0),
    ),
}
WEEK = {"since": "2026-01-05", "until": "2026-01-11"}


async def report(gql, who: Member, **input_) -> dict:
    body = await gql.execute(REPORT, {"i": {**WEEK, **input_}}, headers=who.headers())
    assert "errors" not in body, body
    return body["data"]["report"]


async def test_account_report_counts_every_metric_exactly_by_new_york_days(gql, smtp, db_engine):
    s = await build_scenario(gql, smtp, db_engine)
    result = await report(gql, s.admin, groupBy="DAY")
    assert result["timezone"] == "America/New_York"
    assert result["summary"] == SUMMARY
    assert {b["start"]: b["metrics"] for b in result["series"]} == DAYS
    week = await report(gql, s.admin, groupBy="WEEK")
    assert [(b["start"], b["metrics"]) for b in week["series"]] == [("2026-01-05", SUMMARY)]
    month = await report(gql, s.admin, groupBy="MONTH", until="2026-01-31")
    assert [(b["start"], b["metrics"]) for b in month["series"]] == [("2026-01-01", SUMMARY)]
    # Without medians in the selection the raw events are not read; counts and averages are the same.
    plain = await gql.data(
        """query($i: ReportInput!) { report(input: $i) { summary { conversationsResolved
      resolutionTime { count average averageBusinessHours } } } }""",
        {"i": WEEK},
        headers=s.admin.headers(),
    )
    assert plain["report"]["summary"] == {
        "conversationsResolved": 3,
        "resolutionTime": {
            "count": 3,
            "average": RESOLUTION["average"],
            "averageBusinessHours": RESOLUTION["averageBusinessHours"],
        },
    }
    # Running the consumer again changes nothing: unique per (event, name), roll-ups grow only by new rows.
    assert await consume(db_engine, s.event_ids) == 0
    assert (await report(gql, s.admin, groupBy="DAY"))["summary"] == SUMMARY
    # In UTC, conversation three falls on the 10th: the days follow the account's zone (when the zone
    # changes, an `account.updated` event makes the consumer rebuild the roll-ups from the raw events).
    async with db_engine.begin() as c:
        await c.execute(text("UPDATE accounts SET timezone = 'UTC' WHERE id = :a"), {"a": s.pks["account"]})
        changed = (
            await c.execute(
                text(
                    "INSERT INTO events (account_id, position, type, private, payload, created_at) VALUES (:a, 2000000, 'account.updated', "
                    """false, '{"changed_attributes": {"timezone": ["America/New_York", "UTC"]}}', now()) RETURNING id"""
                ),
                {"a": s.pks["account"]},
            )
        ).scalar()
    await consume(db_engine, [changed])
    only_10th = await report(gql, s.admin, since="2026-01-10", until="2026-01-10")
    assert only_10th["timezone"] == "UTC"
    assert only_10th["summary"] == metrics(
        opened=1, resolved=1, incoming=1, resolution=timed(1, 3600.0, 3600.0, 0.0, 0.0)
    )
    assert (await report(gql, s.admin, since="2026-01-05", until="2026-01-12"))["summary"] == SUMMARY


async def test_agent_inbox_team_and_label_reports(gql, smtp, db_engine):
    s = await build_scenario(gql, smtp, db_engine)
    admin = (await report(gql, s.admin, dimension="AGENT", id=s.ids["admin"]))["summary"]
    # Replies count for who wrote them; the rest for the assignee (the admin holds conversation one throughout).
    assert admin == metrics(
        opened=1,
        resolved=2,
        reopened=1,
        incoming=3,
        outgoing=2,
        first=timed(1, 7200.0, 7200.0, 3600.0, 3600.0),
        reply=timed(1, 64800.0, 64800.0, 7200.0, 7200.0),
        resolution=timed(2, 144000.0, 144000.0, 54000.0, 54000.0),
    )
    tokyo = (await report(gql, s.admin, dimension="INBOX", id=s.ids["tokyo"]))["summary"]
    assert tokyo == metrics(
        opened=1,
        incoming=2,
        outgoing=2,
        first=timed(1, 234000.0, 234000.0, 7200.0, 7200.0),
        reply=timed(1, 1800.0, 1800.0, 1800.0, 1800.0),
    )
    team = (await report(gql, s.admin, dimension="TEAM", id=s.ids["team"]))["summary"]
    assert (
        team["conversationsOpened"] == 2 and team["conversationsResolved"] == 3 and team["conversationsReopened"] == 1
    )
    assert team["resolutionTime"] == RESOLUTION
    billing = (await report(gql, s.admin, dimension="LABEL", id=s.ids["billing"]))["summary"]
    assert billing == metrics(
        opened=1,
        resolved=2,
        reopened=1,
        incoming=3,
        outgoing=3,
        first=timed(1, 7200.0, 7200.0, 3600.0, 3600.0),
        reply=timed(2, 34200.0, 34200.0, 5400.0, 5400.0),
        resolution=timed(2, 144000.0, 144000.0, 54000.0, 54000.0),
    )
    rows = (await gql.data(SUMMARIES, {"i": {"dimension": "AGENT", **WEEK}}, headers=s.admin.headers()))[
        "reportSummaries"
    ]
    by_id = {r["id"]: r["metrics"] for r in rows}
    assert set(by_id) == {s.ids["admin"], s.ids["agent"]}
    assert by_id[s.ids["admin"]] == admin
    agent = by_id[s.ids["agent"]]
    # The agent: replies in conversation one (Wed) and two, the first response of two, and holds two and three.
    assert agent == metrics(
        opened=2,
        resolved=1,
        incoming=3,
        outgoing=3,
        first=timed(1, 234000.0, 234000.0, 7200.0, 7200.0),
        reply=timed(2, 2700.0, 2700.0, 2700.0, 2700.0),
        resolution=timed(1, 3600.0, 3600.0, 0.0, 0.0),
    )
    labels = (await gql.data(SUMMARIES, {"i": {"dimension": "LABEL", **WEEK}}, headers=s.admin.headers()))[
        "reportSummaries"
    ]
    assert [(r["name"], r["metrics"]["conversationsOpened"]) for r in labels] == [("billing", 1), ("vip", 1)]
    assert labels[0]["metrics"] == billing


async def test_bad_ranges_and_foreign_ids_are_refused(gql, smtp, db_engine):
    admin = await signup(gql, account="Ranges")
    body = await gql.execute(REPORT, {"i": {"since": "2026-02-01", "until": "2026-01-01"}}, headers=admin.headers())
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]
    assert body["errors"][0]["message"] == "The range ends before it starts."
    body = await gql.execute(REPORT, {"i": {"since": "2020-01-01", "until": "2026-01-01"}}, headers=admin.headers())
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]
    other = await signup(gql, account="Other")
    inbox = await _inbox(gql, other, "Theirs", "UTC", WEEKDAYS)
    body = await gql.execute(REPORT, {"i": {**WEEK, "dimension": "INBOX", "id": inbox}}, headers=admin.headers())
    assert [e["extensions"]["code"] for e in body["errors"]] == ["NOT_FOUND"]
    created = await gql.data(
        """mutation { reportExportCreate(input: {kind: OVERVIEW, since: "2026-02-01", until: "2026-01-01"})
      { reportExport { id } errors { field code message } } }""",
        headers=admin.headers(),
    )
    assert created["reportExportCreate"] == {
        "reportExport": None,
        "errors": [{"field": "until", "code": "INVALID_RANGE", "message": "The range ends before it starts."}],
    }


async def test_an_agent_without_report_manage_is_refused_and_a_custom_role_with_it_is_not(gql, smtp):
    admin = await signup(gql, account="Roles")
    agent = await add_agent(gql, admin, smtp)
    for document, variables in (
        (REPORT, {"i": WEEK}),
        ("{ reportLive { open } }", None),
        (SUMMARIES, {"i": {"dimension": "AGENT", **WEEK}}),
        ('query { csatSummary(input: {since: "2026-01-01", until: "2026-01-02"}) { responseCount } }', None),
        (
            'mutation { reportExportCreate(input: {kind: OVERVIEW, since: "2026-01-01", until: "2026-01-02"}) '
            "{ errors { code } } }",
            None,
        ),
    ):
        body = await gql.execute(document, variables, headers=agent.headers())
        assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"], body
        assert body["errors"][0]["message"] == "Requires the report_manage permission"
    role = await gql.data(
        'mutation { customRoleCreate(input: {name: "Leads", permissions: [REPORT_MANAGE]}) { customRole { id } } }',
        headers=admin.headers(),
    )
    lead = await add_agent(gql, admin, smtp, custom_role_id=role["customRoleCreate"]["customRole"]["id"])
    body = await gql.execute(REPORT, {"i": WEEK}, headers=lead.headers())
    assert "errors" not in body and body["data"]["report"]["summary"]["conversationsOpened"] == 0


async def wait_for(predicate, timeout: float = 20.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.2)


async def test_the_worker_records_a_conversation_driven_through_graphql(gql, smtp, db_engine):
    desk = await build_desk(gql, smtp)
    conv = await desk.new_conversation("Where is my order?")
    reply = f"""mutation($c: ID!) {{ messageCreate(input: {{conversationId: $c, content: "On its way"}}) {{ message {{ id }} {ERR} }} }}"""
    note = f"""mutation($c: ID!) {{ messageCreate(input: {{conversationId: $c, content: "check", private: true}}) {{ message {{ id }} {ERR} }} }}"""
    status = f"""mutation($c: ID!, $s: ConversationStatus!) {{ conversationStatusUpdate(id: $c, input: {{status: $s}}) {{ {ERR} }} }}"""
    assert (await desk.data(desk.agent, reply, {"c": conv["id"]}))["messageCreate"]["errors"] == []
    assert (await desk.data(desk.agent, note, {"c": conv["id"]}))["messageCreate"]["errors"] == []
    assert (await desk.data(desk.agent, status, {"c": conv["id"], "s": "RESOLVED"}))["conversationStatusUpdate"][
        "errors"
    ] == []
    await desk.incoming(conv["id"], "Not here yet")  # reopens it
    assert (await desk.data(desk.agent, reply, {"c": conv["id"]}))["messageCreate"]["errors"] == []
    assert (await desk.data(desk.agent, status, {"c": conv["id"], "s": "RESOLVED"}))["conversationStatusUpdate"][
        "errors"
    ] == []

    async def recorded():
        async with db_engine.connect() as c:
            rows = (await c.execute(text("SELECT name, count(*) FROM reporting_events GROUP BY name"))).all()
        names = dict(rows)
        return names if names.get("conversation_resolved") == 2 and names.get("reply_time") == 1 else None

    names = await wait_for(recorded)
    assert names == {
        "conversation_opened": 1,
        "incoming_message": 2,
        "outgoing_message": 2,
        "first_response": 1,
        "reply_time": 1,
        "conversation_resolved": 2,
        "conversation_reopened": 1,
    }
    today = datetime.now(UTC).date().isoformat()
    yesterday = (datetime.now(UTC).date().fromordinal(datetime.now(UTC).date().toordinal() - 1)).isoformat()
    body = await gql.data(REPORT, {"i": {"since": yesterday, "until": today}}, headers=desk.admin.headers())
    summary = body["report"]["summary"]
    assert (
        summary["conversationsOpened"],
        summary["conversationsResolved"],
        summary["conversationsReopened"],
        summary["incomingMessages"],
        summary["outgoingMessages"],
    ) == (1, 2, 1, 2, 2)
    assert summary["firstResponse"]["count"] == 1 and summary["firstResponse"]["average"] >= 0
    assert summary["firstResponse"]["averageBusinessHours"] == 0.0  # working hours are off on this inbox
    agent_rows = (
        await gql.data(
            SUMMARIES, {"i": {"dimension": "AGENT", "since": yesterday, "until": today}}, headers=desk.admin.headers()
        )
    )["reportSummaries"]
    by_id = {r["id"]: r["metrics"] for r in agent_rows}
    assert by_id[desk.user_ids["agent"]]["outgoingMessages"] == 2
    assert by_id[desk.user_ids["outsider"]]["outgoingMessages"] == 0


async def test_live_counts_and_agent_status(gql, smtp, db_engine, server):
    desk = await build_desk(gql, smtp)
    first = await desk.new_conversation("one")
    await desk.new_conversation("two")
    third = await desk.new_conversation("three")
    await desk.data(
        desk.agent,
        f"""mutation($c: ID!) {{ messageCreate(input: {{conversationId: $c, content: "hi"}}) {{ {ERR} }} }}""",
        {"c": first["id"]},
    )
    await desk.data(
        desk.agent,
        f"""mutation($c: ID!, $a: ID) {{ conversationAssign(id: $c, input: {{assigneeId: $a}}) {{ {ERR} }} }}""",
        {"c": first["id"], "a": desk.user_ids["agent"]},
    )
    await desk.data(
        desk.agent,
        f"""mutation($c: ID!) {{ conversationStatusUpdate(id: $c, input: {{status: PENDING}}) {{ {ERR} }} }}""",
        {"c": third["id"]},
    )
    live = (
        await gql.data(
            "{ reportLive { open unattended unassigned pending agentStatus { online busy offline } } }",
            headers=desk.admin.headers(),
        )
    )["reportLive"]
    # Open: one (answered, assigned) and two (unanswered, unassigned); three is pending.
    assert live == {
        "open": 2,
        "unattended": 1,
        "unassigned": 1,
        "pending": 1,
        "agentStatus": {"online": 0, "busy": 0, "offline": 3},
    }
    by_inbox = await gql.data(
        "query($i: ID) { reportLive(input: {inboxId: $i}) { open } }",
        {"i": desk.inbox_id},
        headers=desk.admin.headers(),
    )
    assert by_inbox["reportLive"]["open"] == 2

    # An agent with Parley open counts as online; choosing busy moves them there.
    from tests.support.gql import SubscriptionSocket

    async with SubscriptionSocket(
        server.ws_url, payload={"token": desk.agent.access, "accountId": desk.agent.account_id}
    ):
        status = "{ reportLive { agentStatus { online busy offline } } }"
        live = (await gql.data(status, headers=desk.admin.headers()))["reportLive"]
        assert live["agentStatus"] == {"online": 1, "busy": 0, "offline": 2}
        await desk.data(desk.agent, "mutation { availabilitySet(input: {availability: BUSY}) { errors { code } } }")
        live = (await gql.data(status, headers=desk.admin.headers()))["reportLive"]
        assert live["agentStatus"] == {"online": 0, "busy": 1, "offline": 2}


def test_agent_status_counts_reads_a_presence_mapping():
    from domain.reports.live import agent_status_counts

    counts = agent_status_counts([1, 2, 3, 4], {1: "online", 2: "busy", 3: "online", 99: "online", 4: "weird"})
    assert (counts.online, counts.busy, counts.offline) == (2, 1, 1)


async def test_csat_summary(gql, smtp, db_engine):
    desk = await build_desk(gql, smtp)
    conv = await desk.new_conversation()
    account = decode_id((await desk.data(desk.admin, "{ account { id } }"))["account"]["id"], "Account")
    conv_pk = decode_id(conv["id"], "Conversation")
    async with db_engine.begin() as c:
        for rating, when in (
            (5, "2026-03-01 12:00"),
            (4, "2026-03-02 12:00"),
            (5, "2026-03-03 12:00"),
            (1, "2026-03-04 12:00"),
            (3, "2026-04-01 12:00"),
        ):
            await c.execute(
                text(
                    "INSERT INTO csat_responses (account_id, conversation_id, rating, feedback, created_at) "
                    "VALUES (:a, :c, :r, '', :t)"
                ),
                {"a": account, "c": conv_pk, "r": rating, "t": at(when)},
            )
    body = await gql.data(
        """{ csatSummary(input: {since: "2026-03-01", until: "2026-03-31"}) {
      responseCount averageRating distribution { rating count } } }""",
        headers=desk.admin.headers(),
    )
    assert body["csatSummary"] == {
        "responseCount": 4,
        "averageRating": 3.75,
        "distribution": [
            {"rating": 1, "count": 1},
            {"rating": 2, "count": 0},
            {"rating": 3, "count": 0},
            {"rating": 4, "count": 1},
            {"rating": 5, "count": 2},
        ],
    }


EXPORT = """query($id: ID!) { reportExport(id: $id) { id status rowCount downloadUrl kind requester { email } } }"""


async def _export(gql, who: Member, **input_) -> dict:
    created = await gql.data(
        """mutation($i: ReportExportCreateInput!) { reportExportCreate(input: $i) {
      reportExport { id status } errors { field code message } } }""",
        {"i": input_},
        headers=who.headers(),
    )
    payload = created["reportExportCreate"]
    assert payload["errors"] == [] and payload["reportExport"]["status"] == "PENDING", payload

    async def done():
        body = await gql.data(EXPORT, {"id": payload["reportExport"]["id"]}, headers=who.headers())
        return body["reportExport"] if body["reportExport"]["status"] in ("DONE", "FAILED") else None

    return await wait_for(done)


async def _download(url: str, server) -> list[dict]:
    # The shared test server leaves the public URL at its default; its signed links hold for any host.
    url = server.url.rstrip("/") + "/" + url.split("/", 3)[3]
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.text)))


def _as_metrics(row: dict) -> dict:
    def num(key):
        return None if row[key] == "" else float(row[key])

    def tm(prefix):
        return timed(
            int(row[f"{prefix}_count"]),
            num(f"{prefix}_average"),
            num(f"{prefix}_median"),
            num(f"{prefix}_average_business_hours"),
            num(f"{prefix}_median_business_hours"),
        )

    return metrics(
        int(row["conversations_opened"]),
        int(row["conversations_resolved"]),
        int(row["conversations_reopened"]),
        int(row["incoming_messages"]),
        int(row["outgoing_messages"]),
        tm("first_response"),
        tm("reply_time"),
        tm("resolution_time"),
    )


async def test_export_writes_a_csv_that_reads_back_as_the_query(gql, smtp, server, db_engine):
    s = await build_scenario(gql, smtp, db_engine)
    export = await _export(gql, s.admin, kind="OVERVIEW", since=WEEK["since"], until=WEEK["until"], groupBy="DAY")
    assert export["status"] == "DONE" and export["rowCount"] == 7 and export["requester"]["email"] == s.admin.email
    rows = await _download(export["downloadUrl"], server)
    queried = await report(gql, s.admin, groupBy="DAY")
    assert {r["period_start"]: _as_metrics(r) for r in rows} == {b["start"]: b["metrics"] for b in queried["series"]}
    agents = await _export(gql, s.admin, kind="AGENTS", since=WEEK["since"], until=WEEK["until"])
    rows = await _download(agents["downloadUrl"], server)
    summaries = (await gql.data(SUMMARIES, {"i": {"dimension": "AGENT", **WEEK}}, headers=s.admin.headers()))[
        "reportSummaries"
    ]
    assert [(r["name"], _as_metrics(r)) for r in rows] == [(r["name"], r["metrics"]) for r in summaries]
    # The raw events stream in batches (23 events here: 13 of conversation one, 7 of two, 3 of three).
    raw = await _export(gql, s.admin, kind="EVENTS", since=WEEK["since"], until=WEEK["until"])
    events = await _download(raw["downloadUrl"], server)
    assert raw["rowCount"] == len(events) == 23
    assert sorted(float(e["value"]) for e in events if e["name"] == "reply_time") == [1800.0, 3600.0, 64800.0]
    # The completion is in the event log for the requester's notification.
    async with db_engine.connect() as c:
        completed = (
            (await c.execute(text("SELECT payload FROM events WHERE type = 'report_export.completed' ORDER BY id")))
            .scalars()
            .all()
        )
    assert [p["export_id"] for p in completed] == [decode_id(e["id"], "ReportExport") for e in (export, agents, raw)]
    assert {p["user_id"] for p in completed} == {s.pks["admin"]}
    # Only the requester (or an administrator) sees an export.
    body = await gql.execute(EXPORT, {"id": export["id"]}, headers=s.agent.headers())
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]


@pytest.mark.parametrize("agents", [2, 6])
async def test_report_summaries_make_a_constant_number_of_statements(agents, gql, smtp, server, db_engine):
    from tests.test_query_counts import count_statements

    admin = await signup(gql, account="Counts")
    for _ in range(agents - 1):
        await add_agent(gql, admin, smtp)
    with count_statements(server.app.state.services.engine) as statements:
        rows = (await gql.data(SUMMARIES, {"i": {"dimension": "AGENT", **WEEK}}, headers=admin.headers()))[
            "reportSummaries"
        ]
    assert len(rows) == agents
    # Actor, account time zone, members, roll-ups, medians.
    assert 3 <= len(statements) <= 7, statements
