"""Which receivers the server may talk to: the ``base_url`` rules and the guard against SSRF.

A scrobble target makes this server send HTTP requests (with a token) wherever a user points it,
so the URL is checked twice: when it is saved and before every request.

- ``http`` or ``https`` only; a host is required; no user:password, query or fragment; at most
  2,048 characters. The trailing ``/`` is dropped (the client appends ``/1/...``).
- The host is resolved, and **every** address it resolves to must be a public one, unless the
  host (``host`` or ``host:port``, as written in the URL) is listed in
  ``US_SCROBBLE_ALLOW_HOSTS``: loopback, private, link-local (cloud metadata at 169.254.169.254),
  CGNAT, multicast and reserved addresses are refused otherwise. A self-hosted Maloja on this
  machine or the LAN is a real use: the admin allows exactly that host, nothing else opens.
- The request then goes to the address that was checked (the URL's host travels in ``Host`` and
  as the TLS server name, so certificates are still verified against it): a DNS answer that
  changes between the check and the connection (rebinding) cannot redirect it. Redirects are
  never followed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

MAX_URL_LENGTH = 2048


class ReceiverUrlRefused(Exception):
    """A base URL that is malformed, or points where this server must not send requests."""


@dataclass(frozen=True, slots=True)
class Receiver:
    """A checked receiver: where to connect (``ip``) and what to call it (``host``)."""

    scheme: str
    host: str
    port: int
    path: str
    ip: str

    def url(self, suffix: str) -> str:
        """The request URL, aimed at the checked address."""
        literal = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"{self.scheme}://{literal}:{self.port}{self.path}{suffix}"

    @property
    def host_header(self) -> str:
        literal = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return literal if self.port == default else f"{literal}:{self.port}"


def normalize_base_url(raw: str) -> str:
    """The canonical form that is stored and shown (lower-case scheme and host, no trailing /)."""
    text = raw.strip()
    if not text or len(text) > MAX_URL_LENGTH:
        raise ReceiverUrlRefused(f"base_url must be 1-{MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ReceiverUrlRefused("base_url is not a valid URL") from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise ReceiverUrlRefused("base_url must start with http:// or https://")
    if not parts.hostname:
        raise ReceiverUrlRefused("base_url needs a host")
    if parts.username is not None or parts.password is not None:
        raise ReceiverUrlRefused("base_url must not carry a user or password (the token is separate)")
    if parts.query or parts.fragment or "?" in text or "#" in text:
        raise ReceiverUrlRefused("base_url must not have a query or a fragment")
    if any(ch.isspace() or ord(ch) < 32 for ch in text):
        raise ReceiverUrlRefused("base_url must not contain spaces or control characters")
    host = parts.hostname.lower()
    literal = f"[{host}]" if ":" in host else host
    netloc = f"{literal}:{port}" if port is not None else literal
    return urlunsplit((parts.scheme.lower(), netloc, parts.path.rstrip("/"), "", ""))


def allowed_hosts(setting: str) -> frozenset[str]:
    return frozenset(entry.strip().lower() for entry in setting.split(",") if entry.strip())


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def resolve(base_url: str, allow: frozenset[str]) -> Receiver:
    """Check ``base_url`` and resolve it to the address the request will use."""
    parts = urlsplit(normalize_base_url(base_url))
    assert parts.hostname is not None  # normalize_base_url refused URLs without one
    host = parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    written = parts.netloc.rsplit("@", 1)[-1]
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ReceiverUrlRefused(f"cannot resolve {host}") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise ReceiverUrlRefused(f"cannot resolve {host}")
    allowed = host in allow or written in allow
    if not allowed and not all(_is_public(a) for a in addresses):
        raise ReceiverUrlRefused(
            f"{host} resolves to a loopback or private address; the admin can allow it with "
            "US_SCROBBLE_ALLOW_HOSTS"
        )
    return Receiver(parts.scheme, host, port, parts.path, addresses[0])
