"""Tenancy-walk probes of the website widget's API. Agent credentials are nobody to the widget fields
(Rule.widget accepts only a contact session), so A's administrator naming B's widget conversation is
refused outright; what one contact session may read of another is tested in tests/test_widget.py."""

from __future__ import annotations

from tests.probes.base import PAYLOAD_ERRORS, Probe

MSG = "id content senderName"


async def setup_b(gql, world) -> None:
    h = world.admin_b.headers()
    inbox = await gql.data(
        """mutation { inboxCreate(input: {name: "B site", channelType: WEB_WIDGET}) {
      inbox { id websiteToken } } }""",
        headers=h,
    )
    token = inbox["inboxCreate"]["inbox"]["websiteToken"]
    started = await gql.data(
        "mutation($w: String!) { widgetSessionStart(input: {websiteToken: $w}) { token } }", {"w": token}
    )
    visitor = {"Authorization": f"Bearer {started['widgetSessionStart']['token']}"}
    sent = await gql.data(
        'mutation { widgetMessageCreate(input: {content: "B\'s visitor"}) { conversation { id } } }', headers=visitor
    )
    world.b["widget_inbox"] = inbox["inboxCreate"]["inbox"]["id"]
    world.b["widget_conversation"] = sent["widgetMessageCreate"]["conversation"]["id"]


def _conv(w) -> dict:
    return {"c": w.b["widget_conversation"]}


PROBES: dict[str, Probe | str] = {
    "widgetConfig": "public: takes an inbox's public website token and returns only that widget's public settings "
    "(colour, texts, hours, whether agents are online), no ID of anything; agent credentials play no part",
    "widgetSessionStart": "public: starts a visitor session on the widget the website token names; the token it returns "
    "is scoped to that one inbox and visitor, and a session token of another inbox is refused "
    "(tests/test_widget.py)",
    "widgetContact": Probe("{ widgetContact { name email } }", inside_a="FORBIDDEN"),
    "widgetConversations": Probe("{ widgetConversations { id status } }", inside_a="FORBIDDEN"),
    "widgetMessages": Probe(
        f"query($c: ID!) {{ widgetMessages(conversationId: $c) {{ nodes {{ {MSG} }} }} }}", _conv, inside_a="FORBIDDEN"
    ),
    "widgetMessageCreate": Probe(
        f'mutation($c: ID) {{ widgetMessageCreate(input: {{conversationId: $c, content: "x"}}) {{ message {{ id }} {PAYLOAD_ERRORS} }} }}',
        _conv,
        inside_a="FORBIDDEN",
    ),
    "widgetContactUpdate": Probe(
        f'mutation {{ widgetContactUpdate(input: {{name: "x"}}) {{ contact {{ name }} {PAYLOAD_ERRORS} }} }}',
        inside_a="FORBIDDEN",
    ),
    "widgetTypingSet": Probe(
        f"mutation($c: ID!) {{ widgetTypingSet(input: {{conversationId: $c, on: true}}) {{ accepted {PAYLOAD_ERRORS} }} }}",
        _conv,
        inside_a="FORBIDDEN",
    ),
    "widgetCsatSubmit": Probe(
        f"mutation($c: ID!) {{ widgetCsatSubmit(input: {{conversationId: $c, rating: 1}}) {{ conversation {{ id }} {PAYLOAD_ERRORS} }} }}",
        _conv,
        inside_a="FORBIDDEN",
    ),
}
PROBES["widgetAttachmentUploadCreate"] = Probe(
    f'mutation {{ widgetAttachmentUploadCreate(input: {{fileName: "a.png", contentType: "image/png", byteSize: 10}}) {{ attachment {{ id }} {PAYLOAD_ERRORS} }} }}',
    inside_a="FORBIDDEN",
)
