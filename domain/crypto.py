"""Secrets stored for others (webhook signing secrets, channel credentials) are encrypted at rest with
AES-256-GCM. Each ciphertext names the id of its key, so a new key can be introduced while rows
encrypted with earlier ones stay readable (`secrets_previous_keys`)."""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from infra.settings import Settings

VERSION = "v1"


class DecryptionError(Exception):
    """The ciphertext is damaged, or was made with a key this installation no longer has."""


def _derive(secret_key: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"parley-secrets", info=b"aes-256-gcm").derive(
        secret_key.encode()
    )


def _decode_key(value: str) -> bytes:
    key = base64.b64decode(value + "=" * (-len(value) % 4))
    if len(key) != 32:
        raise ValueError("an encryption key must be 32 bytes (base64)")
    return key


def key_id(key: bytes) -> str:
    """A short public fingerprint of a key (never the key itself)."""
    return hashlib.sha256(b"parley-key-id" + key).hexdigest()[:12]


def keys(settings: Settings) -> tuple[bytes, dict[str, bytes]]:
    """The current key and every key that may read (current first)."""
    current = (
        _decode_key(settings.secrets_encryption_key)
        if settings.secrets_encryption_key
        else _derive(settings.secret_key)
    )
    readable = {key_id(current): current}
    for value in settings.secrets_previous_keys:
        old = _decode_key(value)
        readable.setdefault(key_id(old), old)
    # Rows written before an explicit key was configured used the derived one.
    derived = _derive(settings.secret_key)
    readable.setdefault(key_id(derived), derived)
    return current, readable


def encrypt(plaintext: str, settings: Settings, *, context: bytes = b"") -> str:
    """`v1:<key id>:<base64(nonce + ciphertext)>`; `context` (e.g. the row's kind) is authenticated too."""
    key, _ = keys(settings)
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, plaintext.encode(), context or None)
    return f"{VERSION}:{key_id(key)}:{base64.b64encode(nonce + sealed).decode()}"


def decrypt(token: str, settings: Settings, *, context: bytes = b"") -> str:
    try:
        version, kid, body = token.split(":", 2)
        if version != VERSION:
            raise ValueError(version)
        key = keys(settings)[1][kid]
        raw = base64.b64decode(body)
        return AESGCM(key).decrypt(raw[:12], raw[12:], context or None).decode()
    except Exception as exc:  # one error type for every way this can fail
        raise DecryptionError("cannot decrypt this secret with the configured keys") from exc


def key_id_of(token: str) -> str | None:
    parts = token.split(":", 2)
    return parts[1] if len(parts) == 3 else None
