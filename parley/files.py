"""The local storage backend's HTTP side: signed uploads (PUT) and downloads (GET) under /files.

Active content never runs from our origin: downloads carry `X-Content-Type-Options: nosniff` and a
sandboxing Content-Security-Policy, and the disposition signed into the URL (the domain signs
`inline` only for types that are safe to render)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route

from domain.storage import content_disposition, get_storage
from domain.storage.local import LocalStorage, ObjectExists, ObjectTooLarge, SignatureError
from infra.logs import get_logger
from infra.settings import Settings

log = get_logger("parley.files")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cross-Origin-Resource-Policy": "same-site",
    "Referrer-Policy": "no-referrer",
}


def _refused(status: int, text: str) -> Response:
    return PlainTextResponse(text, status_code=status, headers={"Cache-Control": "no-store", **SECURITY_HEADERS})


def files_mount(settings: Settings) -> Mount:
    def local() -> LocalStorage | None:
        storage = get_storage(settings)
        return storage if isinstance(storage, LocalStorage) else None

    async def upload(request: Request) -> Response:
        storage = local()
        if storage is None:
            return _refused(404, "Not found")
        key = request.path_params["key"]
        try:
            grant = storage.verify_upload(key, dict(request.query_params))
        except SignatureError as exc:
            log.info("files.upload_refused", reason=exc.reason)
            return _refused(403, "This upload link is invalid or has expired.")
        sent_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
        if sent_type != grant.content_type:
            return _refused(400, "The Content-Type differs from the one this link was made for.")
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > grant.max_bytes):
            return _refused(413, "The file is larger than this link allows.")
        try:
            size = await storage.write(
                key, request.stream(), content_type=grant.content_type, max_bytes=grant.max_bytes, replace=False
            )
        except ObjectTooLarge:
            return _refused(413, "The file is larger than this link allows.")
        except ObjectExists:
            return _refused(409, "This file was already uploaded.")
        if size == 0:
            await storage.delete(key)
            return _refused(400, "The file is empty.")
        return Response(status_code=204, headers={"Cache-Control": "no-store"})

    async def download(request: Request) -> Response:
        storage = local()
        if storage is None:
            return _refused(404, "Not found")
        try:
            grant = storage.verify_download(request.path_params["key"], dict(request.query_params))
        except SignatureError as exc:
            log.info("files.download_refused", reason=exc.reason)
            return _refused(403, "This download link is invalid or has expired.")
        path = storage.data_path(grant.key)
        if not path.is_file():
            return _refused(404, "Not found")
        headers = {
            "Content-Disposition": content_disposition(grant.file_name, inline=grant.inline),
            "Cache-Control": "private, max-age=60",
            **SECURITY_HEADERS,
        }
        return FileResponse(path, media_type=grant.content_type, headers=headers)

    return Mount(
        "/files",
        routes=[
            Route("/upload/{key:path}", upload, methods=["PUT"], max_body_size=settings.storage_max_upload_bytes),
            Route("/download/{key:path}", download, methods=["GET", "HEAD"]),
        ],
    )
