"""The website widget's HTTP side: `/widget.js` (the embeddable script), `/widget/demo?token=…` (a page to
try it), and the CORS rule that lets any site call /graphql *without credentials* — whether a given
site may use a widget session is decided per inbox (its allowed domains) when the token is checked
(resolvers/context.py); cookies are never allowed cross-origin (no Access-Control-Allow-Credentials)."""

from __future__ import annotations

import html
import re
from pathlib import Path

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.accounts.tokens import PREFIX_WIDGET

STATIC = Path(__file__).resolve().parent / "static"
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_script: bytes | None = None


async def widget_js(request: Request) -> Response:
    global _script
    if _script is None:
        _script = (STATIC / "widget.js").read_bytes()
    return Response(
        _script,
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"},
    )


# A speech bubble, inline: the page needs no file of its own and no request that can fail.
FAVICON = (
    "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 24 24'%3E%3Cpath fill='%231f93ff' "
    "d='M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z'/%3E%3C/svg%3E"
)

DEMO = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Parley widget demo</title>
<link rel="icon" href="{favicon}">
<style>body{{font-family:system-ui,sans-serif;max-width:720px;margin:40px auto;padding:0 20px;color:#222}}
code{{background:#f3f4f6;padding:2px 5px;border-radius:4px}}</style></head>
<body><h1>Parley widget demo</h1>
<p>This page embeds the website widget of one inbox with a single tag:</p>
<p><code>&lt;script src="{base}/widget.js" data-website-token="{token}" async&gt;&lt;/script&gt;</code></p>
<p>Open the chat bubble at the bottom right.</p>
<script src="/widget.js" data-website-token="{token}" async></script>
</body></html>"""


async def widget_demo(request: Request) -> Response:
    token = request.query_params.get("token", "")
    if not TOKEN_RE.match(token):
        return HTMLResponse(
            "<!doctype html><title>Parley widget demo</title><p>Add ?token=&lt;website token&gt;.</p>", status_code=400
        )
    base = html.escape(str(request.base_url).rstrip("/"))
    return HTMLResponse(
        DEMO.format(base=base, token=html.escape(token), favicon=FAVICON), headers={"Cache-Control": "no-store"}
    )


def routes() -> list[Route]:
    return [Route("/widget.js", widget_js, methods=["GET"]), Route("/widget/demo", widget_demo, methods=["GET"])]


class WidgetCORSMiddleware:
    """For /graphql requests from origins the operator did not list (those keep Starlette's CORS rules):
    answer preflights for bearer requests, and let the page read answers to requests that carry no
    credentials or a widget contact-session token. Never with credentials, so the dashboard's cookies
    stay same-origin (and the CSRF check refuses them anyway)."""

    def __init__(self, app: ASGIApp, configured: list[str]) -> None:
        self.app = app
        self.configured = {o.rstrip("/").lower() for o in configured}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/graphql":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if not origin or "*" in self.configured or origin.rstrip("/").lower() in self.configured:
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await Response(
                status_code=204,
                headers={
                    "Access-Control-Allow-Origin": origin,
                    "Access-Control-Allow-Methods": "GET, POST",
                    "Access-Control-Allow-Headers": "Authorization, Content-Type, Accept",
                    "Access-Control-Max-Age": "600",
                    "Vary": "Origin",
                },
            )(scope, receive, send)
            return
        auth = headers.get("authorization", "")
        if auth and not auth[7:].strip().startswith(PREFIX_WIDGET):
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Starlette's CORS adds Allow-Credentials to every response: never with a reflected origin.
                raw = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"access-control-allow-credentials"
                ]
                raw.append((b"access-control-allow-origin", origin.encode("latin-1")))
                raw.append((b"access-control-expose-headers", b"Retry-After, X-Request-ID"))
                raw.append((b"vary", b"Origin"))
                message = {**message, "headers": raw}
            await send(message)

        await self.app(scope, receive, send_with_cors)
