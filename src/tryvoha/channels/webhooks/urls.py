"""Target URL rules: http(s) only, a host, no credentials (they would sit in the database and in
logs in clear text; receivers authenticate deliveries by the signature instead), and a destination
the hub may reach (see `tryvoha.netguard`)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx

from tryvoha.netguard import AddressPolicy, literal_address

MAX_URL = 2000
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST_NAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*\.?")


class BadUrl(ValueError):
    """The URL breaks a rule; the message names which."""


async def check_url(url: str, policy: AddressPolicy) -> str:
    """The URL, stripped, when it is well formed and points where the hub may connect; BadUrl,
    netguard.Forbidden or netguard.Unresolvable naming the problem otherwise. Every spelling the
    URL parser or the resolver could read as a number is checked as that number, and a name is
    checked on every address it resolves to now (and again at each delivery)."""
    url = check_syntax(url)
    spelled = urlsplit(url).hostname or ""
    literal = literal_address(spelled)
    if literal is not None:  # e.g. 0177.0.0.1, which the URL parser refuses to read at all
        await policy.check_host(str(literal), 0)
    host, port = target_of(url)
    await policy.check_host(host, port)
    return url


def check_syntax(url: str) -> str:
    """The URL, stripped, when it is well formed; BadUrl naming the problem otherwise."""
    url = url.strip()
    if not url:
        raise BadUrl("url is empty")
    if len(url) > MAX_URL:
        raise BadUrl(f"url is longer than {MAX_URL} characters")
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise BadUrl("url contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BadUrl(f"url does not parse: {exc}") from exc
    if parts.scheme.lower() not in {"http", "https"}:
        shown = parts.scheme or "(none)"
        raise BadUrl(f"url scheme must be http or https, not {shown}")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise BadUrl("url must not contain credentials (user:password@); verify the signature")
    if not parts.hostname:
        raise BadUrl("url has no host")
    if port == 0:
        raise BadUrl("url port 0 is not valid")
    if parts.fragment:
        raise BadUrl("url must not contain a #fragment (it is never sent to the receiver)")
    return url


def target_of(url: str) -> tuple[str, int]:
    """(host, port) exactly as the HTTP client will connect: IDNA-encoded, as httpx reads it."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise BadUrl(f"url does not parse: {exc}") from None
    host = parsed.raw_host.decode("ascii")
    if literal_address(host) is None and not _HOST_NAME.fullmatch(host):
        raise BadUrl(f"url host {host!r} is not a valid host name")
    if "%" in host:
        raise BadUrl("url host must not carry an IPv6 zone id")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return host, port
