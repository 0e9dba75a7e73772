"""One webhook request: resolve and vet the host, connect to the vetted address (Host header and TLS
SNI keep the name), no redirects, no proxies from the environment, a total time limit, and a capped
response read. The outcome says whether a retry may help."""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections import OrderedDict
from dataclasses import dataclass

import httpx

from domain.webhooks import ssrf

MAX_RESPONSE_READ = 64 * 1024
MAX_RESPONSE_STORED = 1024
RETRYABLE_STATUS = frozenset({408, 429})
USER_AGENT = "Parley-Webhooks/1"


@dataclass
class Outcome:
    succeeded: bool
    retryable: bool
    status_code: int | None = None
    duration_ms: int = 0
    response_body: str = ""
    error: str | None = None
    remote_ip: str | None = None
    gone: bool = False  # 410: the receiver asks us to stop


def host_of(url: str) -> str:
    """The receiver a URL names (host and port), the unit concurrent deliveries are bounded by."""
    try:
        parsed = httpx.URL(url)
    except Exception:  # noqa: BLE001 - an unparsable URL fails at the request; any key will do
        return url.lower()
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return f"{parsed.host.lower()}:{port}"


def _host_for_url(ip: ssrf.IPAddress) -> str:
    return f"[{ip}]" if isinstance(ip, ipaddress.IPv6Address) else str(ip)


_POOLS: OrderedDict[tuple[int, str, bool], httpx.AsyncHTTPTransport] = OrderedDict()
MAX_POOLS = 256  # host names with open connections kept per event loop


def _pool_for(host: str, allow_private: bool) -> httpx.AsyncHTTPTransport:
    """The connection pool for one host name: a receiver's connections are reused across deliveries,
    and a TLS connection only ever for the name its certificate was checked against (the pools are
    keyed by the vetted IP inside, so one pool per name keeps names apart)."""
    key = (id(asyncio.get_running_loop()), host.lower(), allow_private)
    pool = _POOLS.get(key)
    if pool is not None:
        _POOLS.move_to_end(key)
        return pool
    pool = _POOLS[key] = httpx.AsyncHTTPTransport(retries=0, trust_env=False)
    while len(_POOLS) > MAX_POOLS:
        _, oldest = _POOLS.popitem(last=False)
        task = asyncio.get_running_loop().create_task(oldest.aclose())
        _CLOSING.add(task)
        task.add_done_callback(_CLOSING.discard)
    return pool


_CLOSING: set[asyncio.Task[None]] = set()


class PinnedTransport(httpx.AsyncBaseTransport):
    """Sends each request to an address vetted just before, whatever DNS says at connect time."""

    def __init__(self, *, allow_private: bool) -> None:
        self._allow_private = allow_private
        self.connected_ip: str | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        addresses = await ssrf.vet(str(request.url), allow_private=self._allow_private)
        ip = addresses[0]
        self.connected_ip = str(ip)
        headers = request.headers.copy()
        headers["Host"] = request.url.netloc.decode("ascii")
        extensions = dict(request.extensions)
        if request.url.scheme == "https":
            extensions["sni_hostname"] = host
        pinned = httpx.Request(
            request.method,
            request.url.copy_with(host=str(ip)),
            headers=headers,
            content=request.content,
            extensions=extensions,
        )
        return await _pool_for(host, self._allow_private).handle_async_request(pinned)

    async def aclose(self) -> None:
        """The pools outlive one request: nothing to close here."""


async def post(url: str, body: str, headers: dict[str, str], *, timeout: float, allow_private: bool) -> Outcome:
    transport = PinnedTransport(allow_private=allow_private)
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        async with httpx.AsyncClient(
            transport=transport, follow_redirects=False, trust_env=False, timeout=httpx.Timeout(timeout)
        ) as client:
            async with asyncio.timeout(timeout):
                request_headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers}
                async with client.stream("POST", url, content=body.encode(), headers=request_headers) as response:
                    raw = b""
                    async for chunk in response.aiter_bytes():
                        raw += chunk
                        if len(raw) >= MAX_RESPONSE_READ:
                            break
    except ssrf.TargetRefused as exc:
        return Outcome(
            False, False, duration_ms=elapsed(), error=f"refused: {exc.code}", remote_ip=transport.connected_ip
        )
    except (TimeoutError, httpx.TimeoutException):
        return Outcome(False, True, duration_ms=elapsed(), error="timeout", remote_ip=transport.connected_ip)
    except httpx.HTTPError as exc:
        return Outcome(
            False,
            True,
            duration_ms=elapsed(),
            error=f"connection: {type(exc).__name__}",
            remote_ip=transport.connected_ip,
        )
    except OSError as exc:
        return Outcome(
            False,
            True,
            duration_ms=elapsed(),
            error=f"connection: {type(exc).__name__}",
            remote_ip=transport.connected_ip,
        )
    status = response.status_code
    text = raw[:MAX_RESPONSE_STORED].decode("utf-8", errors="replace")
    ok = 200 <= status < 300
    retryable = not ok and (status >= 500 or status in RETRYABLE_STATUS)
    error = None if ok else ("redirect not followed" if 300 <= status < 400 else f"HTTP {status}")
    return Outcome(
        ok,
        retryable,
        status_code=status,
        duration_ms=elapsed(),
        response_body=text,
        error=error,
        remote_ip=transport.connected_ip,
        gone=status == 410,
    )
