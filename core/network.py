"""The pure half of the network policy (see activities/network.py): what an HTTP_ALLOW_HOSTS
entry means, and which addresses are not public."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
SHARED_RANGE = ipaddress.ip_network("100.64.0.0/10")
METADATA_ADDRESSES = {
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("fd00:ec2::254"),
}


def address_category(address: IPAddress) -> str | None:
    """Why an address is not public (None when it is). An IPv6 address that carries an IPv4
    one (mapped, 6to4, Teredo) is judged by the IPv4 address it reaches."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (
            address.teredo[1] if address.teredo else None
        )  # fmt: skip
        if embedded is not None:
            address = embedded
    if address in METADATA_ADDRESSES:
        return "cloud metadata"
    checks = (
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local"),
        (address.is_multicast, "multicast"),
        (address.is_unspecified, "unspecified"),
        (isinstance(address, ipaddress.IPv4Address) and address in SHARED_RANGE, "shared"),
        (address.is_private, "private"),
        (address.is_reserved, "reserved"),
        (not address.is_global, "non-public"),
    )
    return next((category for matches, category in checks if matches), None)


@dataclass(frozen=True)
class AllowRule:
    """One entry of HTTP_ALLOW_HOSTS: a host name, a `*.` wildcard or a network, and a port."""

    host: str | None = None
    network: IPNetwork | None = None
    port: int | None = None

    def allows_name(self, host: str, port: int) -> bool:
        if self.host is None or (self.port is not None and self.port != port):
            return False
        host = host.lower().rstrip(".")
        if self.host.startswith("*."):
            return host.endswith(self.host[1:])
        return host == self.host

    def allows_address(self, address: IPAddress, port: int) -> bool:
        if self.network is None or (self.port is not None and self.port != port):
            return False
        return address in self.network or _mapped(address) in self.network

    def __str__(self) -> str:
        where = self.host or str(self.network)
        return f"{where}:{self.port}" if self.port is not None else where


def _mapped(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_rule(entry: str) -> AllowRule:
    """One HTTP_ALLOW_HOSTS entry; a ValueError says what is wrong with it."""
    text = entry.strip()
    if "://" in text or "/" in text.split("]")[-1].partition("/")[2]:
        raise ValueError(
            f"HTTP_ALLOW_HOSTS entry {entry!r} is not a host name, a *.wildcard, an address or "
            "a CIDR (each with an optional :port): give a host, not a URL"
        )
    port: int | None = None
    if text.startswith("["):  # [IPv6 or CIDR]:port
        inside, _, rest = text[1:].partition("]")
        text, port = inside, _port(rest.removeprefix(":"), entry) if rest else None
    elif text.count(":") == 1:
        text, _, port_text = text.partition(":")
        port = _port(port_text, entry)
    try:
        return AllowRule(network=ipaddress.ip_network(text, strict=False), port=port)
    except ValueError:
        pass
    name = text.lower().rstrip(".")
    if not name or any(char in name for char in "/ @") or "*" in name.removeprefix("*."):
        raise ValueError(
            f"HTTP_ALLOW_HOSTS entry {entry!r} is not a host name, a *.wildcard, an address or a "
            "CIDR (each with an optional :port)"
        )
    return AllowRule(host=name, port=port)


def _port(text: str, entry: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"HTTP_ALLOW_HOSTS entry {entry!r} has an invalid port {text!r}")
    return int(text)


def parse_rules(entries: Iterable[str]) -> tuple[AllowRule, ...]:
    """Every entry of a comma-separated list (or of a list), parsed."""
    return tuple(parse_rule(entry) for entry in entries if entry.strip())
