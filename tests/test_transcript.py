"""conversationTranscriptSend: an agent emails a conversation's public messages to an address through
the mail job path (the installation's SMTP here; an email inbox's own server in
tests/test_inbox_smtp.py). Private notes stay out; bad addresses and conversations the agent cannot
see are refused with nothing sent."""

from __future__ import annotations

import asyncio

from tests.support.desk import ERR, build_desk

SEND = f"""mutation($c: ID!, $e: String!) {{ conversationTranscriptSend(conversationId: $c, email: $e) {{
  conversation {{ id }} {ERR} }} }}"""
MESSAGE = f"""mutation($c: ID!, $t: String!, $p: Boolean!) {{
  messageCreate(input: {{conversationId: $c, content: $t, private: $p}}) {{ message {{ id }} {ERR} }} }}"""


async def test_an_agent_emails_the_public_transcript(gql, smtp):
    desk = await build_desk(gql, smtp)
    conversation = await desk.new_conversation("My order #12 is late")
    await desk.data(desk.agent, MESSAGE, {"c": conversation["id"], "t": "Internal: courier lost it", "p": True})
    await desk.data(desk.agent, MESSAGE, {"c": conversation["id"], "t": "Sorry! A new one ships today.", "p": False})
    smtp.clear()

    body = await desk.data(desk.agent, SEND, {"c": conversation["id"], "e": "Boss@Example.test"})
    assert body["conversationTranscriptSend"]["errors"] == []
    assert body["conversationTranscriptSend"]["conversation"]["id"] == conversation["id"]
    msg = await asyncio.to_thread(smtp.wait_for, "boss@example.test", 15, "Conversation transcript")
    assert str(msg["Subject"]) == f"[#{conversation['displayId']}] Conversation transcript"
    text = smtp.text_of(msg)
    assert text.index("My order #12 is late") < text.index("Sorry! A new one ships today.")
    assert "courier lost it" not in text
    html = msg.get_body(preferencelist=("html",)).get_content()
    assert "Sorry! A new one ships today." in html and "courier lost it" not in html
    assert "@" not in text  # names, never agents' (or anyone's) emails

    bad = await desk.data(desk.agent, SEND, {"c": conversation["id"], "e": "not an address"})
    assert [(e["field"], e["code"]) for e in bad["conversationTranscriptSend"]["errors"]] == [
        ("email", "INVALID_EMAIL")
    ]
    # An agent who does not work the inbox does not see the conversation.
    refused = await desk.run(desk.outsider, SEND, {"c": conversation["id"], "e": "leak@example.test"})
    assert refused["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    await asyncio.sleep(1.0)
    assert [str(m["To"]) for m in smtp.messages] == ["boss@example.test"]
