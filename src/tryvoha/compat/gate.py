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


Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


def surface_of(compat: Compat, path: str) -> int | None:
    if path.startswith(compat.aiu_v1) or path.startswith(compat.aiu_v2):
        return AIU
    if path.startswith("/api/v3/") or path == "/api/v3":
        return UA
    return None


def key_of(auth: bytes | None, query: bytes) -> str | None:
    """The API key a request carries: in `Authorization` (bare, Bearer or Token) or `?token=`."""
    if auth:
        text = auth.decode("latin-1").strip()
        scheme, _, rest = text.partition(" ")
        if rest and scheme.lower() in ("bearer", "token"):
            text = rest.strip()
        if text:
            return text
    if query and b"token=" in query:
        values = parse_qs(query.decode("latin-1")).get("token")
        return values[0] if values else None
    return None


def limit(
    compat: Compat, surface: int, path: str, token: TokenInfo | None, client_ip: str
) -> int | None:
    """Seconds to wait when the key (or, keyless, the address) is over its rate, else None."""
    config = compat.config
    limiter = compat.limiter
    if surface == AIU:
        assert token is not None
        if path.startswith(compat.history_prefix):
            return limiter.check(("aiu-history", token.id), config.aiu_history_per_minute, 60)
        return limiter.check(("aiu", token.id), config.aiu_per_minute, 60)
    if token is not None:
        return limiter.check(("ua", token.id), config.ua_per_minute, 60)
    return limiter.check(("keyless", client_ip), config.keyless_per_5min, 300)


def too_many(retry: int) -> Answer:
    body = error_body("rate_limited", f"too many requests; retry in {retry} s")
    headers = [
        (b"content-type", JSON),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(retry).encode()),
    ]
    return 429, headers, body


def view_answer(
    compat: Compat, view: HotView, ims: bytes | None, inm: bytes | None, head_only: bool
) -> Answer:
    """A hot view's answer: its bytes, or 304 on this surface's exact-match rules."""
    body, etag, length = view.current(compat.hub)
    if not view.validated:
        return (
            200,
            [(b"content-type", JSON), (b"content-length", length)],
            b"" if head_only else body,
        )
    _, modified = compat.clock.current()
    common = [(b"last-modified", modified), (b"etag", etag), (b"cache-control", b"no-cache")]
    if _not_modified(ims, inm, modified, etag):
        return 304, common, b""
    headers = [(b"content-type", JSON), (b"content-length", length), *common]
    return 200, headers, b"" if head_only else body


def answer_now(
    compat: Compat,
    method: str,
    path: str,
    query: bytes,
    headers: dict[bytes, bytes],
    client_ip: str,
) -> Answer | None:
    """The answer to a poll of a hot view when all it needs is at hand (a cached key), for the
    parser short cut; None sends the request the ordinary way (which also gives every refusal)."""
    if method not in ("GET", "HEAD"):
        return None
    surface = surface_of(compat, path)
    view = compat.view(path) if surface is not None else None
    if view is None:
        return None
    assert compat.keys is not None
    plain = key_of(headers.get(b"authorization"), query)
    if plain is None:
        if surface != UA or not compat.config.keyless:
            return None
        token = None
    else:
        known, token = compat.keys.cached(plain)
        if not known or token is None:
            return None
    retry = limit(compat, surface, path, token, client_ip)
    if retry is not None:
        return too_many(retry)
    return view_answer(
        compat,
        view,
        headers.get(b"if-modified-since"),
        headers.get(b"if-none-match"),
        method == "HEAD",
    )


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
        surface = surface_of(compat, path)
        if surface is None:
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
        client = scope.get("client")
        retry = limit(compat, surface, path, token, client[0] if client else "?")
        if retry is not None:
            await _send_answer(send, too_many(retry))
            return
        method = scope["method"]
        if method == "GET" or method == "HEAD":
            view = compat.view(path)
            if view is not None:
                await _send_answer(send, view_answer(compat, view, ims, inm, method == "HEAD"))
                return
        scope.setdefault("state", {})["compat_token"] = token
        if surface == UA:
            await self.app(scope, receive, send)
            return
        await self._validated(scope, receive, send, ims, inm)

    async def _authorize(
        self, surface: int, auth: bytes | None, query: bytes
    ) -> tuple[TokenInfo | None, list | None]:
        plain = key_of(auth, query)
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


async def _send_answer(send: Send, answer: Answer) -> None:
    status, headers, body = answer
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _not_modified(
    ims: bytes | None, inm: bytes | None, modified: bytes, etag: bytes | None
) -> bool:
    if inm and inm.strip():
        return etag is not None and any(
            t.strip().removeprefix(b"W/") == etag for t in inm.split(b",")
        )
    return bool(ims) and ims.strip() == modified
