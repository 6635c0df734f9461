"""Where the hub may connect to on behalf of others (webhook receivers): public addresses only,
unless the operator allowed a network.

A destination is checked when it is subscribed (so a bad one is refused with a reason) and again
on every connection, on the very address connected to: the hub resolves the name itself, drops
the addresses it may not reach and connects to a checked one, so a name that later resolves
inside the operator's network (DNS rebinding) reaches nothing there. Every spelling a resolver
accepts for a number (`2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1`, IPv6 forms that carry an
IPv4 address) is read as the address it means.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import unicodedata
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

import httpcore

from tryvoha.netstream import AsyncioBackend

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""(host, port) → the addresses the name has now, as text; raises OSError when it has none."""

RESOLVE_TIMEOUT = 5.0
MAX_ALLOWED_NETWORKS = 100


class DestinationError(Exception):
    """The hub will not connect there; the message says why, in the hub's own words."""


class Forbidden(DestinationError):
    """The address (or every address of the name) is not public and not allowed."""


class Unresolvable(DestinationError):
    """The name has no address now."""


def _table(rows: Iterable[tuple[str, str]]) -> tuple[tuple[IPNetwork, str], ...]:
    return tuple((ipaddress.ip_network(net), why) for net, why in rows)


# Special-purpose ranges (IANA registries), each with the words that complete "address X is …".
# Named here rather than left to `ipaddress`, whose lists differ between Python releases.
SPECIAL_V4 = _table(
    [
        ("255.255.255.255/32", "broadcast"),
        ("0.0.0.0/8", "unspecified (this network)"),
        ("10.0.0.0/8", "in a private network"),
        ("100.64.0.0/10", "in the carrier-grade NAT range"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "in a private network"),
        ("192.0.0.0/24", "reserved for protocol assignments"),
        ("192.0.2.0/24", "reserved for documentation"),
        ("192.88.99.0/24", "a 6to4 relay address"),
        ("192.168.0.0/16", "in a private network"),
        ("198.18.0.0/15", "reserved for benchmarking"),
        ("198.51.100.0/24", "reserved for documentation"),
        ("203.0.113.0/24", "reserved for documentation"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),
    ]
)
SPECIAL_V6 = _table(
    [
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("64:ff9b:1::/48", "in a local-use NAT64 network"),
        ("::/8", "reserved"),
        ("100::/64", "a discard-only address"),
        ("2001:2::/48", "reserved for benchmarking"),
        ("2001:db8::/32", "reserved for documentation"),
        ("2001::/23", "reserved for protocol assignments"),
        ("3fff::/20", "reserved for documentation"),
        ("fc00::/7", "in a private network (unique local)"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local"),
        ("ff00::/8", "multicast"),
    ]
)

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, Azure, GCP, Oracle, DigitalOcean, OpenStack...
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
    )
)
"""Cloud instance metadata services: refused even inside an allowed network."""
METADATA_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",
    }
)

_NAT64 = IPv6Network("64:ff9b::/96")
_COMPATIBLE = IPv6Network("::/96")
_TRANSLATED = IPv6Network("::ffff:0:0:0/96")
_TEREDO = IPv6Network("2001::/32")
_NUMERIC_V4 = re.compile(r"[0-9a-fx.]+")


