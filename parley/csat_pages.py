"""The public CSAT survey page an email's link opens: `GET /survey/<token>` shows the form (or the
answer already given), `POST /survey/<token>` records a rating 1–5 with a comment, once per
conversation. The signed token is the only credential (domain/automatic_messages/csat_survey.py);
no cookie, no session, so the form needs no CSRF token."""

from __future__ import annotations

import html
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from domain.automatic_messages import csat_survey
from domain.errors import NotFound, ValidationError
from domain.events import Relay
from domain.events.unit import unit_of_work

MAX_FORM_BYTES = 32 * 1024
HEADERS = {"Cache-Control": "no-store", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"}

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:560px;margin:40px auto;padding:0 20px;color:#222}}
label{{margin-right:12px}} textarea{{width:100%;min-height:90px}} .error{{color:#b00020}}</style></head>
<body><h1>{title}</h1>{body}</body></html>"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(PAGE.format(title=html.escape(title), body=body), status_code=status, headers=HEADERS)


def _form(inbox_name: str, display_id: int, errors: list[str]) -> str:
    ratings = "".join(
        f'<label><input type="radio" name="rating" value="{r}" required> {r}</label>' for r in range(1, 6)
    )
    problems = "".join(f'<p class="error">{html.escape(e)}</p>' for e in errors)
    return (
        f"<p>How satisfied were you with {html.escape(inbox_name)} on conversation #{display_id}? "
        "1 is very dissatisfied, 5 very satisfied.</p>"
        f'{problems}<form method="post"><p>{ratings}</p>'
        '<p><label for="feedback">Anything you would like to tell us?</label></p>'
        '<p><textarea id="feedback" name="feedback" maxlength="5000"></textarea></p>'
        '<p><button type="submit">Send</button></p></form>'
    )


def _thanks(rating: int) -> str:
    return f"<p>Thank you! You rated this conversation {rating} out of 5.</p>"


def routes() -> list[Route]:
    async def show(request: Request) -> Response:
        services = request.app.state.services
        conversation_id = csat_survey.conversation_of(request.path_params["token"], services.settings)
        if conversation_id is None:
            return _page("Survey not found", "<p>This link is not valid.</p>", 404)
        try:
            async with services.sessions() as session:
                found = await csat_survey.survey(session, conversation_id)
        except NotFound:
            return _page("Survey not found", "<p>This link is not valid.</p>", 404)
        if found.response is not None:
            return _page("Already answered", _thanks(found.response.rating))
        return _page("How did we do?", _form(found.inbox.name, found.conversation.display_id, []))

    async def submit(request: Request) -> Response:
        services = request.app.state.services
        conversation_id = csat_survey.conversation_of(request.path_params["token"], services.settings)
        if conversation_id is None:
            return _page("Survey not found", "<p>This link is not valid.</p>", 404)
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            return _page("Too long", "<p>The answer is too long.</p>", 413)
        form = parse_qs(body.decode("utf-8", "replace"), max_num_fields=10)
        raw = (form.get("rating") or [""])[0]
        rating = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 3 else None
        feedback = (form.get("feedback") or [""])[0]
        try:
            async with unit_of_work(services.sessions, Relay.of(services)) as session:
                response = await csat_survey.answer(session, conversation_id, rating, feedback)
        except NotFound:
            return _page("Survey not found", "<p>This link is not valid.</p>", 404)
        except ValidationError as exc:
            if any(e.code == "ALREADY_ANSWERED" for e in exc.errors):
                return _page("Already answered", "<p>This survey was already answered. Thank you!</p>", 409)
            async with services.sessions() as session:
                found = await csat_survey.survey(session, conversation_id)
            return _page(
                "How did we do?",
                _form(found.inbox.name, found.conversation.display_id, [e.message for e in exc.errors]),
                422,
            )
        return _page("Thank you", _thanks(response.rating))

    return [
        Route("/survey/{token}", show, methods=["GET"]),
        Route("/survey/{token}", submit, methods=["POST"]),
    ]
