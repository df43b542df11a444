"""Where webhooks may be sent: the target policy (docs/webhooks.md, "Target policy").

A webhook URL is chosen by whoever holds a server key, and the worker sends requests to it from
inside the installation's network and logs the first 2 KB of each answer. Without a policy that
is a server-side request forgery: the URL could name the cloud metadata service, the database
host or anything listening on loopback. So a target is refused when its address is loopback,
private, link-local, multicast, unspecified or otherwise not globally routable, in whichever
spelling it is written (`127.1`, `2130706433`, `0x7f000001`, `[::ffff:127.0.0.1]` are all
127.0.0.1). The check runs twice: on the URL as written (create, update, replay), and at each
delivery on the addresses its host name resolves to; the worker then connects to exactly the
address it checked, so a second DNS answer cannot swap the target (DNS rebinding).

Operators of intranet installs relax the policy with ALLOT_WEBHOOK_ALLOW_PRIVATE (private
ranges only) or ALLOT_WEBHOOK_ALLOWED_CIDRS (any listed network, loopback included).
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

PRIVATE = "private"

# (network, why it is refused). Checked in order; the first match names the reason.
_REFUSED: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(net), reason)
    for net, reason in (
        ("0.0.0.0/8", "unspecified"),
        ("10.0.0.0/8", PRIVATE),
        ("100.64.0.0/10", PRIVATE),  # shared address space (carrier-grade NAT)
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),  # includes the cloud metadata service 169.254.169.254
        ("172.16.0.0/12", PRIVATE),
        ("192.0.0.0/24", "reserved"),
        ("192.0.2.0/24", "reserved"),
        ("192.88.99.0/24", "reserved"),
        ("192.168.0.0/16", PRIVATE),
        ("198.18.0.0/15", "reserved"),
        ("198.51.100.0/24", "reserved"),
        ("203.0.113.0/24", "reserved"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),  # and 255.255.255.255, the broadcast address
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("::/96", "reserved"),  # IPv4-compatible addresses (deprecated)
        ("64:ff9b:1::/48", PRIVATE),  # local-use NAT64
        ("100::/64", "reserved"),  # discard-only
        ("2001:db8::/32", "reserved"),  # documentation
        ("fc00::/7", PRIVATE),  # unique local addresses
        ("fe80::/10", "link-local"),
        ("fec0::/10", PRIVATE),  # site-local (deprecated)
        ("ff00::/8", "multicast"),
    )
)

# IPv6 ranges that carry an IPv4 address which is where the packets really go.
_MAPPED = ipaddress.ip_network("::ffff:0:0/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
_HOST_NAME = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*$")
_NUMBER = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")


class TargetRefused(Exception):
    """The URL may not receive webhooks under the policy; the message says why."""


class MalformedTarget(Exception):
    """The URL's host is not a valid host name or address."""


@dataclass(frozen=True)
class TargetPolicy:
    """The operator's relaxations: private ranges, and/or networks allowed outright."""

    allow_private: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def of(cls, allow_private: bool, cidrs: Iterable[str]) -> TargetPolicy:
        return cls(allow_private, tuple(parse_cidr(c) for c in cidrs))

    def refusal(self, address: IPAddress) -> str | None:
        """Why `address` may not be a target (e.g. "127.0.0.1 is loopback"), or None."""
        candidates = [address, *_embedded_ipv4(address)]
        if any(c in net for c in candidates for net in self.allowed_networks):
            return None
        for candidate in candidates:
            reason = _reason(candidate)
            if reason is not None and not (reason == PRIVATE and self.allow_private):
                shown = "" if candidate == address else f" ({candidate})"
                return f"{address}{shown} is {reason}"
        return None


def parse_cidr(text: str) -> IPNetwork:
    """A network as an operator writes it ("10.0.0.0/8", "::1/128", or one address)."""
    return ipaddress.ip_network(text.strip(), strict=False)


