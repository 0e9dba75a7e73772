"""The per-conversation reply address, `reply+<conversation id>.<signature>@<inbox domain>`: outgoing
replies carry it as Reply-To, so a customer's answer finds its conversation even when the client
drops the threading headers, or puts the address in Cc. The signature (HMAC with the installation's
secret key) makes the addresses of other conversations unguessable."""

from __future__ import annotations

import hashlib
import hmac
import re

from infra.settings import Settings

REPLY_RE = re.compile(r"^reply\+(\d{1,18})\.([0-9a-f]{20})@([^@\s]+)$")


def _signature(conversation_id: int, settings: Settings) -> str:
    key = hashlib.sha256(b"parley-reply-address" + settings.secret_key.encode()).digest()
    return hmac.new(key, str(conversation_id).encode(), hashlib.sha256).hexdigest()[:20]


def reply_address(conversation_id: int, inbox_address: str, settings: Settings) -> str:
    domain = inbox_address.rpartition("@")[2]
    return f"reply+{conversation_id}.{_signature(conversation_id, settings)}@{domain}"


def conversation_of(address: str, settings: Settings) -> int | None:
    """The conversation a reply address names, when its signature holds."""
    found = REPLY_RE.match(address.lower())
    if found is None:
        return None
    conversation_id = int(found.group(1))
    return conversation_id if hmac.compare_digest(found.group(2), _signature(conversation_id, settings)) else None
