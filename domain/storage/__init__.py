"""File storage: S3-compatible (aiobotocore) in production, local disk on the embedded default.

The interface every implementation follows; `get_storage(settings)` picks one from the settings.
(The implementations arrive with the attachments work.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol


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
    async def presign_upload(self, key: str, *, content_type: str, max_bytes: int, expires_in: int) -> PresignedUpload: ...

    async def head(self, key: str) -> StoredObject | None: ...

    async def read_prefix(self, key: str, length: int) -> bytes: ...

    async def put_stream(self, key: str, chunks: AsyncIterator[bytes], *, content_type: str) -> int: ...

    async def download_url(self, key: str, *, file_name: str, content_type: str, expires_in: int,
                           inline: bool = False) -> str: ...

    async def delete(self, key: str) -> None: ...
