"""The SSRF guard: article links come from third parties, so a full-text fetch
must not reach private, loopback or link-local addresses (cloud metadata at
169.254.169.254, admin panels on 10.x, services on localhost), also through
redirects: every hop is checked before it is requested.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit


def address_refusal(address: str) -> str | None:
    """Why this IP may not be fetched, or None when it is a public address."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"{address} is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for label, flag in (
        ("loopback", ip.is_loopback),
        ("private", ip.is_private),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("unspecified", ip.is_unspecified),
    ):
        if flag:
            return f"{ip} is a {label} address"
    if not ip.is_global:
        return f"{ip} is not a public address"
    return None


async def url_refusal(url: str) -> str | None:
    """Why fetching this URL is refused (resolving its host), or None when it may be fetched."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"refused {url!r}: only http(s) URLs with a host are fetched"
    host = parts.hostname
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
    except OSError as error:
        return f"refused {url}: cannot resolve {host} ({error.strerror or error})"
    for info in infos:
        reason = address_refusal(info[4][0])
        if reason:
            return f"refused {url}: {host} resolves to {reason} (SSRF guard; [polling] allow_private_addresses = true allows it)"
    return None