def _embedded_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """The IPv4 address an IPv6 address forwards to (mapped, NAT64, 6to4), if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    if address in _MAPPED or address in _NAT64:
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    if address in _SIX_TO_FOUR:
        return [ipaddress.IPv4Address((int(address) >> 80) & 0xFFFFFFFF)]
    return []


def _reason(address: IPAddress) -> str | None:
    for network, reason in _REFUSED:
        if address.version == network.version and address in network:
            return reason
    if address in _MAPPED or address in _NAT64 or address in _SIX_TO_FOUR:
        return None  # judged by the IPv4 address inside
    if not address.is_global:  # a backstop for ranges the table does not name
        return "not a public address"
    return None


def parse_ipv4_number_form(host: str) -> ipaddress.IPv4Address | None:
    """A host written as an IPv4 address in any form resolvers accept (inet_aton, WHATWG):
    1 to 4 parts in decimal, octal (leading 0) or hex (0x), the last filling the remaining
    bytes: "127.1", "2130706433", "0x7f000001", "0177.0.0.1". None when the host is a name;
    MalformedTarget when it looks numeric but is no address (a resolver might still read it)."""
    parts = host.split(".")
    if parts and parts[-1] == "":
        parts = parts[:-1]
    if not parts or not _NUMBER.match(parts[-1]):
        return None
    if len(parts) > 4 or not all(_NUMBER.match(p) for p in parts):
        raise MalformedTarget(f"{host!r} is neither a host name nor an IPv4 address")
    numbers = []
    for part in parts:
        if part.startswith("0x"):
            numbers.append(int(part[2:] or "0", 16))
        elif len(part) > 1 and part.startswith("0"):
            if not all(c in "01234567" for c in part):
                raise MalformedTarget(f"{host!r} is not an IPv4 address")
            numbers.append(int(part, 8))
        else:
            numbers.append(int(part))
    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 256 ** (5 - len(numbers)):
        raise MalformedTarget(f"{host!r} is not an IPv4 address (a part is out of range)")
    value = last
    for i, n in enumerate(leading):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def normalized_host(raw: str) -> str:
    """The host as a resolver sees it: IDNA/NFKC-folded (fullwidth "localhost" is localhost),
    lower case, without the root dot."""
    host = unicodedata.normalize("NFKC", raw).lower()
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise MalformedTarget(f"{raw!r} is not a valid host name") from None
    return host[:-1] if host.endswith(".") else host


def literal_address(host: str) -> IPAddress | None:
    """The address a (normalised) host spells, or None when it is a name."""
    if host.startswith("[") or ":" in host:
        text = host.strip("[]").split("%", 1)[0]  # a zone id changes nothing of the class
        try:
            return ipaddress.IPv6Address(text)
        except ValueError:
            raise MalformedTarget(f"{host!r} is not an IPv6 address") from None
    return parse_ipv4_number_form(host)


def check_url(url: str, policy: TargetPolicy) -> None:
    """The checks that need no DNS: credentials, localhost names, literal addresses.
    Raises TargetRefused or MalformedTarget."""
    parts = urlsplit(url)
    if "@" in parts.netloc:
        raise TargetRefused("URLs with credentials (user:password@) are not allowed")
    raw_host = parts.hostname or ""
    if "[" in parts.netloc:  # urlsplit drops the brackets (and keeps the zone id)
        raw_host = "[" + raw_host + "]"
    host = normalized_host(raw_host)
    address = literal_address(host)
    if address is None:
        if not _HOST_NAME.match(host):
            raise MalformedTarget(f"{raw_host!r} is not a valid host name")
        if host in _LOCAL_NAMES or host.endswith(".localhost"):
            raise TargetRefused(f"{host} names this machine (loopback)")
        return
    refusal = policy.refusal(address)
    if refusal is not None:
        raise TargetRefused(refusal)


def check_addresses(host: str, addresses: Iterable[IPAddress], policy: TargetPolicy) -> None:
    """Every address a name resolved to must be allowed: a name that answers with one public
    and one internal address is refused (the connection could go to either)."""
    for address in addresses:
        refusal = policy.refusal(address)
        if refusal is not None:
            raise TargetRefused(f"{host} resolves to {refusal}")
