"""GraphiQL works offline: its assets are vendored under parley/static/vendor, byte-identical to the
files Strawberry's page loads from unpkg (the SRI hashes prove it), and a headless Chromium that may
reach nothing but 127.0.0.1 runs a query through it."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import shutil
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import strawberry

from parley import __version__
from parley.app import STATIC_DIR

UPSTREAM_HTML = Path(strawberry.__file__).resolve().parent / "static" / "graphiql.html"
CDN = "https://unpkg.com/"
VENDOR_PREFIX = "/static/vendor/"
VENDOR_DIR = STATIC_DIR / "vendor"
QUERY = "{ serverInfo { name version } }"
SCREENSHOT = Path(tempfile.gettempdir()) / "graphiql.png"
NO_CHROMIUM = "chromium is not installed (scripts/test installs Debian's chromium when run as root)"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class _Assets(HTMLParser):
    """Every <script src> and <link href> of a page, with its integrity attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.assets: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        url = a.get("src") if tag == "script" else a.get("href") if tag == "link" else None
        if url is not None:
            self.assets.append((url.strip(), a.get("integrity")))


def page_assets(html: str) -> list[tuple[str, str | None]]:
    parser = _Assets()
    parser.feed(html)
    return parser.assets


def sri_sha384(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


def upstream_assets() -> dict[str, str]:
    """Path on unpkg -> integrity, for every file Strawberry's GraphiQL page loads from the CDN."""
    html = UPSTREAM_HTML.read_text(encoding="utf-8")
    found: dict[str, str] = {}
    for url, integrity in page_assets(html):
        if url.startswith("data:"):
            continue
        assert url.startswith(CDN), f"Strawberry's GraphiQL page now loads {url}, which Parley does not rewrite"
        assert integrity, f"{url} has no integrity attribute in Strawberry's page"
        found[url.removeprefix(CDN)] = integrity
    assert found, "no CDN assets found in Strawberry's GraphiQL page"
    return found


def vendor_hint(path: str) -> str:
    package = path.split("/", 2)[:2] if path.startswith("@") else path.split("/", 1)[:1]
    return (
        f"Strawberry's GraphiQL page loads {CDN}{path}: vendor it as parley/static/vendor/{path} "
        f"from `npm pack {'/'.join(package)}` (see parley/static/vendor/README.md)"
    )


async def fetch_page(base_url: str) -> str:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        resp = await client.get("/graphql", headers={"Accept": "text/html"})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/html")
    assert "graphiql" in resp.text.lower()
    return resp.text


async def assert_assets_served_intact(base_url: str) -> None:
    html = await fetch_page(base_url)
    served = {url: integrity for url, integrity in page_assets(html) if not url.startswith("data:")}
    # The served page is Strawberry's, with every CDN asset pointed at our copy and its hash untouched.
    assert served == {VENDOR_PREFIX + path: sri for path, sri in upstream_assets().items()}
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        for url, integrity in served.items():
            resp = await client.get(url)
            path = url.removeprefix(VENDOR_PREFIX)
            assert resp.status_code == 200, f"{url}: HTTP {resp.status_code}. {vendor_hint(path)}"
            assert sri_sha384(resp.content) == integrity, f"{url} does not match its SRI hash. {vendor_hint(path)}"
            kind = "text/css" if url.endswith(".css") else "javascript"
            assert kind in resp.headers["content-type"], (url, resp.headers["content-type"])


def test_vendored_files_are_exactly_what_strawberrys_page_loads():
    """Fails loudly when a Strawberry upgrade changes the GraphiQL asset versions or hashes."""
    expected = upstream_assets()
    for path, integrity in expected.items():
        file = VENDOR_DIR / path
        assert file.is_file(), vendor_hint(path)
        assert sri_sha384(file.read_bytes()) == integrity, f"parley/static/vendor/{path} differs. {vendor_hint(path)}"
    present = {p.relative_to(VENDOR_DIR).as_posix() for p in VENDOR_DIR.rglob("*") if p.is_file()}
    assert present - {"README.md"} == set(expected), "files in parley/static/vendor that the page does not load"


async def test_graphiql_page_references_no_external_host(server):
    html = await fetch_page(server.url)
    assert "unpkg.com" not in html
    assets = page_assets(html)
    assert assets
    for url, integrity in assets:
        if url.startswith("data:"):  # the inline favicon
            continue
        assert url.startswith(VENDOR_PREFIX), f"the GraphiQL page loads {url} from elsewhere"
        assert urlsplit(url).netloc == "", url
        assert integrity and integrity.startswith("sha384-"), url
    assert 'src="http' not in html and 'href="http' not in html


async def test_vendored_assets_are_served_and_match_their_sri_hashes(server):
    await assert_assets_served_intact(server.url)


@pytest.mark.embedded
async def test_embedded_server_serves_graphiql_assets(embedded_server):
    """`parley serve` on the embedded default (as `scripts/start` runs it) finds the same static files."""
    await assert_assets_served_intact(embedded_server.url)


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.mark.browser
async def test_graphiql_runs_a_query_in_headless_chromium_offline(server):
    executable = find_chromium()
    if executable is None:
        pytest.skip(NO_CHROMIUM)
    from playwright.async_api import async_playwright, expect

    blocked: list[str] = []
    requested: list[str] = []
    problems: list[str] = []

    async def loopback_only(route) -> None:
        url = route.request.url
        requested.append(url)
        if urlsplit(url).hostname == "127.0.0.1":
            await route.continue_()
        else:
            blocked.append(url)
            await route.abort("blockedbyclient")

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1400, "height": 900})
            await context.route("**/*", loopback_only)
            page = await context.new_page()
            page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
            page.on("console", lambda msg: msg.type == "error" and problems.append(f"console: {msg.text}"))
            page.on(
                "websocket",
                lambda ws: urlsplit(ws.url).hostname != "127.0.0.1" and blocked.append(ws.url),
            )
            try:
                # GraphiQL introspects the schema as it starts (for the docs, the explorer, completion).
                async with page.expect_response(
                    lambda r: r.request.method == "POST" and "IntrospectionQuery" in (r.request.post_data or ""),
                    timeout=20_000,
                ) as introspection:
                    await page.goto(server.url + "/graphql", wait_until="load")
                assert (await introspection.value).status == 200
                editor = page.locator(".graphiql-query-editor .CodeMirror")
                await editor.wait_for(state="visible", timeout=20_000)

                await editor.click()
                await page.evaluate(
                    "q => document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(q)",
                    QUERY,
                )
                typed = await page.evaluate(
                    "() => document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.getValue()"
                )
                assert typed == QUERY

                async with page.expect_response(
                    lambda r: (
                        r.url == server.url + "/graphql"
                        and r.request.method == "POST"
                        and "serverInfo" in (r.request.post_data or "")
                    )
                ) as answer:
                    await page.locator(".graphiql-execute-button").click()
                assert (await answer.value).status == 200

                response_pane = page.locator(".graphiql-response")
                await expect(response_pane).to_contain_text('"Parley"', timeout=15_000)
                shown = await page.evaluate(
                    "() => document.querySelector('.graphiql-response .CodeMirror').CodeMirror.getValue()"
                )
                assert json.loads(shown) == {"data": {"serverInfo": {"name": "Parley", "version": __version__}}}
            finally:
                await page.screenshot(path=str(SCREENSHOT))
        finally:
            await browser.close()

    assert not blocked, f"GraphiQL tried to reach other hosts: {blocked}"
    assert any(url.endswith("/graphiql.min.js") for url in requested), requested
    assert not problems, problems


