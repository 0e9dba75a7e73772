"""Authorization in one place: the rules that root fields declare, and the checks services make."""

from __future__ import annotations

from enum import StrEnum

from domain.accounts.actor import Actor, ActorKind
from domain.enums import Permission
from domain.errors import Forbidden, NotAuthenticated


class Rule(StrEnum):
    public = "public"  # anyone, signed in or not
    authenticated = "authenticated"  # a signed-in user, whatever the account
    member = "member"  # a user or bot of the current account
    agent = "agent"  # a user of the current account (administrator or agent)
    administrator = "administrator"  # an administrator of the current account
    report_manage = "report_manage"  # administrators, or a custom role with report_manage
    contact_manage = "contact_manage"
    super_admin = "super_admin"  # a user who manages the installation (users.is_super_admin), whatever the account
    widget = "widget"  # a website visitor's contact session (domain/widget/sessions.py); never an agent, bot or partner


def is_contact_session(actor: Actor) -> bool:
    """A widget contact session: its actor is anonymous to every agent rule and carries its contact inbox."""
    return actor.kind == ActorKind.anonymous and getattr(actor, "contact_inbox_id", None) is not None


def require(actor: Actor, rule: Rule) -> None:
    if rule == Rule.public:
        return
    if rule == Rule.widget:
        if not is_contact_session(actor):
            raise Forbidden("Only a website widget's contact session can do this")
        return
    if not actor.is_authenticated:
        raise NotAuthenticated()
    if rule == Rule.authenticated:
        if actor.kind != ActorKind.user:
            raise Forbidden("Only users can do this")
        return
    if rule == Rule.super_admin:
        if actor.kind != ActorKind.user or not actor.is_super_admin:
            raise Forbidden("Only super admins of the installation can do this")
        return
    if not actor.is_member:
        raise Forbidden("Choose an account you are a member of (X-Parley-Account header)")
    if rule == Rule.member:
        return
    if actor.kind != ActorKind.user:
        raise Forbidden("Bots cannot do this")
    if rule == Rule.agent:
        return
    if rule == Rule.administrator:
        if not actor.is_administrator:
            raise Forbidden("Only administrators can do this")
        return
    if rule == Rule.report_manage:
        if not actor.has(Permission.REPORT_MANAGE):
            raise Forbidden("Requires the report_manage permission")
        return
    if rule == Rule.contact_manage:
        if not actor.has(Permission.CONTACT_MANAGE):
            raise Forbidden("Requires the contact_manage permission")
        return
    raise AssertionError(f"unknown rule {rule}")
