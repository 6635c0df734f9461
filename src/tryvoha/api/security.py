"""Browser security headers on every page and static file the hub serves: the map, the console
and the docs.

The map keeps to a strict Content-Security-Policy: its own scripts, styles and data only, no
inline code, no eval, no string-to-DOM sinks (Trusted Types), and images only from itself and the
tile server `TRYVOHA_MAP_TILE_URL` names. The API docs (`/docs`, `/redoc`) load their viewers from
a CDN and start them with a small inline script, so they get a policy of their own that allows
that CDN and exactly those inline scripts (by hash). No page of the hub may be framed.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

COMMON = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"geolocation=(self), camera=(), microphone=(), payment=(), usb=()"),
)
MAP_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'{tiles}; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; "
    "require-trusted-types-for 'script'; trusted-types 'none'"
)
CDN = "https://cdn.jsdelivr.net"
DOCS_POLICY = (
    "default-src 'none'; script-src 'self' " + CDN + "{hashes}; "
    "style-src 'self' 'unsafe-inline' " + CDN + " https://fonts.googleapis.com; "
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
    "font-src https://fonts.gstatic.com; connect-src 'self'; worker-src blob:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
DOCS_PATHS = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})
INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


def tile_source(url: str | None) -> str:
    """The CSP source for the tile server: its scheme, host and port (nothing if unusable)."""
    if not url:
        return ""
    parts = urlsplit(url)
    host = parts.netloc
    if parts.scheme not in ("http", "https") or not re.fullmatch(r"[A-Za-z0-9.\-:\[\]]+", host):
        return ""
    return f" {parts.scheme}://{host}"


def map_policy(tile_url: str | None) -> str:
    return MAP_POLICY.format(tiles=tile_source(tile_url))


def docs_policy(body: bytes) -> str:
    """The docs policy, allowing exactly the inline scripts of this page."""
    hashes = "".join(
        " 'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"
        for script in INLINE_SCRIPT.findall(body)
    )
    return DOCS_POLICY.format(hashes=hashes)


def is_map_path(path: str) -> bool:
    """The map and the dispatcher's console: pages held to the same strict policy."""
    return path in ("/", "/console") or path.startswith(("/map/", "/console/"))


class SecurityHeaders:
    """Adds the headers to every answer of a page or static path, whatever its status."""

    def __init__(self, app: ASGIApp, tile_url: str | None = None) -> None:
        self.app = app
        self.map_policy = map_policy(tile_url).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if is_map_path(path):
            await self.app(scope, receive, _with_headers(send, self.map_policy))
        elif path in DOCS_PATHS:
            await self._docs(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _docs(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Docs pages are small and complete: the body is read first to hash its scripts."""
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            policy = docs_policy(body).encode()
            headers = [*start.get("headers", []), *COMMON, (b"content-security-policy", policy)]
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, capture)


def _with_headers(send: Send, policy: bytes) -> Send:
    async def sender(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [*message.get("headers", []), *COMMON, (b"content-security-policy", policy)]
            message = {**message, "headers": headers}
        await send(message)

    return sender
