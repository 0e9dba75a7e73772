"""Raw MIME to what the helpdesk needs, without touching the database: addresses, threading headers,
the text (from the text part, else extracted from the HTML), the HTML sanitised for display, the
attachments, and whether the mail is an automatic one (an auto-reply or a bounce)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email import policy
from email.errors import (
    MissingHeaderBodySeparatorDefect,
    MultipartInvariantViolationDefect,
    NoBoundaryInMultipartDefect,
    StartBoundaryNotFoundDefect,
)
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser
from typing import Any

import nh3

from domain.validation import is_email

MESSAGE_ID_RE = re.compile(r"<[^<>\s@]+@[^<>\s@]+>")
MAX_REFERENCES = 50
MAX_ATTACHMENTS = 15  # domain.attachments.MAX_PER_MESSAGE
FATAL_DEFECTS = (
    MissingHeaderBodySeparatorDefect,
    MultipartInvariantViolationDefect,
    NoBoundaryInMultipartDefect,
    StartBoundaryNotFoundDefect,
)
# Sanitised HTML keeps formatting and links, never scripts, styles, forms, frames or event handlers.
ALLOWED_TAGS = {
    "a", "b", "blockquote", "br", "code", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img",
    "li", "ol", "p", "pre", "s", "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th",
    "thead", "tr", "u", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "width", "height"}, "td": {"colspan", "rowspan"}}
AUTO_PRECEDENCE = {"bulk", "auto_reply", "junk", "list"}


class MalformedEmail(ValueError):
    """The bytes are not an email we can read; the message says why."""


@dataclass(frozen=True)
class Part:
    file_name: str
    content_type: str
    data: bytes


@dataclass
class ParsedEmail:
    message_id: str
    from_name: str
    from_address: str
    to: list[str]
    cc: list[str]
    bcc: list[str]
    delivered_to: list[str]
    reply_to: str
    subject: str
    in_reply_to: str | None
    references: list[str]
    text: str
    html: str | None
    attachments: list[Part] = field(default_factory=list)
    automatic: str | None = None  # "auto_reply" or "bounce"
    parley_loop: str | None = None  # our own X-Parley-Loop marker

    @property
    def thread_ids(self) -> list[str]:
        """Message-IDs this mail answers, the most direct first."""
        ids = [self.in_reply_to] if self.in_reply_to else []
        return ids + [r for r in reversed(self.references) if r not in ids]

    @property
    def recipients(self) -> list[str]:
        return list(dict.fromkeys([*self.delivered_to, *self.to, *self.cc, *self.bcc]))

    def summary(self) -> dict[str, Any]:
        return {
            "from": self.from_address,
            "to": self.to,
            "cc": self.cc,
            "bcc": self.bcc,
            "in_reply_to": self.in_reply_to,
            "references": self.references,
            "has_text": bool(self.text),
            "has_html": self.html is not None,
            "attachments": [
                {"file_name": a.file_name, "content_type": a.content_type, "bytes": len(a.data)}
                for a in self.attachments
            ],
            "automatic": self.automatic,
        }


def _addresses(msg: EmailMessage, name: str) -> list[str]:
    values = [str(v) for v in msg.get_all(name, [])]
    found = [addr.strip().lower() for _, addr in getaddresses(values)]
    return list(dict.fromkeys(a for a in found if is_email(a)))


def _ids(value: str | None) -> list[str]:
    return MESSAGE_ID_RE.findall(value or "")


class _Text(HTMLParser):
    """The readable text of an HTML body: block elements become line breaks, scripts and styles vanish."""

    BLOCKS = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "hr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("script", "style", "head", "title"):
            self.skip += 1
        elif tag in self.BLOCKS:
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head", "title"):
            self.skip = max(0, self.skip - 1)
        elif tag in self.BLOCKS:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.out.append(data)


def text_of_html(markup: str) -> str:
    parser = _Text()
    parser.feed(markup)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.out).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def sanitize_html(markup: str) -> str:
    return nh3.clean(
        markup,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto", "cid"},
        link_rel="noopener noreferrer nofollow",
    )


def _automatic(msg: EmailMessage) -> str | None:
    if msg.get_content_type() == "multipart/report" or msg.get_content_type() == "message/delivery-status":
        return "bounce"
    sender = parseaddr(str(msg.get("From", "")))[1].lower()
    if str(msg.get("Return-Path", "")).strip() == "<>" or sender.startswith(("mailer-daemon@", "postmaster@")):
        return "bounce"
    auto = str(msg.get("Auto-Submitted", "")).strip().lower()
    if auto and auto != "no":
        return "auto_reply"
    if str(msg.get("Precedence", "")).strip().lower() in AUTO_PRECEDENCE:
        return "auto_reply"
    if (
        msg.get("X-Autoreply")
        or msg.get("X-Autorespond")
        or msg.get("X-Auto-Response-Suppress", "").strip().lower() == "all"
    ):
        return "auto_reply"
    return None


def _decoded(part: EmailMessage) -> str:
    try:
        content = part.get_content()
    except (LookupError, ValueError):  # an unknown charset: read it as Latin-1 rather than lose it
        payload = part.get_payload(decode=True)
        content = payload.decode("latin-1") if isinstance(payload, bytes) else str(payload)
    return content if isinstance(content, str) else content.decode("utf-8", "replace")


def parse(raw: bytes) -> ParsedEmail:
    if not raw.strip():
        raise MalformedEmail("The email is empty.")
    try:
        msg = BytesParser(policy=policy.default).parsebytes(raw)
    except Exception as exc:  # the parser is lenient; anything it still raises is a broken mail
        raise MalformedEmail(f"The email cannot be parsed: {type(exc).__name__}.") from exc
    assert isinstance(msg, EmailMessage)
    defects = [d for p in msg.walk() for d in p.defects if isinstance(d, FATAL_DEFECTS)]
    if defects:
        raise MalformedEmail(f"The MIME structure is broken: {type(defects[0]).__name__}.")
    try:
        from_name, from_address = parseaddr(str(msg.get("From", "")))
    except Exception as exc:  # a header the policy could not fold into an address
        raise MalformedEmail("The From header is not an address.") from exc
    from_address = from_address.strip().lower()
    if not is_email(from_address):
        raise MalformedEmail("The email has no sender address (From).")
    text_parts: list[str] = []
    html_parts: list[str] = []
    attachments: list[Part] = []
    for part in msg.walk():
        if part.is_multipart() or part.get_content_type() == "message/delivery-status":
            continue
        assert isinstance(part, EmailMessage)
        disposition = part.get_content_disposition()
        ctype = part.get_content_type()
        if disposition != "attachment" and ctype == "text/plain" and not part.get_filename():
            text_parts.append(_decoded(part))
        elif disposition != "attachment" and ctype == "text/html" and not part.get_filename():
            html_parts.append(_decoded(part))
        elif disposition in ("attachment", "inline") or part.get_filename():
            data = part.get_payload(decode=True)
            if isinstance(data, bytes) and data and len(attachments) < MAX_ATTACHMENTS:
                attachments.append(Part(part.get_filename() or "attachment", ctype, data))
    raw_html = "\n".join(html_parts) if html_parts else None
    text = "\n".join(t.strip() for t in text_parts).strip()
    if not text and raw_html:
        text = text_of_html(raw_html)
    message_id = (_ids(str(msg.get("Message-ID", ""))) or [""])[0]
    loop = msg.get("X-Parley-Loop")
    return ParsedEmail(
        message_id=message_id,
        from_name=from_name.strip(),
        from_address=from_address,
        to=_addresses(msg, "To"),
        cc=_addresses(msg, "Cc"),
        bcc=_addresses(msg, "Bcc"),
        delivered_to=_addresses(msg, "Delivered-To") + _addresses(msg, "X-Original-To"),
        reply_to=(_addresses(msg, "Reply-To") or [""])[0],
        subject=" ".join(str(msg.get("Subject", "")).split())[:998],
        in_reply_to=next(iter(_ids(str(msg.get("In-Reply-To", "")))), None),
        references=_ids(str(msg.get("References", "")))[-MAX_REFERENCES:],
        text=text,
        html=sanitize_html(raw_html) if raw_html is not None else None,
        attachments=attachments,
        automatic=_automatic(msg),
        parley_loop=str(loop).strip() if loop else None,
    )
