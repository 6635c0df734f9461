"""Browser security headers on every page and static file the hub serves: the map, the console
and the docs.

The map keeps to a strict Content-Security-Policy: its own scripts, styles and data only, no
inline code, no eval, no string-to-DOM sinks (Trusted Types), and images only from itself and the
tile server `TRYVOHA_MAP_TILE_URL` names. The API page (`/docs`) is Swagger UI served from the
package and started by a script file, so its policy allows the hub itself and nothing else (its
stylesheet's icons are `data:` images). No page of the hub may be framed.
"""

from __future__ import annotations

import re
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
DOCS_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


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


def is_map_path(path: str) -> bool:
    """The map and the dispatcher's console: pages held to the same strict policy."""
    return path in ("/", "/console") or path.startswith(("/map/", "/console/"))


def is_docs_path(path: str) -> bool:
    return path == "/docs" or path.startswith("/docs/")


class SecurityHeaders:
    """Adds the headers to every answer of a page or static path, whatever its status."""

    def __init__(self, app: ASGIApp, tile_url: str | None = None) -> None:
        self.app = app
        self.map_policy = map_policy(tile_url).encode()
        self.docs_policy = DOCS_POLICY.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if is_map_path(path):
            await self.app(scope, receive, _with_headers(send, self.map_policy))
        elif is_docs_path(path):
            await self.app(scope, receive, _with_headers(send, self.docs_policy))
        else:
            await self.app(scope, receive, send)


def _with_headers(send: Send, policy: bytes) -> Send:
    async def sender(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [*message.get("headers", []), *COMMON, (b"content-security-policy", policy)]
            message = {**message, "headers": headers}
        await send(message)

    return sender
