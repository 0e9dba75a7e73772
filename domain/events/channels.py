"""Names of the broadcast channels, built in one place: the relay publishes committed events to
them, the streams subscribe to them, and ephemeral signals (typing, presence, ended sessions) go
over them too."""

from __future__ import annotations

from db.models import Event

# Ids of sessions that ended (sign-out, password change, removed membership): open sockets close.
SESSIONS_REVOKED_CHANNEL = "auth:sessions-revoked"
# Something authentication reads changed (a session, a membership, a role, a token, an account): every
# process forgets the credentials it had resolved (domain/accounts/auth_cache.py).
AUTH_CHANGED_CHANNEL = "auth:changed"
# A Redis counter the relay increments before announcing on AUTH_CHANGED_CHANNEL; every request reads
# it with its limits, so a process forgets stale credentials before the announcement arrives.
AUTH_EPOCH_KEY = "parley:auth:epoch"


def account_channel(account_id: int) -> str:
    return f"account:{account_id}"


def conversation_channel(conversation_id: int) -> str:
    return f"conversation:{conversation_id}"


def contact_channel(contact_id: int) -> str:
    """The website widget's stream of one contact."""
    return f"contact:{contact_id}"


def user_channel(account_id: int, user_id: int) -> str:
    return f"user:{account_id}:{user_id}"


def diagnostics_channel(topic: str) -> str:
    """Where a diagnostics ping travels (API or worker to subscriber)."""
    return f"diagnostics:{topic}"


def event_channels(event: Event) -> list[str]:
    """Where a committed event is announced: its one recipient's channel, or the account's and
    those of the conversation and contact it concerns."""
    if event.recipient_user_id is not None:
        return [user_channel(event.account_id, event.recipient_user_id)]
    channels = [account_channel(event.account_id)]
    if event.conversation_id is not None:
        channels.append(conversation_channel(event.conversation_id))
    if event.contact_id is not None:
        channels.append(contact_channel(event.contact_id))
    return channels
