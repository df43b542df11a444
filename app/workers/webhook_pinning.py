"""Delivery-time target checks: resolve the endpoint's host once, check every address under
the target policy, and hand the worker a URL that names the checked address itself.

Connecting to the address that was checked is what defeats DNS rebinding: were the worker to
pass the host name to the HTTP client, the client would resolve it again, and a name can answer
a public address to the check and 127.0.0.1 to the connection. The request keeps the original
`Host` header and, for https, the original name as TLS SNI (httpx's `sni_hostname` extension),
so virtual hosts and certificate verification work as if the name had been used.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from app.domain.outbound.targets import (
    IPAddress,
    TargetPolicy,
    TargetRefused,
    check_addresses,
    check_url,
)

Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    """The host's addresses as the operating system resolves them (getaddrinfo)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


@dataclass(frozen=True)
class PinnedTarget:
    """Where one attempt goes: `url` has the checked address as its host."""

    url: httpx.URL
    address: IPAddress
    host_header: str
    sni_hostname: str | None

    @property
    def extensions(self) -> dict[str, str]:
        return {"sni_hostname": self.sni_hostname} if self.sni_hostname else {}


async def pin(url_text: str, policy: TargetPolicy, resolve: Resolver) -> PinnedTarget:
    """The checked target of `url_text`. Raises TargetRefused / MalformedTarget (policy),
    OSError (the name does not resolve)."""
    check_url(url_text, policy)  # also refuses URLs stored before the policy existed
    url = httpx.URL(url_text)
    host = url.raw_host.decode("ascii")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        addresses: list[IPAddress] = [ipaddress.ip_address(host)]
        literal = True
    except ValueError:
        addresses = await resolve(host, port)
        literal = False
    if not addresses:
        raise TargetRefused(f"{host} has no address")
    check_addresses(host, addresses, policy)
    address = addresses[0]
    return PinnedTarget(
        url=url.copy_with(host=str(address)),
        address=address,
        host_header=url.netloc.decode("ascii"),
        sni_hostname=host if url.scheme == "https" and not literal else None,
    )
