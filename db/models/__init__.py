"""All SQLAlchemy models; importing this package registers every table on Base.metadata."""

from db.base import Base
from db.models.accounts import Account, AccountMembership, User

__all__ = ["Account", "AccountMembership", "Base", "User"]
