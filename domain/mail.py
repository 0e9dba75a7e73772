"""Emails the domain sends (as outbox jobs for the `email.send` actor): plain text and HTML."""

from __future__ import annotations

import html

from sqlalchemy.ext.asyncio import AsyncSession

from domain.events.outbox import add_job


def _html(paragraphs: list[str], link: str | None = None, label: str = "") -> str:
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    if link:
        body += f'<p><a href="{html.escape(link, quote=True)}">{html.escape(label)}</a></p>'
    return f"<!doctype html><html><body>{body}</body></html>"


def send_email(
    session: AsyncSession, *, to: str, subject: str, paragraphs: list[str], link: str | None = None, label: str = ""
) -> None:
    text = "\n\n".join(paragraphs) + (f"\n\n{label}: {link}\n" if link else "\n")
    add_job(session, "email.send", to=to, subject=subject, text=text, html=_html(paragraphs, link, label))


def invitation_email(session: AsyncSession, *, to: str, inviter: str, account: str, link: str) -> None:
    send_email(
        session,
        to=to,
        subject=f"{inviter} invited you to {account} on Parley",
        paragraphs=[
            f"{inviter} invited you to join {account} on Parley as an agent.",
            "Choose a password to accept the invitation. The link works once and expires in 7 days.",
        ],
        link=link,
        label="Accept the invitation",
    )


def password_reset_email(session: AsyncSession, *, to: str, link: str) -> None:
    send_email(
        session,
        to=to,
        subject="Reset your Parley password",
        paragraphs=[
            "Someone asked to reset the password of your Parley login.",
            "If it was you, choose a new password; the link works once and expires in an hour. "
            "If it was not you, ignore this email.",
        ],
        link=link,
        label="Choose a new password",
    )


def email_verification_email(session: AsyncSession, *, to: str, link: str) -> None:
    send_email(
        session,
        to=to,
        subject="Confirm your email address for Parley",
        paragraphs=[
            "Welcome to Parley. Confirm that this address is yours to finish signing up; until then you can "
            "sign in, but not invite anyone.",
            "The link expires in 3 days. If you did not sign up, ignore this email.",
        ],
        link=link,
        label="Confirm your email address",
    )


def signup_attempt_email(session: AsyncSession, *, to: str, reset_link: str) -> None:
    """Sent instead of a confirmation when someone signs up with an address that has a login: the
    sign-up answer is the same either way, so only the address's owner learns of it."""
    send_email(
        session,
        to=to,
        subject="Someone tried to sign up to Parley with your address",
        paragraphs=[
            "Someone tried to create a Parley account with this email address, which already has a login. "
            "Nothing was changed.",
            "If it was you, sign in with your password, or choose a new one if you forgot it. "
            "If it was not you, ignore this email.",
        ],
        link=reset_link,
        label="Sign in or reset your password",
    )


def invitation_for_existing_user_email(
    session: AsyncSession, *, to: str, inviter: str, account: str, link: str
) -> None:
    send_email(
        session,
        to=to,
        subject=f"{inviter} invited you to {account} on Parley",
        paragraphs=[
            f"{inviter} invited you to join {account} on Parley.",
            "Sign in with your existing login and accept or decline the invitation under your pending "
            "invitations. Nothing changes until you accept; the invitation expires in 7 days.",
        ],
        link=link,
        label="Sign in to answer",
    )
