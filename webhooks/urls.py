"""Where webhooks may be sent: public addresses only (unless allowed), and URLs shown and
logged without their credentials.

A webhook URL is chosen by whoever adds it, and the server then POSTs to it from inside
its own network: to loopback, a private network, or the cloud's metadata service at
169.254.169.254, that is a request forgery the server signs. So the policy is checked
twice: when the webhook is added (a literal address, or a name that resolves to one,
is refused at once, with the reason), and at every delivery, after DNS resolution, on
the very address the request then connects to. The second check is the one that
holds: a name can resolve to a public address when it is added and to 127.0.0.1 when
it is used (DNS rebinding), and checking a name without pinning the connection to the
checked address would leave that gap open.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit, urlunsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
ALLOW_SETTING = "CITYLINKS_WEBHOOK_ALLOW_PRIVATE"


class RefusedTarget(ValueError):
    """A webhook target the policy refuses; the message says why."""


def redact(url: str) -> str:
    """The URL without the password (and user) it may carry: for display and logs."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port is not None else "")
    return urlunsplit(parts._replace(netloc=netloc))


def scrub(text: str, url: str) -> str:
    """`text` (an error message) without the URL's credentials, should it quote them."""
    parts = urlsplit(url)
    for secret in (parts.password, parts.username):
        if secret:
            text = text.replace(secret, "***")
    return text


def non_public(address: Address) -> str | None:
    """Why an address is no place to send webhooks to, or None for a public one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return "a loopback address"
    if address.is_multicast or address.is_unspecified or address.is_reserved:
        return "not a unicast address"
    if address.is_link_local:
        return "a link-local address (cloud metadata services live there)"
    if address.is_private and not address.is_global:
        return "a private address"
    if not address.is_global:
        return "not a public address"
    return None


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _refuse(host: str, address: Address, why: str) -> RefusedTarget:
    shown = host if str(address) == host else f"{host} ({address})"
    return RefusedTarget(f"{shown} is {why}: webhooks go to public addresses only "
                         f"(set {ALLOW_SETTING}=1 to allow it)")


def check_literal(url: str) -> None:
    """At add time, without resolving: a literal address or a `localhost` name that the
    policy refuses."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        raise RefusedTarget(f"{host} is a loopback address: webhooks go to public "
                            f"addresses only (set {ALLOW_SETTING}=1 to allow it)")
    address = _literal(host)
    if address is not None and (why := non_public(address)) is not None:
        raise _refuse(host, address, why)


async def resolve_public(parts: SplitResult, allow_private: bool = False) -> Address:
    """The address to connect to for this URL: its host's first address, each of which
    must be public (one private answer among public ones is refused too) unless
    `allow_private`."""
    host = parts.hostname or ""
    literal = _literal(host)
    if literal is not None:
        addresses = [literal]
    else:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as error:
            raise RefusedTarget(f"{host} does not resolve ({error.strerror})") from None
        addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
    for address in [] if allow_private else addresses:
        if (why := non_public(address)) is not None:
            raise _refuse(host, address, why)
    return addresses[0]


async def check_resolved(url: str) -> None:
    """At add time: refuse a name that resolves to a non-public address now (delivery
    checks again); a name that does not resolve yet is left to delivery."""
    check_literal(url)
    try:
        await resolve_public(urlsplit(url))
    except RefusedTarget as refusal:
        if "does not resolve" not in str(refusal):
            raise


async def pinned(url: str, allow_private: bool = False
                 ) -> tuple[str, dict[str, str], dict[str, str]]:
    """(URL to connect to, headers, request extensions) for a delivery to `url`, on an
    address checked to be public (unless `allow_private`): the URL names the checked
    address, the Host header and TLS (SNI and certificate) keep the original name."""
    parts = urlsplit(url)
    address = await resolve_public(parts, allow_private)
    host = parts.hostname or ""
    if _literal(host) is not None:
        return url, {}, {}
    shown = f"[{address}]" if address.version == 6 else str(address)
    netloc = shown + (f":{parts.port}" if parts.port is not None else "")
    if parts.username is not None or parts.password is not None:
        netloc = parts.netloc.rsplit("@", 1)[0] + "@" + netloc
    host_header = host + (f":{parts.port}" if parts.port is not None else "")
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    return urlunsplit(parts._replace(netloc=netloc)), {"host": host_header}, extensions
