"""Token formats: short-lived access JWTs and opaque random secrets (refresh, API, one-time tokens).

Access JWTs are HS256 with a key derived from the secret key for that one purpose, carry an explicit
`typ`, `aud` and `iss`, a string `sub` and the session id (`sid`) so a session can be revoked.
Opaque secrets carry a recognisable prefix and only their SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

ACCESS_TTL = timedelta(minutes=15)
REFRESH_TTL = timedelta(days=7)
INVITATION_TTL = timedelta(days=7)
PASSWORD_RESET_TTL = timedelta(hours=1)
EMAIL_VERIFICATION_TTL = timedelta(days=3)
ISSUER = "parley"
AUDIENCE = "parley:api"
ACCESS_TYP = "access"

PREFIX_PERSONAL = "plyp_"
PREFIX_BOT = "plyb_"
PREFIX_REFRESH = "plyr_"
PREFIX_ONE_TIME = "plyo_"


class InvalidToken(Exception):
    """The token is malformed, forged, expired or of the wrong kind."""


def derive_key(secret_key: str, purpose: str) -> bytes:
    return hmac.new(secret_key.encode(), f"parley:{purpose}".encode(), hashlib.sha256).digest()


@dataclass(frozen=True)
class AccessClaims:
    user_id: int
    session_id: str
    issued_at: datetime
    expires_at: datetime


def issue_access_token(secret_key: str, user_id: int, session_id: str, now: datetime) -> tuple[str, datetime]:
    expires = now + ACCESS_TTL
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(user_id),
        "sid": session_id,
        "typ": ACCESS_TYP,
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
        "jti": uuid.uuid4().hex,
    }
    token = jwt.encode(claims, derive_key(secret_key, "access"), algorithm="HS256", headers={"typ": "at+jwt"})
    return token, expires


# Access tokens verified lately, by their exact text: a request's rate limit and its authentication
# both need the claims, and a dashboard sends the same token for 15 minutes. Expiry is checked on
# every use; the signature only once per token (and key).
_VERIFIED: OrderedDict[tuple[str, str], AccessClaims] = OrderedDict()
_VERIFIED_MAX = 10_000
_LEEWAY = timedelta(seconds=5)


def decode_access_token(secret_key: str, token: str) -> AccessClaims:
    key = (secret_key, token)
    claims = _VERIFIED.get(key)
    if claims is not None:
        if claims.expires_at + _LEEWAY > datetime.now(UTC):
            return claims
        _VERIFIED.pop(key, None)
    claims = _decode_access_token(secret_key, token)
    _VERIFIED[key] = claims
    if len(_VERIFIED) > _VERIFIED_MAX:
        _VERIFIED.popitem(last=False)
    return claims


def _decode_access_token(secret_key: str, token: str) -> AccessClaims:
    try:
        claims = jwt.decode(
            token,
            derive_key(secret_key, "access"),
            algorithms=["HS256"],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "jti", "aud", "iss"]},
            leeway=5,
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(type(exc).__name__) from None
    if claims.get("typ") != ACCESS_TYP or not isinstance(claims.get("sid"), str):
        raise InvalidToken("wrong token type")
    try:
        user_id = int(claims["sub"])
    except (TypeError, ValueError):
        raise InvalidToken("bad subject") from None
    return AccessClaims(
        user_id=user_id,
        session_id=claims["sid"],
        issued_at=datetime.fromtimestamp(claims["iat"], UTC),
        expires_at=datetime.fromtimestamp(claims["exp"], UTC),
    )


def new_secret(prefix: str) -> tuple[str, str]:
    """A new opaque secret and the hash to store."""
    token = prefix + secrets.token_urlsafe(32)
    return token, hash_secret(token)


def hash_secret(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_session_id() -> str:
    return str(uuid.uuid4())


# --- widget contact sessions ---------------------------------------------------------------------------

PREFIX_WIDGET = "plyw_"
WIDGET_TYP = "widget"
WIDGET_AUDIENCE = "parley:widget"


@dataclass(frozen=True)
class WidgetClaims:
    contact_inbox_id: int
    inbox_id: int
    account_id: int
    source_id: str
    expires_at: datetime


def issue_widget_token(
    secret_key: str,
    *,
    contact_inbox_id: int,
    inbox_id: int,
    account_id: int,
    source_id: str,
    now: datetime,
    ttl: timedelta,
) -> str:
    """A contact session of the website widget: scoped to one contact inbox (and with it one inbox and
    account), signed with its own purpose-derived key, so no other kind of token verifies as one."""
    claims = {
        "iss": ISSUER,
        "aud": WIDGET_AUDIENCE,
        "sub": str(contact_inbox_id),
        "inb": inbox_id,
        "acc": account_id,
        "src": source_id,
        "typ": WIDGET_TYP,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
    }
    return PREFIX_WIDGET + jwt.encode(claims, derive_key(secret_key, "widget"), algorithm="HS256")


def is_widget_token(token: str | None) -> bool:
    return token is not None and token.startswith(PREFIX_WIDGET)


def decode_widget_token(secret_key: str, token: str) -> WidgetClaims:
    if not is_widget_token(token):
        raise InvalidToken("not a widget token")
    try:
        claims = jwt.decode(
            token[len(PREFIX_WIDGET) :],
            derive_key(secret_key, "widget"),
            algorithms=["HS256"],
            audience=WIDGET_AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            leeway=5,
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(type(exc).__name__) from None
    if claims.get("typ") != WIDGET_TYP:
        raise InvalidToken("wrong token type")
    try:
        return WidgetClaims(
            int(claims["sub"]),
            int(claims["inb"]),
            int(claims["acc"]),
            str(claims["src"]),
            datetime.fromtimestamp(claims["exp"], UTC),
        )
    except (KeyError, TypeError, ValueError):
        raise InvalidToken("bad claims") from None


# --- device tokens (a login's "device cookie") ----------------------------------------------------------

PREFIX_DEVICE = "plyd_"
DEVICE_TYP = "device"
DEVICE_AUDIENCE = "parley:device"
DEVICE_TTL = timedelta(days=365)


@dataclass(frozen=True)
class DeviceClaims:
    user_id: int
    device_id: str
    issued_at: int  # seconds since the epoch

    def current_for(self, user_id: int, sessions_valid_after: datetime | None) -> bool:
        """A device of this user issued after its sessions were last ended (a password change or
        reset, signing out everywhere): an attacker who once held the password keeps no device."""
        if self.user_id != user_id:
            return False
        return sessions_valid_after is None or self.issued_at >= sessions_valid_after.timestamp()


def issue_device_token(secret_key: str, user_id: int, now: datetime) -> str:
    """Proof that this client once signed in as the user (OWASP's device cookie): sign-in attempts
    that present it are throttled on their own, apart from failures coming from anywhere else. It
    authenticates nothing by itself."""
    claims = {
        "iss": ISSUER,
        "aud": DEVICE_AUDIENCE,
        "sub": str(user_id),
        "jti": uuid.uuid4().hex,
        "typ": DEVICE_TYP,
        "iat": int(now.timestamp()),
        "exp": int((now + DEVICE_TTL).timestamp()),
    }
    return PREFIX_DEVICE + jwt.encode(claims, derive_key(secret_key, "device"), algorithm="HS256")


def decode_device_token(secret_key: str, token: str | None) -> DeviceClaims | None:
    """The device's claims, or None for anything that is not a valid device token."""
    if not token or not token.startswith(PREFIX_DEVICE) or len(token) > 1000:
        return None
    try:
        claims = jwt.decode(
            token[len(PREFIX_DEVICE) :],
            derive_key(secret_key, "device"),
            algorithms=["HS256"],
            audience=DEVICE_AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "jti", "aud", "iss"]},
        )
        if claims.get("typ") != DEVICE_TYP:
            return None
        return DeviceClaims(int(claims["sub"]), str(claims["jti"]), int(claims["iat"]))
    except (jwt.PyJWTError, KeyError, TypeError, ValueError):
        return None