def _editor_js(selector: str) -> str:
    return f"q => document.querySelector('{selector} .CodeMirror').CodeMirror.setValue(q)"


@pytest.mark.browser
async def test_graphiql_signs_in_with_cookies_and_shows_a_subscription_event(server, gql):
    """The page sends the CSRF header itself, so `login(useCookies: true)` works from GraphiQL's own
    editor; a subscription then runs over GraphiQL's WebSocket with that cookie and shows an event
    caused by another client over HTTP."""
    executable = find_chromium()
    if executable is None:
        pytest.skip(NO_CHROMIUM)
    from playwright.async_api import async_playwright, expect

    from tests.support.accounts import PASSWORD, signup

    admin = await signup(gql, account="GraphiQL")
    problems: list[str] = []
    frames: list[str] = []

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1400, "height": 900})
            page = await context.new_page()
            page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
            sockets = []

            def on_ws(ws) -> None:
                sockets.append(ws)
                ws.on("framesent", lambda f: frames.append(f"> {f}"))
                ws.on("framereceived", lambda f: frames.append(f"< {f}"))

            page.on("websocket", on_ws)
            await page.goto(server.url + "/graphql", wait_until="load")
            editor = page.locator(".graphiql-query-editor .CodeMirror")
            await editor.wait_for(state="visible", timeout=20_000)
            response_pane = page.locator(".graphiql-response")
            run = page.locator(".graphiql-execute-button")

            # Sign in through GraphiQL's editor and fetcher: no header typed by hand.
            await page.evaluate(
                _editor_js(".graphiql-query-editor"),
                (
                    f'mutation SignIn {{ login(input: {{email: "{admin.email}", password: "{PASSWORD}", useCookies: true}}) '
                    "{ user { email } errors { code message } } }"
                ),
            )
            async with page.expect_response(
                lambda r: r.request.method == "POST" and "SignIn" in (r.request.post_data or "")
            ) as answer:
                await run.click()
            response = await answer.value
            assert response.status == 200
            assert (await response.request.all_headers()).get("x-parley-csrf") == "1"
            await expect(response_pane).to_contain_text(admin.email, timeout=15_000)
            shown = await page.evaluate(
                "() => document.querySelector('.graphiql-response .CodeMirror').CodeMirror.getValue()"
            )
            assert json.loads(shown) == {"data": {"login": {"user": {"email": admin.email}, "errors": []}}}
            assert "parley_access" in {c["name"] for c in await context.cookies()}

            # A subscription over GraphiQL's WebSocket, authenticated by that cookie alone.
            await page.evaluate(
                _editor_js(".graphiql-query-editor"), "subscription Events { accountEvents { type contact { name } } }"
            )
            # GraphiQL re-reads the document's operation names shortly after an edit.
            await page.wait_for_timeout(1000)
            await run.click()
            deadline = asyncio.get_running_loop().time() + 20
            while not any('"subscribe"' in f for f in frames):
                assert asyncio.get_running_loop().time() < deadline, f"no subscribe frame: {frames} {problems}"
                await asyncio.sleep(0.1)
            assert sockets and urlsplit(sockets[0].url).path == "/graphql"

            # Another client changes the account over HTTP; the event appears in GraphiQL's result pane.
            name = None
            for attempt in range(10):
                name = f"Seen in GraphiQL {attempt}"
                created = await gql.data(
                    "mutation($n: String!) { contactCreate(input: {name: $n}) { errors { code } } }",
                    {"n": name},
                    headers=admin.headers(),
                )
                assert created["contactCreate"]["errors"] == []
                try:
                    await expect(response_pane).to_contain_text("Seen in GraphiQL", timeout=2_000)
                    break
                except AssertionError:
                    continue
            await expect(response_pane).to_contain_text("contact.created", timeout=5_000)
            shown = await page.evaluate(
                "() => document.querySelector('.graphiql-response .CodeMirror').CodeMirror.getValue()"
            )
            event = json.loads(shown)["data"]["accountEvents"]
            assert event["type"] == "contact.created" and event["contact"]["name"].startswith("Seen in GraphiQL"), shown
        finally:
            await page.screenshot(path=str(SCREENSHOT.with_name("graphiql-subscription.png")))
            await browser.close()
    assert not problems, problems
