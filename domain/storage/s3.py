"""S3-compatible storage (AWS S3, MinIO) through aiobotocore.

Network calls (HEAD, ranged GET, PUT, DELETE) use an aiobotocore client opened for the call, so an
instance holds no connection and works from any event loop (API and worker threads). Presigning is
pure computation: it uses one botocore client of the same configuration, created once, and can put a
public endpoint into URLs when clients reach storage by another address than the server does."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from domain.storage import PresignedUpload, StorageError, StoredObject, content_disposition

if TYPE_CHECKING:
    from infra.settings import Settings

PART_SIZE = 8 * 1024 * 1024  # multipart parts (S3's minimum is 5 MiB, except the last)
MISSING_CODES = {"404", "NoSuchKey", "NotFound"}


@dataclass(frozen=True)
class S3Config:
    bucket: str
    region: str = "us-east-1"
    endpoint_url: str | None = None
    public_endpoint_url: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    path_style: bool = False


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class S3Storage:
    def __init__(self, config: S3Config) -> None:
        if not config.bucket:
            raise ValueError("an S3 bucket is required")
        self.config = config
        self._session: Any = None
        self._signer: Any = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Storage:
        endpoint = settings.s3_endpoint_url or None
        path_style = settings.s3_path_style if settings.s3_path_style is not None else bool(endpoint)
        return cls(
            S3Config(
                bucket=settings.s3_bucket,
                region=settings.s3_region,
                endpoint_url=endpoint,
                public_endpoint_url=settings.s3_public_endpoint_url or endpoint,
                access_key_id=settings.s3_access_key_id or None,
                secret_access_key=settings.s3_secret_access_key or None,
                path_style=path_style,
            )
        )

    def _client_kwargs(self, endpoint: str | None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"region_name": self.config.region}
        if endpoint:
            kwargs["endpoint_url"] = endpoint
        if self.config.access_key_id:
            kwargs["aws_access_key_id"] = self.config.access_key_id
            kwargs["aws_secret_access_key"] = self.config.secret_access_key
        return kwargs

    def _s3_options(self) -> dict[str, Any]:
        return {"addressing_style": "path" if self.config.path_style else "virtual"}

    @contextlib.asynccontextmanager
    async def _client(self) -> AsyncIterator[Any]:
        from aiobotocore.config import AioConfig
        from aiobotocore.session import get_session

        with self._lock:
            if self._session is None:
                self._session = get_session()  # caches the service model between clients
        config = AioConfig(
            signature_version="s3v4",
            s3=self._s3_options(),
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=30,
        )
        async with self._session.create_client(
            "s3", config=config, **self._client_kwargs(self.config.endpoint_url)
        ) as client:
            yield client

    def _signing_client(self) -> Any:
        with self._lock:
            if self._signer is None:
                import botocore.session
                from botocore.config import Config

                self._signer = botocore.session.get_session().create_client(
                    "s3",
                    config=Config(signature_version="s3v4", s3=self._s3_options()),
                    **self._client_kwargs(self.config.public_endpoint_url),
                )
            return self._signer

    # --- the Storage protocol ---------------------------------------------------------------------

    async def presign_upload(self, key: str, *, content_type: str, max_bytes: int, expires_in: int) -> PresignedUpload:
        """A presigned POST whose policy pins the key, the Content-Type and the size range; S3 refuses
        any other upload with it (moto does not check policies: tests decode the policy instead)."""
        post = self._signing_client().generate_presigned_post(
            Bucket=self.config.bucket,
            Key=key,
            Fields={"Content-Type": content_type},
            Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, max_bytes]],
            ExpiresIn=expires_in,
        )
        return PresignedUpload(url=post["url"], method="POST", fields=dict(post["fields"]), expires_in=expires_in)

    async def head(self, key: str) -> StoredObject | None:
        try:
            async with self._client() as client:
                found = await client.head_object(Bucket=self.config.bucket, Key=key)
        except Exception as exc:  # botocore's ClientError and connection errors
            if _error_code(exc) in MISSING_CODES:
                return None
            raise StorageError(f"HEAD {key} failed: {type(exc).__name__}") from exc
        return StoredObject(key=key, byte_size=int(found["ContentLength"]), content_type=found.get("ContentType"))

    async def read_prefix(self, key: str, length: int) -> bytes:
        if length <= 0:
            return b""
        try:
            async with self._client() as client:
                found = await client.get_object(Bucket=self.config.bucket, Key=key, Range=f"bytes=0-{length - 1}")
                async with found["Body"] as body:
                    data: bytes = await body.read()
        except Exception as exc:
            code = _error_code(exc)
            if code == "InvalidRange":  # an empty object
                return b""
            if code in MISSING_CODES:
                raise StorageError(f"{key} does not exist") from exc
            raise StorageError(f"GET {key} failed: {type(exc).__name__}") from exc
        return data[:length]

    async def put_stream(self, key: str, chunks: AsyncIterator[bytes], *, content_type: str) -> int:
        """Small bodies in one PUT; larger ones as a multipart upload (aborted on failure)."""
        bucket = self.config.bucket
        async with self._client() as client:
            buffer = bytearray()
            total = 0
            upload_id: str | None = None
            parts: list[dict[str, Any]] = []
            try:
                async for chunk in chunks:
                    buffer += chunk
                    total += len(chunk)
                    while len(buffer) >= PART_SIZE:
                        if upload_id is None:
                            started = await client.create_multipart_upload(
                                Bucket=bucket, Key=key, ContentType=content_type
                            )
                            upload_id = started["UploadId"]
                        part = bytes(buffer[:PART_SIZE])
                        del buffer[:PART_SIZE]
                        sent = await client.upload_part(
                            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=len(parts) + 1, Body=part
                        )
                        parts.append({"PartNumber": len(parts) + 1, "ETag": sent["ETag"]})
                if upload_id is None:
                    await client.put_object(Bucket=bucket, Key=key, Body=bytes(buffer), ContentType=content_type)
                    return total
                if buffer:
                    sent = await client.upload_part(
                        Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=len(parts) + 1, Body=bytes(buffer)
                    )
                    parts.append({"PartNumber": len(parts) + 1, "ETag": sent["ETag"]})
                await client.complete_multipart_upload(
                    Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
                )
                return total
            except BaseException:
                if upload_id is not None:
                    with contextlib.suppress(Exception):
                        await client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
                raise

    async def download_url(
        self, key: str, *, file_name: str, content_type: str, expires_in: int, inline: bool = False
    ) -> str:
        url: str = self._signing_client().generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.config.bucket,
                "Key": key,
                "ResponseContentDisposition": content_disposition(file_name, inline=inline),
                "ResponseContentType": content_type,
            },
            ExpiresIn=expires_in,
        )
        return url

    async def delete(self, key: str) -> None:
        """Idempotent: S3 answers 204 for a key that is already gone."""
        try:
            async with self._client() as client:
                await client.delete_object(Bucket=self.config.bucket, Key=key)
        except Exception as exc:
            if _error_code(exc) in MISSING_CODES:
                return
            raise StorageError(f"DELETE {key} failed: {type(exc).__name__}") from exc
