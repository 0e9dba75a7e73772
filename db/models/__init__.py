"""All SQLAlchemy models; importing this package registers every table on Base.metadata."""

from db.base import Base
from db.models.accounts import Account, AccountMembership, Bot, CustomRole, User
from db.models.audit import AuditLog, OutboxJob
from db.models.auth import ApiToken, OneTimeToken, RefreshToken, UserSession

__all__ = [
    "Account",
    "AccountMembership",
    "ApiToken",
    "AuditLog",
    "Base",
    "Bot",
    "CustomRole",
    "OneTimeToken",
    "OutboxJob",
    "RefreshToken",
    "User",
    "UserSession",
]
