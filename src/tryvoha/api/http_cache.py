"""Validators on every complete GET answer of the app, and the request body limit.

The rules are `tryvoha.server.conditional`'s, with the policy the edge registered for the path, so a
view answered by the app and the same view answered at the parser carry the same validators.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tryvoha.server import Edge
from tryvoha.server.answers import JSON, error_body, send_asgi
from tryvoha.server.conditional import NO_CACHE, conditional_answer, etag_of

_OWN = (b"etag", b"cache-control", b"last-modified")


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
    """Adds `ETag`, `Last-Modified` and `Cache-Control` to complete GET answers; answers 304."""

    def __init__(self, app: ASGIApp, edge: Edge) -> None:
        self.app = app
        self.edge = edge

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        validators = self.edge.validators_for(scope["path"])
        if validators is None:
            await self.app(scope, receive, send)
            return
        request = dict(scope["headers"])
        inm, ims = request.get(b"if-none-match"), request.get(b"if-modified-since")
        inner = scope
        if inm is not None or ims is not None:  # decided here, never again further in
            inner = dict(scope)
            inner["headers"] = [
                (k, v)
                for k, v in scope["headers"]
                if k not in (b"if-none-match", b"if-modified-since")
            ]

        async def finish(start: dict[str, Any], message: Message) -> None:
            headers: list[tuple[bytes, bytes]] = list(start.get("headers", []))
            own = {k.lower(): v for k, v in headers if k.lower() in _OWN}
            body: bytes = message.get("body", b"")
            answer = conditional_answer(
                [(k, v) for k, v in headers if k.lower() not in _OWN],
                body,
                own.get(b"etag") or etag_of(body),
                validators,
                inm,
                ims,
                cache_control=own.get(b"cache-control", NO_CACHE),
            )
            await send_asgi(send, answer)

        await on_complete_answer(self.app, inner, receive, send, finish)


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
        if declared is not None and declared.isdigit() and int(declared[:20]) > self.limit:
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
        body = error_body("body_too_large", f"request body is over {self.limit} bytes")
        headers = [(b"content-type", JSON), (b"content-length", b"%d" % len(body))]
        await send_asgi(send, (413, headers, body))
