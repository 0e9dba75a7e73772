"""Local-disk storage, the embedded default: objects are files under one directory, uploaded and
downloaded through Parley's own `/files` routes with HMAC-signed, expiring URLs.

The signature covers the method, the key, the expiry and every parameter that shapes the request
(size cap and content type of an upload; file name, type and disposition of a download), so none
of them can be changed without invalidating the URL. Keys are checked against path traversal; an
object can be uploaded once (a presigned upload cannot replace a file that was already verified)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from domain.storage import PresignedUpload, StoredObject

if TYPE_CHECKING:
    from infra.settings import Settings

KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*(/[A-Za-z0-9][A-Za-z0-9_.\-]*)*$")
UPLOAD_PATH = "/files/upload/"
DOWNLOAD_PATH = "/files/download/"


class InvalidKey(ValueError):
    pass


class SignatureError(Exception):
    """A URL that is not ours, was changed, or has expired; `reason` is for logs only."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ObjectTooLarge(Exception):
    pass


class ObjectExists(Exception):
    pass


@dataclass(frozen=True)
class UploadGrant:
    key: str
    max_bytes: int
    content_type: str


@dataclass(frozen=True)
class DownloadGrant:
    key: str
    file_name: str
    content_type: str
    inline: bool


def check_key(key: str) -> str:
    if len(key) > 512 or not KEY_RE.match(key) or any(part in (".", "..") for part in key.split("/")):
        raise InvalidKey("invalid storage key")
    return key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class LocalStorage:
    def __init__(self, root: Path, base_url: str, signing_key: bytes) -> None:
        self.root = Path(root).resolve()
        self.base_url = base_url.rstrip("/")
        self._key = signing_key

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalStorage:
        return cls(
            settings.storage_directory, settings.storage_public_url or settings.base_url, settings.storage_signing_key
        )

    # --- paths ---------------------------------------------------------------------------------

    def _path(self, tree: str, key: str) -> Path:
        check_key(key)
        path = (self.root / tree / key).resolve()
        if not path.is_relative_to(self.root / tree):
            raise InvalidKey("invalid storage key")
        return path

    def data_path(self, key: str) -> Path:
        return self._path("data", key)

    def _meta_path(self, key: str) -> Path:
        return self._path("meta", key)

    # --- signing -------------------------------------------------------------------------------

    def _sign(self, *parts: str) -> str:
        message = json.dumps(parts, ensure_ascii=True).encode()  # unambiguous, whatever the parts hold
        return _b64(hmac.new(self._key, message, hashlib.sha256).digest())

    def _check(self, signature: str, expires: str, now: float | None, *parts: str) -> None:
        if not expires.isdigit():
            raise SignatureError("malformed expiry")
        expected = self._sign(*parts)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise SignatureError("bad signature")
        if int(expires) < (time.time() if now is None else now):
            raise SignatureError("expired")

    def upload_url(self, key: str, *, content_type: str, max_bytes: int, expires_at: int) -> str:
        sig = self._sign("PUT", check_key(key), str(expires_at), str(max_bytes), content_type)
        query = urlencode({"exp": expires_at, "max": max_bytes, "type": content_type, "sig": sig})
        return f"{self.base_url}{UPLOAD_PATH}{quote(key)}?{query}"

    def verify_upload(self, key: str, params: dict[str, str], now: float | None = None) -> UploadGrant:
        try:
            exp, max_bytes, content_type, sig = params["exp"], params["max"], params["type"], params["sig"]
            check_key(key)
        except (KeyError, InvalidKey):
            raise SignatureError("missing parameters") from None
        self._check(sig, exp, now, "PUT", key, exp, max_bytes, content_type)
        return UploadGrant(key=key, max_bytes=int(max_bytes), content_type=content_type)

    def verify_download(self, key: str, params: dict[str, str], now: float | None = None) -> DownloadGrant:
        try:
            exp, name, content_type, inline, sig = (
                params["exp"],
                params["name"],
                params["type"],
                params["inline"],
                params["sig"],
            )
            check_key(key)
        except (KeyError, InvalidKey):
            raise SignatureError("missing parameters") from None
        self._check(sig, exp, now, "GET", key, exp, name, content_type, inline)
        return DownloadGrant(key=key, file_name=name, content_type=content_type, inline=inline == "1")

    # --- writing -------------------------------------------------------------------------------

    async def write(
        self,
        key: str,
        chunks: AsyncIterator[bytes],
        *,
        content_type: str,
        max_bytes: int | None = None,
        replace: bool = True,
    ) -> int:
        """Stream into a temporary file and move it into place; nothing is left behind on failure."""
        target, meta = self.data_path(key), self._meta_path(key)
        if not replace and target.exists():
            raise ObjectExists(key)
        tmp_dir = self.root / "tmp"
        await asyncio.to_thread(tmp_dir.mkdir, parents=True, exist_ok=True)
        tmp = tmp_dir / uuid.uuid4().hex
        total = 0
        try:
            with open(tmp, "wb") as out:
                async for chunk in chunks:
                    total += len(chunk)
                    if max_bytes is not None and total > max_bytes:
                        raise ObjectTooLarge(key)
                    out.write(chunk)

            def place() -> None:
                target.parent.mkdir(parents=True, exist_ok=True)
                meta.parent.mkdir(parents=True, exist_ok=True)
                meta.write_text(json.dumps({"content_type": content_type}))
                if replace:
                    os.replace(tmp, target)
                else:
                    os.link(tmp, target)  # fails if another upload won the race
                    tmp.unlink()

            try:
                await asyncio.to_thread(place)
            except FileExistsError:
                raise ObjectExists(key) from None
            return total
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    # --- the Storage protocol -----------------------------------------------------------------

    async def presign_upload(self, key: str, *, content_type: str, max_bytes: int, expires_in: int) -> PresignedUpload:
        url = self.upload_url(
            key, content_type=content_type, max_bytes=max_bytes, expires_at=int(time.time()) + expires_in
        )
        return PresignedUpload(url=url, method="PUT", headers={"Content-Type": content_type}, expires_in=expires_in)

    async def head(self, key: str) -> StoredObject | None:
        path, meta = self.data_path(key), self._meta_path(key)

        def stat() -> StoredObject | None:
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                return None
            try:
                content_type = json.loads(meta.read_text()).get("content_type")
            except (FileNotFoundError, ValueError):
                content_type = None
            return StoredObject(key=key, byte_size=size, content_type=content_type)

        return await asyncio.to_thread(stat)

    async def read_prefix(self, key: str, length: int) -> bytes:
        path = self.data_path(key)

        def read() -> bytes:
            with open(path, "rb") as f:
                return f.read(max(length, 0))

        return await asyncio.to_thread(read)

    async def put_stream(self, key: str, chunks: AsyncIterator[bytes], *, content_type: str) -> int:
        return await self.write(key, chunks, content_type=content_type)

    async def download_url(
        self, key: str, *, file_name: str, content_type: str, expires_in: int, inline: bool = False
    ) -> str:
        expires_at = int(time.time()) + expires_in
        flag = "1" if inline else "0"
        sig = self._sign("GET", check_key(key), str(expires_at), file_name, content_type, flag)
        query = urlencode({"exp": expires_at, "name": file_name, "type": content_type, "inline": flag, "sig": sig})
        return f"{self.base_url}{DOWNLOAD_PATH}{quote(key)}?{query}"

    async def delete(self, key: str) -> None:
        paths = (self.data_path(key), self._meta_path(key))

        def remove() -> None:
            for path in paths:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()

        await asyncio.to_thread(remove)
