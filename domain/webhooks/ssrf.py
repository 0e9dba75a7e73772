"""Webhook targets are tenant-supplied URLs: refuse those that reach private, loopback, link-local,
multicast, reserved or metadata addresses — at save time, and again on the address actually
connected to (the transport connects to the vetted IP, so DNS rebinding cannot slip in between)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Beyond what `is_global` already rules out: shared address space, NAT64 and 6to4 wrappers.
_EXTRA_BLOCKED = [
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "100.64.0.0/10",
        "192.0.0.0/24",
        "198.18.0.0/15",
        "64:ff9b::/96",
        "64:ff9b:1::/48",
        "2002::/16",
    )
]
MAX_URL = 2048


class TargetRefused(Exception):
    """The URL may not be used as a webhook target; `code` says why, the message is safe to show."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def address_allowed(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if ip.ipv4_mapped is not None:
            return address_allowed(ip.ipv4_mapped)
        if embedded is not None and not address_allowed(embedded):
            return False
    if (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    ):
        return False
    return not any(ip in net for net in _EXTRA_BLOCKED)


def parse_target(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an acceptable URL's shape; TargetRefused otherwise."""
    if len(url) > MAX_URL:
        raise TargetRefused("TOO_LONG", f"At most {MAX_URL} characters.")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise TargetRefused("INVALID_URL", "Not a valid URL.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused("INVALID_URL", "Use an http:// or https:// URL with a host name.")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("INVALID_URL", "Credentials in the URL are not allowed.")
    host = parts.hostname.rstrip(".").lower()
    if not host:
        raise TargetRefused("INVALID_URL", "Use an http:// or https:// URL with a host name.")
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80)


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    # Forms like 2130706433, 0x7f.1 or 017700000001 that resolvers accept as IPv4.
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


async def resolve(host: str, port: int) -> list[IPAddress]:
    literal = _literal(host)
    if literal is not None:
        return [literal]
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), 10)
    except (OSError, TimeoutError):
        raise TargetRefused("UNRESOLVABLE", "The host name does not resolve.") from None
    seen: list[IPAddress] = []
    for *_, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in seen:
            seen.append(ip)
    if not seen:
        raise TargetRefused("UNRESOLVABLE", "The host name does not resolve.")
    return seen


async def vet(url: str, *, allow_private: bool) -> list[IPAddress]:
    """The addresses the URL's host resolves to, all of them allowed; TargetRefused otherwise
    (one forbidden answer refuses the whole host: a resolver may hand out either)."""
    _, host, port = parse_target(url)
    addresses = await resolve(host, port)
    if not allow_private:
        for ip in addresses:
            if not address_allowed(ip):
                raise TargetRefused(
                    "FORBIDDEN_TARGET", "The URL reaches a private, loopback, link-local or reserved address."
                )
    return addresses


async def vet_host(host: str, port: int, *, allow_private: bool) -> None:
    """For other outbound connections an administrator configures (an inbox's IMAP and SMTP servers):
    TargetRefused unless every address the host resolves to is allowed, or private targets are."""
    if allow_private:
        return
    for ip in await resolve(host, port):
        if not address_allowed(ip):
            raise TargetRefused(
                "FORBIDDEN_TARGET", "The host reaches a private, loopback, link-local or reserved address."
            )
