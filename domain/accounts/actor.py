"""Who is acting: a user (through a session or a personal token), a bot (through its token) or
nobody. Built once per request or socket; every policy decision reads it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from domain.enums import Permission, Role
from domain.errors import Forbidden


class ActorKind(StrEnum):
    anonymous = "anonymous"
    user = "user"
    bot = "bot"


@dataclass(frozen=True)
class Actor:
    kind: ActorKind = ActorKind.anonymous
    user_id: int | None = None
    bot_id: int | None = None
    account_id: int | None = None
    role: Role | None = None
    custom_role_id: int | None = None
    permissions: frozenset[str] = field(default_factory=frozenset)
    session_id: str | None = None
    api_token_id: int | None = None
    is_super_admin: bool = False
    label: str = "anonymous"

    @property
    def is_authenticated(self) -> bool:
        return self.kind != ActorKind.anonymous

    @property
    def is_member(self) -> bool:
        return self.account_id is not None and (self.role is not None or self.kind == ActorKind.bot)

    @property
    def is_administrator(self) -> bool:
        return self.account_id is not None and self.role == Role.ADMINISTRATOR

    def has(self, permission: Permission) -> bool:
        return self.is_administrator or permission.value in self.permissions

    # Services run behind the rule their root field declares (domain/accounts/policy.py), so a member
    # rule has already made sure of the account and an agent rule of the user; these say so to the
    # type checker and refuse, as the rule would, when called without one.
    def require_account_id(self) -> int:
        if self.account_id is None:
            raise Forbidden("Choose an account you are a member of (X-Parley-Account header)")
        return self.account_id

    def require_user_id(self) -> int:
        if self.user_id is None:
            raise Forbidden("Only users can do this")
        return self.user_id


ANONYMOUS = Actor()


def effective_permissions(role: Role, custom_permissions: list[str] | None) -> frozenset[str]:
    """Chatwoot: administrators can do everything; agents without a custom role manage the
    conversations of their inboxes; a custom role replaces that with its own list."""
    if role == Role.ADMINISTRATOR:
        return frozenset(p.value for p in Permission)
    if custom_permissions is None:
        return frozenset({Permission.CONVERSATION_MANAGE.value})
    return frozenset(custom_permissions)
