"""Canned responses: replies any agent of the account saves under a short code and inserts from
the composer's `/` menu."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from db.models import CannedResponse
from db.repositories import catalog as repo
from domain.accounts.actor import Actor
from domain.catalog.checks import flush_unique, refuse_beyond, required
from domain.catalog.limits import MAX_CANNED_CONTENT, MAX_CANNED_RESPONSES, MAX_SEARCH
from domain.errors import BadUserInput, FieldError, NotFound, ValidationError


def _check_short_code(short_code: str, errors: list[FieldError]) -> str:
    short_code = required(short_code, "shortCode", errors, 100)
    if short_code and any(c.isspace() for c in short_code):
        # The composer's `/` menu ends a short code at the first space.
        errors.append(FieldError("shortCode", "INVALID_SHORT_CODE", "A short code cannot contain spaces."))
    return short_code


def _check_content(content: str, errors: list[FieldError]) -> str:
    if not content.strip():
        errors.append(FieldError("content", "REQUIRED", "This field is required."))
    elif len(content) > MAX_CANNED_CONTENT:
        errors.append(FieldError("content", "TOO_LONG", f"At most {MAX_CANNED_CONTENT} characters."))
    return content


async def search_canned_responses(session: AsyncSession, actor: Actor, search: str | None) -> Sequence[CannedResponse]:
    if search is not None and len(search) > MAX_SEARCH:
        raise BadUserInput(f"`search` takes at most {MAX_SEARCH} characters", field="search")
    return await repo.canned_responses(session, actor.require_account_id(), (search or "").strip() or None)


async def _canned_or_404(session: AsyncSession, actor: Actor, canned_id: int) -> CannedResponse:
    row = await repo.canned_response_in_account(session, actor.require_account_id(), canned_id)
    if row is None:
        raise NotFound("No such canned response")
    return row


async def create_canned_response(
    session: AsyncSession, actor: Actor, *, short_code: str, content: str
) -> CannedResponse:
    errors: list[FieldError] = []
    short_code = _check_short_code(short_code, errors)
    content = _check_content(content, errors)
    if not errors and await repo.canned_response_by_short_code(session, actor.require_account_id(), short_code):
        errors.append(FieldError("shortCode", "TAKEN", "A canned response with this short code exists."))
    if errors:
        raise ValidationError(errors)
    refuse_beyond(
        await repo.count_canned_responses(session, actor.require_account_id()), MAX_CANNED_RESPONSES, "canned responses"
    )
    row = CannedResponse(account_id=actor.account_id, short_code=short_code, content=content)
    session.add(row)
    await flush_unique(session, "shortCode", "A canned response with this short code exists.")
    return row


async def update_canned_response(
    session: AsyncSession, actor: Actor, canned_id: int, *, short_code: str | None, content: str | None
) -> CannedResponse:
    row = await _canned_or_404(session, actor, canned_id)
    errors: list[FieldError] = []
    if short_code is not None:
        short_code = _check_short_code(short_code, errors)
        if not errors:
            other = await repo.canned_response_by_short_code(session, actor.require_account_id(), short_code)
            if other is not None and other.id != row.id:
                errors.append(FieldError("shortCode", "TAKEN", "A canned response with this short code exists."))
    if content is not None:
        content = _check_content(content, errors)
    if errors:
        raise ValidationError(errors)
    if short_code is not None:
        row.short_code = short_code
    if content is not None:
        row.content = content
    await flush_unique(session, "shortCode", "A canned response with this short code exists.")
    return row


async def delete_canned_response(session: AsyncSession, actor: Actor, canned_id: int) -> CannedResponse:
    row = await _canned_or_404(session, actor, canned_id)
    await session.delete(row)
    await session.flush()
    return row
