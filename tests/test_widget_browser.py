"""The website widget in a real headless Chromium (reaching nothing but 127.0.0.1): the demo page loads
/widget.js, the visitor writes, an agent answers through GraphQL and the answer appears in the widget;
after the socket is dropped, replies written meanwhile all arrive (resume by cursor), none twice."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.test_graphiql_browser import CHROMIUM_ARGS, NO_CHROMIUM, find_chromium
from tests.test_widget import make_widget

MESSAGES = "#parley-widget >> css=.msg"


@pytest.mark.browser
async def test_visitor_and_agent_talk_through_the_widget_across_a_reconnect(gql, server):
    executable = find_chromium()
    if executable is None:
        pytest.skip(NO_CHROMIUM)
    from playwright.async_api import async_playwright, expect

    w = await make_widget(gql)
    problems: list[str] = []
    blocked: list[str] = []

    async def loopback_only(route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            await route.continue_()
        else:
            blocked.append(route.request.url)
            await route.abort("blockedbyclient")

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1200, "height": 900})
            await context.route("**/*", loopback_only)
            page = await context.new_page()
            page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
            sockets = []
            frames: list[str] = []

            def on_ws(ws) -> None:
                sockets.append(ws)
                ws.on("framereceived", lambda f: frames.append(f"< {f}"))
                ws.on("framesent", lambda f: frames.append(f"> {f}"))

            page.on("websocket", on_ws)
            page.on(
                "console",
                lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None,
            )
            await page.goto(f"{server.url}/widget/demo?token={w.website_token}", wait_until="load")

            # The launcher in the inbox's colour; the panel opens with the welcome title.
            bubble = page.locator("#parley-widget >> css=button.bubble")
            await bubble.wait_for(state="visible", timeout=15_000)
            await expect(page.locator("#parley-widget >> css=.head h2")).to_have_text("Hi there", timeout=15_000)
            colour = await bubble.evaluate("b => getComputedStyle(b).backgroundColor")
            assert colour == "rgb(170, 51, 85)", colour
            # The launcher is a drawn icon, not an emoji (which shows as a blank box without an emoji font).
            launcher = await bubble.evaluate("""b => ({svg: b.querySelectorAll('svg path').length,
                text: Array.from(b.childNodes).filter(n => n.nodeType === 3).map(n => n.textContent).join(''),
                width: b.querySelector('svg').getBoundingClientRect().width})""")
            assert launcher == {"svg": 1, "text": "", "width": 28}, launcher
            assert await page.locator("link[rel=icon]").get_attribute("href") is not None
            # The header tells the reply time once.
            header = await page.locator("#parley-widget >> css=.head").inner_text()
            assert header.count("Typically replies in a few hours") == 1, header
            assert header.lower().count("repl") == 1, header
            await bubble.click()
            box = page.locator("#parley-widget >> css=textarea")
            await box.fill("Hello from the browser")
            await box.press("Enter")
            await expect(page.locator(MESSAGES)).to_have_text(["Hello from the browser"], timeout=15_000)
            token = await page.evaluate(
                f"() => JSON.parse(localStorage.getItem('parley_widget_{w.website_token}')).token"
            )
            assert token and token.startswith("plyw_")

            # The agent sees the conversation and answers through GraphQL.
            listed = await w.agent("{ conversations { edges { node { id lastMessage { content } } } } }")
            edges = listed["conversations"]["edges"]
            assert [e["node"]["lastMessage"]["content"] for e in edges] == ["Hello from the browser"]
            conversation_id = edges[0]["node"]["id"]
            # Wait for the widget's socket to be subscribed before relying on live delivery.
            await page.wait_for_function(
                "() => window.ParleyWidget && window.ParleyWidget.state.ws && "
                "window.ParleyWidget.state.ws.readyState === 1",
                timeout=15_000,
            )
            await page.wait_for_timeout(500)
            await w.reply(conversation_id, "Agent here, how can I help?")
            await w.reply(conversation_id, "An internal note", private=True)
            replies = page.locator("#parley-widget >> css=.msg.out")
            try:
                await expect(replies).to_have_count(1, timeout=15_000)
            except AssertionError:
                raise AssertionError(f"frames: {frames}; problems: {problems}") from None
            await expect(replies.first).to_contain_text("Agent here, how can I help?")
            name = await replies.first.locator("css=.who").text_content()
            assert name and "@" not in name

            # Typing is shown with the agent's name.
            await w.agent(
                "mutation($c: ID!) { typingSet(input: {conversationId: $c, on: true}) { accepted } }",
                {"c": conversation_id},
            )
            await expect(page.locator("#parley-widget >> css=.typing")).to_contain_text("is typing", timeout=10_000)

            # Drop the connection; replies written meanwhile must all arrive after the widget reconnects.
            await page.evaluate("() => { window.ParleyWidget.close(); window.ParleyWidget.dropConnection(); }")
            for i in range(3):
                await w.reply(conversation_id, f"While you were away {i}")
            await expect(replies).to_have_count(4, timeout=20_000)
            texts = [t.split("\n")[-1] if "\n" in t else t for t in await replies.all_inner_texts()]
            assert [
                t.endswith(s)
                for t, s in zip(
                    texts,
                    [
                        "Agent here, how can I help?",
                        "While you were away 0",
                        "While you were away 1",
                        "While you were away 2",
                    ],
                    strict=False,
                )
            ] == [True] * 4, texts
            assert len(sockets) >= 2, "the widget did not reconnect"
            # The unread badge counts the replies that came in while the panel was closed.
            await expect(page.locator("#parley-widget >> css=.badge")).to_have_text("3")
            all_text = " ".join(await page.locator(MESSAGES).all_inner_texts())
            assert "internal note" not in all_text
            # And a reload resumes the same session from localStorage.
            await page.reload(wait_until="load")
            await page.locator("#parley-widget >> css=button.bubble").click()
            await expect(page.locator(MESSAGES)).to_have_count(5, timeout=15_000)
            assert not problems, problems
            assert not blocked, blocked
        finally:
            await browser.close()


@pytest.mark.browser
async def test_a_tagline_that_tells_the_reply_time_is_not_repeated(gql, server):
    executable = find_chromium()
    if executable is None:
        pytest.skip(NO_CHROMIUM)
    from playwright.async_api import async_playwright, expect

    w = await make_widget(gql)
    body = await gql.data(
        """mutation($id: ID!) { inboxUpdate(id: $id, input: {channelConfig: {
        welcomeTagline: "We usually reply within minutes."}}) { errors { code } } }""",
        {"id": w.inbox_id},
        headers=w.admin.headers(),
    )
    assert body["inboxUpdate"]["errors"] == []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            await page.goto(f"{server.url}/widget/demo?token={w.website_token}", wait_until="load")
            await expect(page.locator("#parley-widget >> css=.head p").first).to_have_text(
                "We usually reply within minutes.", timeout=15_000
            )
            header = await page.locator("#parley-widget >> css=.head").inner_text()
        finally:
            await browser.close()
    assert "Typically replies" not in header, header
    assert header.lower().count("repl") == 1, header
