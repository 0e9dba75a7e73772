"""`POST /mail/inbound`: the raw MIME of one email from a relay service, with the installation's
inbound secret (`X-Parley-Mail-Secret`, or `Authorization: Bearer`). Answers 202 with what became
of it; 401 for a wrong secret (nothing written), 413 for a mail over `PARLEY_MAIL_MAX_BYTES`, 422
for MIME that cannot be read and for an address no inbox has (recorded, no message)."""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from domain.attachments import AttachmentConfig
from domain.events.relay import Relay
from domain.inbound_email.enums import InboundSource
from domain.inbound_email.receive import InboundConfig, deliver
from infra.logs import get_logger
from infra.settings import Settings

log = get_logger("parley.mail")
HEADER = "x-parley-mail-secret"


def _refused(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _authorized(request: Request, secret: str) -> bool:
    given = request.headers.get(HEADER, "")
    auth = request.headers.get("authorization", "")
    if not given and auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    return bool(given) and hmac.compare_digest(given.encode(), secret.encode())


def routes(settings: Settings) -> list[Route]:
    limit = settings.mail_max_bytes

    async def inbound(request: Request) -> JSONResponse:
        if not settings.mail_inbound_secret:
            return _refused(404, "NOT_FOUND", "The inbound email endpoint is off (PARLEY_MAIL_INBOUND_SECRET).")
        if not _authorized(request, settings.mail_inbound_secret):
            return _refused(401, "UNAUTHORIZED", f"Send the inbound secret in {HEADER} or as a bearer token.")
        too_large = f"An email may have at most {limit:,} bytes."
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return _refused(413, "TOO_LARGE", too_large)
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                return _refused(413, "TOO_LARGE", too_large)
            chunks.append(chunk)
        services = request.app.state.services
        config = InboundConfig(settings, AttachmentConfig.from_settings(settings))
        recipients = [r for r in request.query_params.getlist("recipient") if r]
        receipt = await deliver(
            services.sessions,
            Relay.of(services),
            config,
            b"".join(chunks),
            source=InboundSource.HTTP,
            envelope_recipients=recipients,
        )
        log.info("mail.inbound", source="http", status=receipt.status.value, inbound_email_id=receipt.inbound_email_id)
        if receipt.refusal == "TOO_LARGE":
            return _refused(413, "TOO_LARGE", receipt.error)
        if receipt.refusal is not None:
            return _refused(422, receipt.refusal, receipt.error)
        return JSONResponse(
            {
                "status": receipt.status.value,
                "inboundEmailId": receipt.inbound_email_id,
                "error": receipt.error or None,
            },
            status_code=202,
        )

    # Starlette's own cap stands far above ours, so a mail just over the limit gets the clear answer above.
    return [Route("/mail/inbound", inbound, methods=["POST"], max_body_size=4 * limit)]
