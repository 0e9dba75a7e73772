"""Emails the domain sends (as outbox jobs for the `email.send` actor): plain text and HTML."""

from __future__ import annotations

import html

from sqlalchemy.ext.asyncio import AsyncSession

from domain.outbox import add_job


def _html(paragraphs: list[str], link: str | None = None, label: str = "") -> str:
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    if link:
        body += f'<p><a href="{html.escape(link, quote=True)}">{html.escape(label)}</a></p>'
    return f"<!doctype html><html><body>{body}</body></html>"


def send_email(session: AsyncSession, *, to: str, subject: str, paragraphs: list[str], link: str | None = None, label: str = "") -> None:
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


def added_to_account_email(session: AsyncSession, *, to: str, inviter: str, account: str) -> None:
    send_email(
        session,
        to=to,
        subject=f"You were added to {account} on Parley",
        paragraphs=[f"{inviter} added you to {account} on Parley. Sign in with your existing password."],
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
