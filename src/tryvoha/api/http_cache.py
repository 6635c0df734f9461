"""Cheap answers for polling clients: ETag / Last-Modified on every GET, 304 when unchanged, and
pre-rendered bytes for the hottest views, served before the request reaches the router.

Every view is a function of the log, so its validators change exactly when the log moves on.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tryvoha.hub import Hub


def etag_of(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def head_second(hub: Hub) -> datetime:
    """The time of the log head in whole seconds: what `If-Modified-Since` is compared with."""
    return (hub.state.last_recorded_at or hub.started_at).replace(microsecond=0)


def last_modified(hub: Hub, now: datetime | None = None) -> datetime:
    """The `Last-Modified` value to send for the current log head.

    While the head is in the current second a later event could share that second, so the value
    sent is one second earlier: a client that polls with it gets a fresh answer, never a stale 304.
    """
    second = head_second(hub)
    now = now or datetime.now(UTC)
    if now.replace(microsecond=0) <= second:
        second -= timedelta(seconds=1)
    return second


def http_date(value: datetime) -> str:
    return format_datetime(value.astimezone(UTC), usegmt=True)


def _etag_matches(header: str, etag: str) -> bool:
    if header.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(t.strip().removeprefix("W/") == bare for t in header.split(","))


def is_not_modified(headers: dict[bytes, bytes], etag: str, modified: datetime) -> bool:
    """RFC 9110: If-None-Match wins; If-Modified-Since only when no If-None-Match is sent."""
    inm = headers.get(b"if-none-match")
    if inm is not None:
        return _etag_matches(inm.decode("latin-1"), etag)
    ims = headers.get(b"if-modified-since")
    if ims is None:
        return False
    try:
        since = parsedate_to_datetime(ims.decode("latin-1"))
    except (TypeError, ValueError):
        return False
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return modified <= since


@dataclass(slots=True)
class CachedView:
    """A GET view rendered once per log id: `render` gets the hub and returns the body bytes."""

    path: str
    render: Callable[[Hub], bytes]
    content_type: bytes = b"application/json"
    extra_headers: tuple[tuple[bytes, bytes], ...] = ()
    _log_id: int = field(default=-1)
    _body: bytes = field(default=b"")
    _etag: bytes = field(default=b"")

    def current(self, hub: Hub) -> tuple[bytes, bytes]:
        if self._log_id != hub.last_event_id:
            body = self.render(hub)
            self._log_id, self._body = hub.last_event_id, body
            self._etag = etag_of(body).encode()
        return self._body, self._etag

    def answer(
        self, hub: Hub, headers: dict[bytes, bytes], head_only: bool = False
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Status, headers and body for a GET with these request headers (200 or 304)."""
        body, etag = self.current(hub)
        common = [
            (b"etag", etag),
            (b"last-modified", _last_modified_header(hub)),
            (b"cache-control", b"no-cache"),
            *self.extra_headers,
        ]
        if is_not_modified(headers, etag.decode(), head_second(hub)):
            return 304, common, b""
        return (
            200,
            [
                (b"content-type", self.content_type),
                (b"content-length", str(len(body)).encode()),
                *common,
            ],
            b"" if head_only else body,
        )


_lm_cache: tuple[datetime, int, bytes] | None = None


def _last_modified_header(hub: Hub) -> bytes:
    """`Last-Modified` bytes, formatted once per log head and wall-clock second."""
    global _lm_cache
    head = hub.state.last_recorded_at or hub.started_at
    now = int(time.time())
    if _lm_cache is None or _lm_cache[0] != head or _lm_cache[1] != now:
        _lm_cache = (head, now, http_date(last_modified(hub)).encode())
    return _lm_cache[2]


async def on_complete_answer(
    app: ASGIApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    finish: Callable[[dict[str, Any], Message], Awaitable[None]],
) -> None:
    """Run `app`; a complete 200 answer (start and one body message) is handed to `finish` to be
    sent, with validators of its own. Streams and errors go out untouched."""
    start: dict[str, Any] | None = None
    passthrough = False

    async def capture(message: Message) -> None:
        nonlocal start, passthrough
        if passthrough:
            await send(message)
            return
        if message["type"] == "http.response.start":
            start = dict(message)
            return
        assert start is not None
        if message.get("more_body") or start["status"] != 200:
            passthrough = True
            await send(start)
            await send(message)
            return
        await finish(start, message)

    await app(scope, receive, capture)


class ConditionalGetMiddleware:
    """Adds validators to complete GET answers, answers 304, and serves `CachedView`s directly."""

    def __init__(
        self,
        app: ASGIApp,
        hub: Hub,
        views: dict[str, CachedView],
        read_allowed: Callable[[dict[bytes, bytes]], bool] | None = None,
    ) -> None:
        self.app = app
        self.hub = hub
        self.views = views
        self.read_allowed = read_allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        view = self.views.get(scope["path"])
        if view is not None and not scope.get("query_string"):
            headers = dict(scope["headers"])
            if self.read_allowed is None or self.read_allowed(headers):
                await self._serve_view(view, headers, scope["method"] == "HEAD", send)
                return
        await self._validate(scope, receive, send)

    async def _serve_view(
        self, view: CachedView, headers: dict[bytes, bytes], head_only: bool, send: Send
    ) -> None:
        status, response_headers, body = view.answer(self.hub, headers, head_only)
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": body})

    async def _validate(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_headers = dict(scope["headers"])

        async def finish(start: dict[str, Any], message: Message) -> None:
            await self._finish(start, message, request_headers, send)

        await on_complete_answer(self.app, scope, receive, send, finish)

    async def _finish(
        self,
        start: dict[str, Any],
        message: Message,
        request_headers: dict[bytes, bytes],
        send: Send,
    ) -> None:
        headers: list[tuple[bytes, bytes]] = list(start.get("headers", []))
        names = {k.lower() for k, _ in headers}
        body: bytes = message.get("body", b"")
        if b"etag" not in names:
            headers.append((b"etag", etag_of(body).encode()))
        modified = head_second(self.hub)
        if b"last-modified" in names:
            raw = next(v for k, v in headers if k.lower() == b"last-modified").decode()
            modified = parsedate_to_datetime(raw)
        else:
            headers.append((b"last-modified", http_date(last_modified(self.hub)).encode()))
        if b"cache-control" not in names:
            headers.append((b"cache-control", b"no-cache"))
        etag = next(v for k, v in headers if k.lower() == b"etag").decode()
        if is_not_modified(request_headers, etag, modified):
            kept = [(k, v) for k, v in headers if k.lower() not in (b"content-length",)]
            kept = [(k, v) for k, v in kept if k.lower() != b"content-type"]
            await send({"type": "http.response.start", "status": 304, "headers": kept})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({**start, "headers": headers})
        await send(message)


class BodyLimitMiddleware:
    """Refuses a request body over the limit with 413 before any handler sees it."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(send)
                return
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        body = (
            b'{"error":{"code":"body_too_large","message":"request body is over '
            + str(self.limit).encode()
            + b' bytes"}}'
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