def embedded_ipv4(ip: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 one carries: mapped `::ffff:a.b.c.d`, translated, deprecated
    compatible `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`, 6to4 `2002:AABB:CCDD::` or Teredo."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if int(ip) > 1 and (ip in _COMPATIBLE or ip in _NAT64 or ip in _TRANSLATED):
        return IPv4Address(int(ip) & 0xFFFF_FFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def _unscoped(ip: IPAddress) -> IPAddress:
    return IPv6Address(int(ip)) if isinstance(ip, IPv6Address) and ip.scope_id else ip


def refusal(ip: IPAddress) -> str | None:
    """Why `ip` is not a public unicast address, in words that complete "address X is …"; None
    for a public one."""
    ip = _unscoped(ip)
    if isinstance(ip, IPv6Address):
        inner = embedded_ipv4(ip)
        if inner is not None:
            why = refusal(inner)
            if why is not None:
                return f"an IPv6 form of {inner}, which is {why}"
            if ip in _TEREDO:
                return "a Teredo tunnel address"
            if ip in _COMPATIBLE or ip in _TRANSLATED:
                return "a deprecated IPv6 form of an IPv4 address"
            return None  # 6to4, NAT64 or mapped form of a public IPv4 address
    for network, why in SPECIAL_V4 if ip.version == 4 else SPECIAL_V6:
        if ip in network:
            return why
    if (
        not ip.is_global
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_private
        or (isinstance(ip, IPv6Address) and ip.is_site_local)
    ):
        return "not a public address"
    return None


def literal_address(host: str) -> IPAddress | None:
    """The address a host written as a number means to a resolver, or None for a name. Reads
    what `inet_aton` reads (`2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1`), IPv6 with or without
    brackets and with a zone id, and ignores a trailing dot, letter case and the width of
    characters (`１２７。０。０。１`, which IDNA mapping turns into 127.0.0.1)."""
    text = unicodedata.normalize("NFKC", host).replace("\u3002", ".").strip().lower()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    text = text.rstrip(".")
    if ":" in text:
        try:
            return IPv6Address(text)
        except ValueError:
            return None
    if _NUMERIC_V4.fullmatch(text):
        try:
            return IPv4Address(socket.inet_aton(text))
        except OSError:
            return None
    return None


def parse_networks(text: str, source: str = "allowed networks") -> tuple[IPNetwork, ...]:
    """`10.0.0.0/8, fd00::/8, 192.168.1.20` → networks; a bare address is a network of one. A
    clear ValueError (naming `source`) for anything else."""
    networks: list[IPNetwork] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=True))
        except ValueError as exc:
            raise ValueError(
                f"{source}: {item!r} is not a network; write addresses or CIDR ranges separated "
                f"by commas, e.g. 10.0.0.0/8,fd00::/8,192.168.1.20 ({exc})"
            ) from None
    if len(networks) > MAX_ALLOWED_NETWORKS:
        raise ValueError(f"{source}: at most {MAX_ALLOWED_NETWORKS} networks, not {len(networks)}")
    return tuple(networks)


async def system_resolve(host: str, port: int) -> list[str]:
    """The operating system's resolver (hosts file, DNS), as a connection would use it."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """Public addresses, plus the networks the operator allowed; never a metadata service."""

    allow: tuple[IPNetwork, ...] = ()
    resolve: Resolver = system_resolve

    def _allows(self, ip: IPAddress) -> bool:
        return any(ip.version == net.version and ip in net for net in self.allow)

    def judge(self, ip: IPAddress) -> str | None:
        """None when the hub may connect to `ip`, else the sentence saying why not."""
        ip = _unscoped(ip)
        inner = embedded_ipv4(ip) if isinstance(ip, IPv6Address) else None
        if ip in METADATA_ADDRESSES:
            return f"address {ip} is a cloud metadata service"
        if inner in METADATA_ADDRESSES:
            return f"address {ip} is an IPv6 form of {inner}, a cloud metadata service"
        if self._allows(ip) or (inner is not None and self._allows(inner)):
            return None
        why = refusal(ip)
        return None if why is None else f"address {ip} is {why}"

    async def addresses(self, host: str, port: int) -> list[tuple[str, str | None]]:
        """Every address `host` has now, each with the reason it is refused (None: allowed)."""
        name = host.strip().lower().rstrip(".")
        if name in METADATA_NAMES:
            raise Forbidden(f"host {name} is a cloud metadata service")
        literal = literal_address(host)
        if literal is not None:
            return [(str(literal), self.judge(literal))]
        try:
            async with asyncio.timeout(RESOLVE_TIMEOUT):
                found = await self.resolve(host, port)
        except TimeoutError:
            raise Unresolvable(
                f"host {name} did not resolve within {RESOLVE_TIMEOUT:g} s"
            ) from None
        except (OSError, UnicodeError):
            raise Unresolvable(f"host {name} does not resolve") from None
        judged = []
        for text in found:
            try:
                ip = ipaddress.ip_address(text)
            except ValueError:
                raise Unresolvable(f"host {name} resolved to something not an address") from None
            judged.append((text, self.judge(ip)))
        if not judged:
            raise Unresolvable(f"host {name} does not resolve")
        return judged

    async def check_host(self, host: str, port: int) -> None:
        """For a new subscription: every address the host has now must be allowed."""
        for _, why in await self.addresses(host, port):
            if why is not None:
                raise Forbidden(why)

    async def destinations(self, host: str, port: int) -> list[str]:
        """For a connection: the allowed addresses of `host`, in the resolver's order."""
        judged = await self.addresses(host, port)
        allowed = [address for address, why in judged if why is None]
        if not allowed:
            raise Forbidden(next(why for _, why in judged if why is not None))
        return allowed


class GuardedBackend(AsyncioBackend):
    """httpcore's network backend on the event loop's own transports (`tryvoha.netstream`),
    connecting only to addresses the policy allows. The hub resolves the name itself and
    connects to a checked address; TLS (SNI, certificate check) and the Host header still use
    the name."""

    def __init__(self, policy: AddressPolicy) -> None:
        self.policy = policy

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await self.policy.destinations(host, port)
        except DestinationError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        failure: Exception | None = None
        for address in addresses:
            try:
                return await super().connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not a webhook destination")
