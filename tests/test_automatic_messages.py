"""Automatic messages end to end, with the server's worker and scheduler running: the greeting on a
new widget conversation, the out-of-office reply once outside working hours (never within), auto-resolve
of idle conversations only, and the CSAT survey on resolve, answered in the widget and through the
emailed link, landing in the CSAT report."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text

from schema.core.ids import decode_id
from tests.support.accounts import Member, signup
from tests.support.desk import ERR, Desk, build_desk
from tests.test_widget import CSAT, MESSAGES, START, Visitor

SEND = f"""mutation($i: WidgetMessageCreateInput!) {{ widgetMessageCreate(input: $i) {{
  message {{ id }} conversation {{ id status }} {ERR} }} }}"""
WIDGET_MESSAGES = MESSAGES.replace("deleted }", "deleted contentType }")
CONVERSATION_MESSAGES = """query($id: ID!) { conversation(id: $id) { status
  messages(first: 50) { edges { node { content messageType senderType contentAttributes } } } } }"""
AUTO_RESOLVE = f"""mutation($m: Int, $t: String) {{ autoResolveSettingsUpdate(input: {{afterMinutes: $m, message: $t}}) {{
  settings {{ afterMinutes message }} {ERR} }} }}"""
CSAT_SUMMARY = """query($s: Date!, $u: Date!) { csatSummary(input: {since: $s, until: $u}) {
  responseCount averageRating distribution { rating count } } }"""
STATUS = f"""mutation($id: ID!, $s: ConversationStatus!) {{
  conversationStatusUpdate(id: $id, input: {{status: $s}}) {{ conversation {{ status }} {ERR} }} }}"""
CLOSED_ALL_WEEK = [{"dayOfWeek": d, "closedAllDay": True} for d in range(7)]
OPEN_ALL_WEEK = [{"dayOfWeek": d, "openAllDay": True} for d in range(7)]


async def widget_inbox(gql, admin: Member, **settings) -> tuple[str, str]:
    body = await gql.data(
        f"""mutation($s: InboxSettingsInput) {{ inboxCreate(input: {{name: "Website", channelType: WEB_WIDGET, settings: $s}}) {{
      inbox {{ id websiteToken greetingEnabled greetingMessage outOfOfficeMessage csatSurveyEnabled }} {ERR} }} }}""",
        {"s": settings},
        headers=admin.headers(),
    )
    assert body["inboxCreate"]["errors"] == [], body
    inbox = body["inboxCreate"]["inbox"]
    return inbox["id"], inbox["websiteToken"]


async def visitor(gql, website_token: str) -> Visitor:
    started = (await gql.data(START, {"i": {"websiteToken": website_token}}))["widgetSessionStart"]
    assert started["errors"] == [], started
    return Visitor(gql, started["token"])


async def send(v: Visitor, content: str, conversation_id: str | None = None) -> str:
    body = (await v.data(SEND, {"i": {"content": content, "conversationId": conversation_id}}))["widgetMessageCreate"]
    assert body["errors"] == [], body
    return body["conversation"]["id"]


async def seen_by_visitor(v: Visitor, conversation_id: str) -> list[tuple[str, str, str]]:
    body = await v.data(WIDGET_MESSAGES, {"c": conversation_id, "a": None})
    return [
        (e["node"]["messageType"], e["node"]["content"], e["node"]["contentType"])
        for e in body["widgetMessages"]["edges"]
    ]


async def update_inbox(gql, admin: Member, inbox_id: str, **settings) -> None:
    body = await gql.data(
        f"""mutation($id: ID!, $s: InboxSettingsInput) {{ inboxUpdate(id: $id, input: {{settings: $s}}) {{
      inbox {{ id }} {ERR} }} }}""",
        {"id": inbox_id, "s": settings},
        headers=admin.headers(),
    )
    assert body["inboxUpdate"]["errors"] == [], body


# --- greeting and out of office ------------------------------------------------------------------------------


async def test_a_new_widget_conversation_is_greeted_once(gql):
    admin = await signup(gql, account="Shop")
    inbox_id, token = await widget_inbox(
        gql, admin, greetingEnabled=True, greetingMessage="Hi! We usually answer within an hour."
    )
    v = await visitor(gql, token)
    conv = await send(v, "Is my order on its way?")
    await send(v, "It is order 1234", conv)
    assert await seen_by_visitor(v, conv) == [
        ("INCOMING", "Is my order on its way?", "text"),
        ("TEMPLATE", "Hi! We usually answer within an hour.", "text"),
        ("INCOMING", "It is order 1234", "text"),
    ]
    agents = await gql.data(CONVERSATION_MESSAGES, {"id": conv}, headers=admin.headers())
    greeting = [
        m["node"] for m in agents["conversation"]["messages"]["edges"] if m["node"]["messageType"] == "TEMPLATE"
    ]
    assert greeting == [
        {
            "content": "Hi! We usually answer within an hour.",
            "messageType": "TEMPLATE",
            "senderType": "SYSTEM",
            "contentAttributes": {"automatic": "greeting"},
        }
    ]
    # Turned off: the next visitor is not greeted.
    await update_inbox(gql, admin, inbox_id, greetingEnabled=False)
    other = await visitor(gql, token)
    second = await send(other, "Hello?")
    assert await seen_by_visitor(other, second) == [("INCOMING", "Hello?", "text")]


async def test_out_of_office_once_outside_working_hours_and_never_within(gql):
    admin = await signup(gql, account="Shop")
    inbox_id, token = await widget_inbox(
        gql,
        admin,
        workingHoursEnabled=True,
        workingHours=CLOSED_ALL_WEEK,
        outOfOfficeMessage="We are away; we answer from Monday 9:00.",
    )
    v = await visitor(gql, token)
    conv = await send(v, "Anyone there?")
    await send(v, "Hello?", conv)
    await send(v, "Please", conv)
    assert await seen_by_visitor(v, conv) == [
        ("INCOMING", "Anyone there?", "text"),
        ("TEMPLATE", "We are away; we answer from Monday 9:00.", "text"),
        ("INCOMING", "Hello?", "text"),
        ("INCOMING", "Please", "text"),
    ]
    # Within working hours nobody is told the team is away.
    await update_inbox(gql, admin, inbox_id, workingHours=OPEN_ALL_WEEK)
    other = await visitor(gql, token)
    second = await send(other, "Good morning")
    await send(v, "Back again", conv)
    assert await seen_by_visitor(other, second) == [("INCOMING", "Good morning", "text")]
    assert [m for m in await seen_by_visitor(v, conv) if m[0] == "TEMPLATE"] == [
        ("TEMPLATE", "We are away; we answer from Monday 9:00.", "text")
    ]


# --- auto-resolve ------------------------------------------------------------------------------------------


@pytest.fixture
async def desk(gql, smtp) -> Desk:
    return await build_desk(gql, smtp)


async def test_auto_resolve_settings_are_checked_and_for_administrators(desk: Desk):
    for minutes, message, code, field in (
        (5, None, "OUT_OF_RANGE", "afterMinutes"),
        (60, "x" * 2001, "TOO_LONG", "message"),
    ):
        body = await desk.data(desk.admin, AUTO_RESOLVE, {"m": minutes, "t": message})
        assert body["autoResolveSettingsUpdate"]["settings"] is None
        assert [(e["field"], e["code"]) for e in body["autoResolveSettingsUpdate"]["errors"]] == [(field, code)]
    refused = await desk.run(desk.agent, AUTO_RESOLVE, {"m": 60, "t": None})
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    unchanged = await desk.data(desk.agent, "{ autoResolveSettings { afterMinutes message } }")
    assert unchanged["autoResolveSettings"] == {"afterMinutes": None, "message": ""}
    ok = await desk.data(desk.admin, AUTO_RESOLVE, {"m": 2 * 24 * 60, "t": "Closing this for now."})
    assert ok["autoResolveSettingsUpdate"] == {
        "settings": {"afterMinutes": 2880, "message": "Closing this for now."},
        "errors": [],
    }
    off = await desk.data(desk.admin, AUTO_RESOLVE, {"m": None, "t": None})
    assert off["autoResolveSettingsUpdate"]["settings"] == {"afterMinutes": None, "message": "Closing this for now."}


async def idle_for(db_engine, conversation_id: str, minutes: int) -> None:
    async with db_engine.begin() as conn:
        await conn.execute(
            text("UPDATE conversations SET last_activity_at = :t WHERE id = :id"),
            {"t": datetime.now(UTC) - timedelta(minutes=minutes), "id": decode_id(conversation_id, "Conversation")},
        )


async def wait_status(desk: Desk, conversation_id: str, status: str, timeout: float = 15) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        body = await desk.data(desk.admin, CONVERSATION_MESSAGES, {"id": conversation_id})
        if body["conversation"]["status"] == status or asyncio.get_running_loop().time() > deadline:
            return body["conversation"]
        await asyncio.sleep(0.2)


async def test_auto_resolve_resolves_an_idle_conversation_and_not_an_active_one(desk: Desk, db_engine):
    idle = await desk.new_conversation("Where is my parcel?")
    active = await desk.new_conversation("And my other parcel?")
    ok = await desk.data(desk.admin, AUTO_RESOLVE, {"m": 60, "t": "We closed this after a quiet hour."})
    assert ok["autoResolveSettingsUpdate"]["errors"] == []
    await idle_for(db_engine, idle["id"], 61)
    await idle_for(db_engine, active["id"], 30)
    resolved = await wait_status(desk, idle["id"], "RESOLVED")
    assert resolved["status"] == "RESOLVED"
    contents = [(m["node"]["messageType"], m["node"]["content"]) for m in resolved["messages"]["edges"]]
    assert contents[:3] == [  # newest first
        ("ACTIVITY", "Conversation was marked resolved by system due to 1 hour of inactivity"),
        ("TEMPLATE", "We closed this after a quiet hour."),
        ("INCOMING", "Where is my parcel?"),
    ]
    await asyncio.sleep(1.5)  # more passes
    still = await desk.data(desk.admin, CONVERSATION_MESSAGES, {"id": active["id"]})
    assert still["conversation"]["status"] == "OPEN"
    async with db_engine.connect() as conn:
        events = (
            await conn.execute(
                text(
                    "SELECT conversation_id, payload ->> 'reason' FROM events WHERE type = 'conversation.status_changed'"
                )
            )
        ).all()
        reported = await conn.scalar(
            text("SELECT count(*) FROM reporting_events WHERE name = 'conversation_resolved' AND conversation_id = :c"),
            {"c": decode_id(idle["id"], "Conversation")},
        )
    assert [tuple(e) for e in events] == [(decode_id(idle["id"], "Conversation"), "auto_resolved")]
    for _ in range(50):  # the reports consumer records the resolution like any other
        if reported:
            break
        await asyncio.sleep(0.2)
        async with db_engine.connect() as conn:
            reported = await conn.scalar(
                text(
                    "SELECT count(*) FROM reporting_events WHERE name = 'conversation_resolved' AND conversation_id = :c"
                ),
                {"c": decode_id(idle["id"], "Conversation")},
            )
    assert reported == 1


# --- CSAT survey ----------------------------------------------------------------------------------------------


def today_range() -> dict:
    day = datetime.now(UTC).date()
    return {"s": (day - timedelta(days=1)).isoformat(), "u": (day + timedelta(days=1)).isoformat()}


async def test_csat_survey_in_the_widget_on_resolve_once_and_in_the_report(gql):
    admin = await signup(gql, account="Shop")
    inbox_id, token = await widget_inbox(gql, admin, csatSurveyEnabled=True)
    v = await visitor(gql, token)
    conv = await send(v, "My invoice is wrong")
    resolved = await gql.data(STATUS, {"id": conv, "s": "RESOLVED"}, headers=admin.headers())
    assert resolved["conversationStatusUpdate"]["errors"] == []
    seen = await seen_by_visitor(v, conv)
    assert seen[-1] == ("TEMPLATE", "Please rate the conversation", "input_csat")
    answered = await v.data(CSAT, {"c": conv, "r": 4, "f": "Quick and kind"})
    assert answered["widgetCsatSubmit"] == {"conversation": {"id": conv, "csatRating": 4}, "errors": []}
    # Reopened by the visitor and resolved again: no second survey.
    await send(v, "One more thing", conv)
    await gql.data(STATUS, {"id": conv, "s": "RESOLVED"}, headers=admin.headers())
    assert [m for m in await seen_by_visitor(v, conv) if m[2] == "input_csat"] == [
        ("TEMPLATE", "Please rate the conversation", "input_csat")
    ]
    agents = await gql.data(CONVERSATION_MESSAGES, {"id": conv}, headers=admin.headers())
    survey = next(
        m["node"] for m in agents["conversation"]["messages"]["edges"] if m["node"]["messageType"] == "TEMPLATE"
    )
    assert survey["contentAttributes"]["submitted_values"] == {
        "csat_survey_response": {"rating": 4, "feedback_message": "Quick and kind"}
    }
    report = await gql.data(CSAT_SUMMARY, today_range(), headers=admin.headers())
    assert report["csatSummary"]["responseCount"] == 1 and report["csatSummary"]["averageRating"] == 4.0
    # An inbox without the setting sends none.
    _, quiet_token = await widget_inbox(gql, admin)
    q = await visitor(gql, quiet_token)
    quiet = await send(q, "Thanks")
    await gql.data(STATUS, {"id": quiet, "s": "RESOLVED"}, headers=admin.headers())
    assert await seen_by_visitor(q, quiet) == [("INCOMING", "Thanks", "text")]


async def test_csat_survey_by_email_link_answered_once_on_the_public_page(desk: Desk, smtp, server):
    body = await desk.data(
        desk.admin,
        f"""mutation {{ inboxCreate(input: {{name: "Support", channelType: EMAIL,
      channelConfig: {{email: "support@shop.test"}}, settings: {{csatSurveyEnabled: true}}}}) {{ inbox {{ id csatSurveyEnabled }} {ERR} }} }}""",
    )
    assert body["inboxCreate"]["inbox"]["csatSurveyEnabled"] is True
    inbox_id = body["inboxCreate"]["inbox"]["id"]
    created = await desk.data(
        desk.admin,
        f"""mutation($i: ID!, $c: ID!) {{ conversationCreate(input: {{inboxId: $i, contactId: $c, message: "Your refund is on its way"}}) {{
      conversation {{ id displayId }} {ERR} }} }}""",
        {"i": inbox_id, "c": desk.contact_id},
    )
    conv = created["conversationCreate"]["conversation"]
    smtp.clear()
    resolved = await desk.data(desk.admin, STATUS, {"id": conv["id"], "s": "RESOLVED"})
    assert resolved["conversationStatusUpdate"]["errors"] == []
    mail = await asyncio.to_thread(smtp.wait_for, "carla@example.test", 15, "How did we do?")
    assert str(mail["Subject"]) == f"[#{conv['displayId']}] How did we do?"
    assert "support@shop.test" in str(mail["From"])
    found = re.search(r"(http://\S+/survey/([0-9]+\.[0-9a-f]+))", smtp.text_of(mail))
    assert found, smtp.text_of(mail)
    link, token = found.group(1), found.group(2)
    assert link.endswith(f"/survey/{token}")  # under the installation's public URL

    async with httpx.AsyncClient(base_url=server.url, timeout=15) as http:
        page = await http.get(f"/survey/{token}")
        assert page.status_code == 200 and 'name="rating"' in page.text and f"#{conv['displayId']}" in page.text
        forged = token[:-1] + ("0" if token[-1] != "0" else "1")
        assert (await http.get(f"/survey/{forged}")).status_code == 404
        other_conversation = f"{int(token.split('.')[0]) + 1}.{token.split('.')[1]}"
        assert (await http.post(f"/survey/{other_conversation}", data={"rating": "5"})).status_code == 404
        bad = await http.post(f"/survey/{token}", data={"rating": "9", "feedback": ""})
        assert bad.status_code == 422 and "Rate from 1 to 5." in bad.text
        ok = await http.post(f"/survey/{token}", data={"rating": "2", "feedback": "Took <b>too</b> long"})
        assert ok.status_code == 200 and "You rated this conversation 2 out of 5." in ok.text
        again = await http.post(f"/survey/{token}", data={"rating": "5", "feedback": "changed my mind"})
        assert again.status_code == 409
        shown = await http.get(f"/survey/{token}")
        assert shown.status_code == 200 and "2 out of 5" in shown.text and 'name="rating"' not in shown.text

    report = await desk.data(desk.admin, CSAT_SUMMARY, today_range())
    assert report["csatSummary"]["responseCount"] == 1
    assert {d["rating"]: d["count"] for d in report["csatSummary"]["distribution"]}[2] == 1
    messages = await desk.data(desk.admin, CONVERSATION_MESSAGES, {"id": conv["id"]})
    survey = [
        m["node"] for m in messages["conversation"]["messages"]["edges"] if m["node"]["messageType"] == "TEMPLATE"
    ]
    assert len(survey) == 1
    assert survey[0]["contentAttributes"]["content_type"] == "input_csat"
    assert survey[0]["contentAttributes"]["emailed"] is True
    assert survey[0]["contentAttributes"]["submitted_values"]["csat_survey_response"] == {
        "rating": 2,
        "feedback_message": "Took <b>too</b> long",
    }
