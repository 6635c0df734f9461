"""Target URL rules: http(s) only, a host, no credentials (they would sit in the database and in
logs in clear text; receivers authenticate deliveries by the signature instead)."""

from __future__ import annotations

from urllib.parse import urlsplit

MAX_URL = 2000


class BadUrl(ValueError):
    """The URL breaks a rule; the message names which."""


def check_url(url: str) -> str:
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
