"""File storage: S3-compatible (aiobotocore) in production, local disk on the embedded default.

The interface every implementation follows; `get_storage(settings)` picks one from the settings.
Keys are ours (`accounts/<id>/…`), never a client's file name; file names only travel in the
Content-Disposition of download links."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol
from urllib.parse import quote

if TYPE_CHECKING:
    from infra.settings import Settings


@dataclass(frozen=True)
class PresignedUpload:
    url: str
    method: str  # "POST" (form fields) or "PUT" (headers)
    fields: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    expires_in: int = 600


@dataclass(frozen=True)
class StoredObject:
    key: str
    byte_size: int
    content_type: str | None


class Storage(Protocol):
    async def presign_upload(
        self, key: str, *, content_type: str, max_bytes: int, expires_in: int
    ) -> PresignedUpload: ...

    async def head(self, key: str) -> StoredObject | None: ...

    async def read_prefix(self, key: str, length: int) -> bytes: ...

    async def put_stream(self, key: str, chunks: AsyncIterator[bytes], *, content_type: str) -> int: ...

    async def download_url(
        self, key: str, *, file_name: str, content_type: str, expires_in: int, inline: bool = False
    ) -> str: ...

    async def delete(self, key: str) -> None: ...


class StorageError(Exception):
    """Storage did not answer as expected (unreachable, refused); the message is for logs only."""


def content_disposition(file_name: str, *, inline: bool) -> str:
    """RFC 6266: an ASCII fallback and the UTF-8 name, so no header injection whatever the name."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\;' else "_" for c in file_name) or "file"
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(file_name, safe='')}"


_instances: dict[int, tuple[object, Storage]] = {}


def get_storage(settings: Settings) -> Storage:
    """The storage these settings describe; one instance per settings object (it holds no
    connection, so it is safe to share between event loops)."""
    found = _instances.get(id(settings))
    if found is not None and found[0] is settings:
        return found[1]
    from infra.settings import StorageBackend

    storage: Storage
    if settings.effective_storage_backend == StorageBackend.s3:
        from domain.storage.s3 import S3Storage

        storage = S3Storage.from_settings(settings)
    else:
        from domain.storage.local import LocalStorage

        storage = LocalStorage.from_settings(settings)
    _instances[id(settings)] = (settings, storage)
    return storage
