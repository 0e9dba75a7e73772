"""The CSAT survey outside the widget: an email with a link to a public page served by Parley
(`/survey/<token>`), where the contact rates the conversation 1–5 with a comment, once.

The token names the conversation and carries an HMAC under the installation's secret key, so the
page of another conversation cannot be guessed. Answers land in `csat_responses`, where the CSAT
report reads them, and on the survey message (`contentAttributes.submitted_values`), as Chatwoot
keeps them."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import Contact, Conversation, CsatResponse, Inbox
from db.repositories import automatic_messages as repo
from db.repositories import widget as widget_repo
from domain.automatic_messages.service import CSAT_SURVEY
from domain.enums import ChannelType
from domain.errors import FieldError, NotFound, ValidationError
from domain.events.outbox import add_job
from infra.settings import Settings

TOKEN_RE = re.compile(r"^(\d{1,18})\.([0-9a-f]{32})$")
MAX_FEEDBACK = 5000


def _signature(conversation_id: int, settings: Settings) -> str:
    key = hashlib.sha256(b"parley-csat-survey" + settings.secret_key.encode()).digest()
    return hmac.new(key, str(conversation_id).encode(), hashlib.sha256).hexdigest()[:32]


def token_for(conversation_id: int, settings: Settings) -> str:
    return f"{conversation_id}.{_signature(conversation_id, settings)}"


def conversation_of(token: str, settings: Settings) -> int | None:
    found = TOKEN_RE.match(token or "")
    if found is None:
        return None
    conversation_id = int(found.group(1))
    return conversation_id if hmac.compare_digest(found.group(2), _signature(conversation_id, settings)) else None


def survey_link(conversation_id: int, settings: Settings) -> str:
    return f"{settings.base_url}/survey/{token_for(conversation_id, settings)}"


async def queue_email(session: AsyncSession, conversation_id: int, settings: Settings) -> bool:
    """The survey email of a resolved conversation of an email inbox, sent as the inbox (a job)."""
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None:
        return False
    inbox = await session.get_one(Inbox, conversation.inbox_id)
    contact = await session.get_one(Contact, conversation.contact_id)
    if inbox.channel_type != ChannelType.EMAIL or not contact.email:
        return False
    from domain.mail import _html

    link = survey_link(conversation.id, settings)
    paragraphs = [
        f"Hello{' ' + contact.name if contact.name else ''},",
        f"Your conversation #{conversation.display_id} with {inbox.name} was resolved. "
        "How satisfied were you with the help you received? It takes a few seconds.",
    ]
    label = "Rate the conversation"
    address = (inbox.channel_config or {}).get("email")
    add_job(
        session,
        "email.send",
        to=contact.email,
        subject=f"[#{conversation.display_id}] How did we do?",
        text="\n\n".join(paragraphs) + f"\n\n{label}: {link}\n",
        html=_html(paragraphs, link, label),
        sender=f"{inbox.name} <{address}>" if address else None,
        smtp_inbox_id=inbox.id,
    )
    return True


@dataclass(frozen=True)
class Survey:
    conversation: Conversation
    inbox: Inbox
    response: CsatResponse | None


async def survey(session: AsyncSession, conversation_id: int, *, lock: bool = False) -> Survey:
    """The survey of a conversation that was sent one (NotFound otherwise)."""
    conversation = await session.get(Conversation, conversation_id, with_for_update=lock)
    if conversation is None or await repo.last_automatic(session, conversation.id, CSAT_SURVEY) is None:
        raise NotFound("No such survey")
    inbox = await session.get_one(Inbox, conversation.inbox_id)
    return Survey(conversation, inbox, await widget_repo.csat_response_of(session, conversation.id))


def check_answer(rating: int | None, feedback: str) -> str:
    errors: list[FieldError] = []
    if rating is None or not 1 <= rating <= 5:
        errors.append(FieldError("rating", "INVALID", "Rate from 1 to 5."))
    feedback = (feedback or "").strip()
    if len(feedback) > MAX_FEEDBACK:
        errors.append(FieldError("feedback", "TOO_LONG", f"At most {MAX_FEEDBACK:,} characters."))
    if errors:
        raise ValidationError(errors)
    return feedback


async def answer(session: AsyncSession, conversation_id: int, rating: int | None, feedback: str) -> CsatResponse:
    """The page's answer: one per conversation (a second is refused, ALREADY_ANSWERED)."""
    feedback = check_answer(rating, feedback)
    assert rating is not None
    found = await survey(session, conversation_id, lock=True)
    if found.response is not None:
        raise ValidationError.single(None, "ALREADY_ANSWERED", "This survey was already answered. Thank you!")
    conversation = found.conversation
    response = CsatResponse(
        account_id=conversation.account_id,
        conversation_id=conversation.id,
        contact_id=conversation.contact_id,
        assignee_id=conversation.assignee_id,
        rating=rating,
        feedback=feedback,
        created_at=utcnow(),
    )
    session.add(response)
    await record_on_message(session, conversation.id, rating, feedback)
    await session.flush()
    return response


async def record_on_message(session: AsyncSession, conversation_id: int, rating: int, feedback: str) -> None:
    """Keep the answer on the survey message too, as Chatwoot's `submitted_values`."""
    message = await repo.last_automatic(session, conversation_id, CSAT_SURVEY)
    if message is not None:
        message.content_attributes = {
            **(message.content_attributes or {}),
            "submitted_values": {"csat_survey_response": {"rating": rating, "feedback_message": feedback}},
        }
