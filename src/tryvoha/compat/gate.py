"""The front door of both compatible surfaces: keys, rate limits and pre-rendered hot answers.

An ASGI middleware in front of the app. For every request under the alerts.in.ua prefix
(`/v1/`, `/v2/`) or `/api/v3/` it checks the key and the key's rate limit, then answers the
polled views (IoT strings, active alerts, one region, the last-action index) from bytes rendered
once per log id, before routing. Everything else goes on to the routers with the key in
`request.state.compat_token`.

alerts.in.ua answers carry `Last-Modified` from `ModifiedClock` and become 304 only when
`If-Modified-Since` equals it exactly (or `If-None-Match` the ETag); an empty value is absent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tryvoha.api.http_cache import on_complete_answer
from tryvoha.compat import alerts_in_ua as aiu
from tryvoha.compat import ukrainealarm as ua
from tryvoha.compat.clock import ModifiedClock
from tryvoha.compat.config import CompatConfig
from tryvoha.compat.errors import error_body
from tryvoha.compat.ids import crosswalk
from tryvoha.compat.keys import KeyCheck
from tryvoha.compat.ratelimit import RateLimiter
from tryvoha.hub import Hub
from tryvoha.store import TokenInfo

JSON = b"application/json"
AIU, UA = 1, 2


@dataclass(slots=True)
class HotView:
    """Body bytes of one GET view, rendered once per log id."""

    render: Callable[[Hub], bytes]
    validated: bool
    _log_id: int = -1
    _body: bytes = b""
    _etag: bytes = b""
    _length: bytes = b"0"

    def current(self, hub: Hub) -> tuple[bytes, bytes, bytes]:
        if self._log_id != hub.last_event_id:
            body = self.render(hub)
            self._log_id, self._body = hub.last_event_id, body
            self._etag = b'"' + hashlib.blake2b(body, digest_size=12).hexdigest().encode() + b'"'
            self._length = str(len(body)).encode()
        return self._body, self._etag, self._length


@dataclass
class Compat:
    """Everything the compatible surfaces share in one app: config, clock, limiter, keys, views."""

    hub: Hub
    config: CompatConfig
    clock: ModifiedClock
    limiter: RateLimiter = field(default_factory=RateLimiter)
    keys: KeyCheck | None = None
    views: dict[str, HotView] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.keys = self.keys or KeyCheck(self.hub, self.config.key_cache_seconds)
        self.aiu_v1 = self.config.prefix + "/v1/"
        self.aiu_v2 = self.config.prefix + "/v2/"
        p1, p2 = self.aiu_v1, self.aiu_v2
        clock = self.clock
        self.views.update(
            {
                p1 + aiu.ACTIVE: HotView(lambda h: aiu.render_active(h, clock), True),
                p1 + aiu.BY_OBLAST: HotView(lambda h: aiu.render_by_oblast(h, False), True),
                p2 + aiu.BY_OBLAST: HotView(lambda h: aiu.render_by_oblast(h, True), True),
                p1 + aiu.ALL_LOCATIONS: HotView(lambda h: aiu.render_all_locations(h, False), True),
                p2 + aiu.ALL_LOCATIONS: HotView(lambda h: aiu.render_all_locations(h, True), True),
                "/api/v3/alerts": HotView(ua.render_alerts, False),
                "/api/v3/alerts/status": HotView(ua.render_status, False),
                "/api/v3/regions": HotView(ua.render_regions, False),
            }
        )
        self.history_prefix = p1 + "regions/"

    def view(self, path: str) -> HotView | None:
        """A hot view for `path`, made on first use for per-location and per-region paths."""
        found = self.views.get(path)
        if found is not None:
            return found
        cw = crosswalk(self.hub.catalogue)
        for prefix, levels in ((self.aiu_v1, False), (self.aiu_v2, True)):
            head = prefix + aiu.ONE_LOCATION
            if path.startswith(head) and path.endswith(".json"):
                region = aiu.parse_uid(cw, path[len(head) : -5])
                if region is None:
                    return None
                rid = region.id
                found = HotView(lambda h, rid=rid, lv=levels: aiu.render_location(h, rid, lv), True)
                self.views[path] = found
                return found
        head = "/api/v3/alerts/"
        if path.startswith(head):
            region = cw.by_ua_id.get(path[len(head) :])
            if region is None:
                return None
            rid = region.id
            found = HotView(lambda h, rid=rid: ua.render_region(h, rid), False)
            self.views[path] = found
            return found
        return None


def _json_response(status: int, body: bytes, extra: list[tuple[bytes, bytes]] = ()) -> list:
    headers = [(b"content-type", JSON), (b"content-length", str(len(body)).encode()), *extra]
    return [
        {"type": "http.response.start", "status": status, "headers": headers},
        {"type": "http.response.body", "body": body},
    ]


class CompatGate:
    def __init__(self, app: ASGIApp, compat: Compat) -> None:
        self.app = app
        self.compat = compat
        self.hub = compat.hub

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        compat = self.compat
        if path.startswith(compat.aiu_v1) or path.startswith(compat.aiu_v2):
            surface = AIU
        elif path.startswith("/api/v3/") or path == "/api/v3":
            surface = UA
        else:
            await self.app(scope, receive, send)
            return
        auth = ims = inm = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                auth = value
            elif name == b"if-modified-since":
                ims = value
            elif name == b"if-none-match":
                inm = value
        query: bytes = scope.get("query_string", b"")
        token, refusal = await self._authorize(surface, auth, query)
        if refusal is not None:
            for message in refusal:
                await send(message)
            return
        retry = self._limit(surface, path, token, scope)
        if retry is not None:
            message = f"too many requests; retry in {retry} s"
            for m in _json_response(
                429, error_body("rate_limited", message), [(b"retry-after", str(retry).encode())]
            ):
                await send(m)
            return
        method = scope["method"]
        if method == "GET" or method == "HEAD":
            view = compat.view(path)
            if view is not None:
                await self._serve(view, surface, ims, inm, method == "HEAD", send)
                return
        scope.setdefault("state", {})["compat_token"] = token
        if surface == UA:
            await self.app(scope, receive, send)
            return
        await self._validated(scope, receive, send, ims, inm)

    async def _authorize(
        self, surface: int, auth: bytes | None, query: bytes
    ) -> tuple[TokenInfo | None, list | None]:
        plain: str | None = None
        if auth:
            text = auth.decode("latin-1").strip()
            scheme, _, rest = text.partition(" ")
            if rest and scheme.lower() in ("bearer", "token"):
                text = rest.strip()
            plain = text or None
        if plain is None and query and b"token=" in query:
            values = parse_qs(query.decode("latin-1")).get("token")
            plain = values[0] if values else None
        if plain is None:
            if surface == UA and self.compat.config.keyless:
                return None, None
            if surface == UA:
                return None, _json_response(403, error_body("key_required", "send your API key"))
            message = "API token required: 'Authorization: Bearer <token>' or '?token=<token>'"
            return None, _json_response(401, error_body("token_missing", message))
        assert self.compat.keys is not None
        token = await self.compat.keys.token(plain)
        if token is None:
            message = "the token is unknown to this hub or was revoked"
            return None, _json_response(401, error_body("token_invalid", message))
        return token, None

    def _limit(self, surface: int, path: str, token: TokenInfo | None, scope: Scope) -> int | None:
        config = self.compat.config
        limiter = self.compat.limiter
        if surface == AIU:
            assert token is not None
            if path.startswith(self.compat.history_prefix):
                return limiter.check(("aiu-history", token.id), config.aiu_history_per_minute, 60)
            return limiter.check(("aiu", token.id), config.aiu_per_minute, 60)
        if token is not None:
            return limiter.check(("ua", token.id), config.ua_per_minute, 60)
        client = scope.get("client")
        ip = client[0] if client else "?"
        return limiter.check(("keyless", ip), config.keyless_per_5min, 300)

    async def _serve(
        self,
        view: HotView,
        surface: int,
        ims: bytes | None,
        inm: bytes | None,
        head_only: bool,
        send: Send,
    ) -> None:
        body, etag, length = view.current(self.hub)
        if not view.validated:
            headers = [(b"content-type", JSON), (b"content-length", length)]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b"" if head_only else body})
            return
        _, modified = self.compat.clock.current()
        common = [(b"last-modified", modified), (b"etag", etag), (b"cache-control", b"no-cache")]
        if _not_modified(ims, inm, modified, etag):
            await send({"type": "http.response.start", "status": 304, "headers": common})
            await send({"type": "http.response.body", "body": b""})
            return
        headers = [(b"content-type", JSON), (b"content-length", length), *common]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if head_only else body})

    async def _validated(
        self, scope: Scope, receive: Receive, send: Send, ims: bytes | None, inm: bytes | None
    ) -> None:
        """Routed alerts.in.ua answers: this surface's `Last-Modified` and exact-match 304s."""
        inner = dict(scope)
        inner["headers"] = [
            (k, v) for k, v in scope["headers"] if k not in (b"if-modified-since", b"if-none-match")
        ]

        async def finish(start: dict[str, Any], message: Message) -> None:
            _, modified = self.compat.clock.current()
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"last-modified"]
            headers.append((b"last-modified", modified))
            etag = next((v for k, v in headers if k.lower() == b"etag"), None)
            if _not_modified(ims, inm, modified, etag):
                kept = [
                    (k, v)
                    for k, v in headers
                    if k.lower() not in (b"content-length", b"content-type")
                ]
                await send({"type": "http.response.start", "status": 304, "headers": kept})
                await send({"type": "http.response.body", "body": b""})
                return
            await send({**start, "headers": headers})
            await send(message)

        await on_complete_answer(self.app, inner, receive, send, finish)


def _not_modified(
    ims: bytes | None, inm: bytes | None, modified: bytes, etag: bytes | None
) -> bool:
    if inm and inm.strip():
        return etag is not None and any(
            t.strip().removeprefix(b"W/") == etag for t in inm.split(b",")
        )
    return bool(ims) and ims.strip() == modified
