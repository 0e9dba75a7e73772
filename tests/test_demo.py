"""The demo a newcomer sees first: `parley serve --demo` on the embedded default, queried over HTTP as
the demo agents it prints, shows a helpdesk with weeks of history on every channel."""

from __future__ import annotations

import re
from datetime import date, timedelta

import httpx
import pytest

from tests.support.gql import GraphQLHTTP
from tests.support.server import ProcessServer

LOGIN = re.compile(r"^\s+(administrator|agent)\s+(\S+@\S+)\s+password: (\S+)$", re.M)
ERR = "errors { field code message }"


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory):
    data = tmp_path_factory.mktemp("parley-demo")
    with ProcessServer({"PARLEY_DATA_DIR": str(data), "PARLEY_LOG_LEVEL": "WARNING"}, args=("--demo",)) as live:
        yield live


async def _login(base_url: str, email: str, password: str) -> GraphQLHTTP:
    anon = GraphQLHTTP(base_url)
    try:
        payload = (
            await anon.data(
                f"mutation($i: LoginInput!) {{ login(input: $i) {{ tokens {{ accessToken }} {ERR} }} }}",
                {"i": {"email": email, "password": password}},
            )
        )["login"]
    finally:
        await anon.aclose()
    assert payload["errors"] == []
    return GraphQLHTTP(base_url, headers={"Authorization": f"Bearer {payload['tokens']['accessToken']}"})


def _logins(server: ProcessServer) -> list[tuple[str, str, str]]:
    found = LOGIN.findall(server.read_output())
    assert [role for role, _, _ in found] == ["administrator", "agent", "agent"], server.read_output()
    return found


@pytest.mark.embedded
async def test_every_demo_agent_works_in_an_inbox(demo_server):
    for role, email, password in _logins(demo_server):
        client = await _login(demo_server.url, email, password)
        try:
            me = (await client.data("{ me { user { id } } }"))["me"]["user"]
            inboxes = (await client.data("{ inboxes { name channelType members { id } } }"))["inboxes"]
        finally:
            await client.aclose()
        mine = [i["name"] for i in inboxes if me["id"] in {m["id"] for m in i["members"]}]
        assert mine, f"{email} ({role}) belongs to no inbox"
        if role == "administrator":
            assert {i["channelType"] for i in inboxes} == {"API", "WEB_WIDGET", "EMAIL"}
            website = next(i for i in inboxes if i["channelType"] == "WEB_WIDGET")
            assert len(website["members"]) >= 2, "the widget inbox needs agents to answer it"


@pytest.mark.embedded
async def test_the_demo_agent_sees_conversations_labels_and_reports(demo_server):
    _, email, password = _logins(demo_server)[1]  # Alan, an agent
    client = await _login(demo_server.url, email, password)
    try:
        counts = (await client.data("{ conversationCounts { open pending resolved } }"))["conversationCounts"]
        page = (
            await client.data("""{ conversations(first: 100) { edges { node {
            status labels { title } assignee { email } inbox { channelType } messages(first: 50) { edges { node { private } } }
        } } } }""")
        )["conversations"]["edges"]
    finally:
        await client.aclose()
    _, admin_email, admin_password = _logins(demo_server)[0]
    admin = await _login(demo_server.url, admin_email, admin_password)  # reports need report_manage
    try:
        today = date.today()
        report = (
            await admin.data(
                """query($i: ReportInput!) { report(input: $i) { summary { conversationsOpened conversationsResolved
                incomingMessages outgoingMessages firstResponse { average } resolutionTime { average } }
                series { start metrics { conversationsOpened } } } }""",
                {
                    "i": {
                        "since": str(today - timedelta(days=40)),
                        "until": str(today + timedelta(days=1)),
                        "groupBy": "WEEK",
                    }
                },
            )
        )["report"]
    finally:
        await admin.aclose()

    # Alan works the API inbox and the website: a good share of the desk, in every state.
    assert counts["open"] >= 3 and counts["resolved"] >= 8, counts
    nodes = [e["node"] for e in page]
    assert len(nodes) >= 15, len(nodes)
    assert {n["inbox"]["channelType"] for n in nodes} == {"API", "WEB_WIDGET"}
    assert sum(1 for n in nodes if n["labels"]) >= 10
    assert {label["title"] for n in nodes for label in n["labels"]} >= {"billing", "bug"}
    assert any(n["assignee"] and n["assignee"]["email"] == email for n in nodes)
    assert any(m["node"]["private"] for n in nodes for m in n["messages"]["edges"]), "no private note"
    assert {n["status"] for n in nodes} >= {"OPEN", "RESOLVED"}

    summary = report["summary"]
    assert summary["conversationsOpened"] >= 30 and summary["conversationsResolved"] >= 15, summary
    assert summary["incomingMessages"] > 0 and summary["outgoingMessages"] > 0
    assert summary["firstResponse"]["average"] > 0 and summary["resolutionTime"]["average"] > 0
    # Spread over several weeks, not created in one burst.
    assert sum(1 for b in report["series"] if b["metrics"]["conversationsOpened"]) >= 3, report["series"]


@pytest.mark.embedded
async def test_the_demo_has_csat_ratings_and_a_live_widget(demo_server):
    _, email, password = _logins(demo_server)[0]
    client = await _login(demo_server.url, email, password)
    try:
        today = date.today()
        csat = (
            await client.data(
                "query($i: CsatSummaryInput!) { csatSummary(input: $i) { responseCount averageRating } }",
                {"i": {"since": str(today - timedelta(days=40)), "until": str(today + timedelta(days=1))}},
            )
        )["csatSummary"]
    finally:
        await client.aclose()
    assert csat["responseCount"] >= 10 and 1 <= csat["averageRating"] <= 5, csat

    token = re.search(r"/widget/demo\?token=(\S+)", demo_server.read_output()).group(1)
    async with httpx.AsyncClient(base_url=demo_server.url, timeout=30) as http:
        page = await http.get(f"/widget/demo?token={token}")
        assert page.status_code == 200 and 'rel="icon"' in page.text
        config = (
            await http.post(
                "/graphql",
                json={
                    "query": "query($w: String!) { widgetConfig(websiteToken: $w) { welcomeTitle welcomeTagline } }",
                    "variables": {"w": token},
                },
            )
        ).json()["data"]["widgetConfig"]
    assert config["welcomeTitle"] == "Hi there!"
