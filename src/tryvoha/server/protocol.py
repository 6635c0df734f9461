"""The hub's HTTP protocol: uvicorn's httptools parser, the edge's short cuts and its limits.

Once a request's head is parsed, a stream request is handed to the broadcaster with its
connection, and a poll of a registered view is answered with pre-rendered bytes: no ASGI task, no
middleware stack, which is what lets one core serve tens of thousands of polls and subscribers.
Every other request goes to the app.

The protocol also holds each connection to `Limits`: the size of a head is counted as it arrives
(431 past the limit, before the parser has buffered more), the request target is measured (414),
and one timer per connection enforces the head, body and keep-alive deadlines (408, or a silent
close when idle). Whatever the edge answers itself goes out through `_finish`; a request the
parser cannot read gets a 400 JSON answer instead of uvicorn's plain text.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from tryvoha.server.answers import Answer, encode, json_error
from tryvoha.server.shortcuts import Edge, Head, Stream

log = logging.getLogger("tryvoha.server")

HEAD, BODY, BUSY, IDLE = 0, 1, 2, 3
"""Where a connection is: reading a head, reading a body, waiting for the app, idle."""
HEAD_END = b"\r\n\r\n"
REQUEST_LINE = 16
"""Bytes of a request line besides the target (method, spaces, version, CRLF), counted once."""


class Refusal(Exception):
    """Raised inside a parser callback: answer this and close; the rest is not read."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer[0])
        self.answer = answer


class EdgeProtocol(HttpToolsProtocol):
    """Serve with `functools.partial(EdgeProtocol, edge=...)` as uvicorn's `http` class."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        edge: Edge,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.edge = edge
        self.limits = edge.limits
        self._phase = HEAD
        self._since = 0.0
        self._watch: asyncio.TimerHandle | None = None
        self._heard = False
        """Any byte received on this connection: a silent connection is closed without a 408."""
        self._done = False
        """Closed by the edge or handed over: nothing more is read or written here."""
        self._raw_head = 0
        """Bytes of the current unfinished head received so far (across reads)."""
        self._counted_head = 0
        """Bytes of the current head the parser has handed over (target, header fields)."""
        self._header_count = 0
        self._head_done = False
        self._answered = False
        self._stream: tuple[Stream, Head] | None = None

    # Connection life ---------------------------------------------------------------------------

    # uvicorn's protocol narrows asyncio.Protocol's transport the same way, typed as an override.
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._since = self.loop.time()
        self._arm(self.limits.head_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._done = True
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._done:
            return
        self._heard = True
        in_head = self._phase == HEAD
        self._head_done = False
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._stream is None:
                if self._should_upgrade():
                    self.handle_websocket_upgrade()
                else:
                    self._unsupported_upgrade_warning()
        except httptools.HttpParserError as exc:
            self._refuse(_unreadable(exc))
            return
        if self._stream is not None:
            self._hand_over()
        elif self._phase == HEAD and not self._done:
            if in_head and not self._head_done:
                self._raw_head += len(data)
            else:  # a head began in this read: count from the end of the last one in it
                end = data.rfind(HEAD_END)
                self._raw_head = len(data) - end - len(HEAD_END) if end >= 0 else len(data)
            if self._raw_head > self.limits.max_head_bytes:
                self._refuse(_head_too_large(self.limits.max_head_bytes))

    def handle_websocket_upgrade(self) -> None:
        if self._stream is not None:
            return  # taken over in data_received, once the parser is done with the buffer
        self._done = True  # the WebSocket protocol owns the connection from here
        self._disarm()
        super().handle_websocket_upgrade()

    def on_response_complete(self) -> None:
        """After an ASGI answer: the next pipelined request, or the keep-alive deadline."""
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
        elif self._phase == BUSY:
            self._enter(IDLE)

    # Parser callbacks --------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._phase != HEAD:  # the first request's deadline runs from the connection's opening
            self._enter(HEAD)
        self._counted_head = REQUEST_LINE
        self._header_count = 0
        self._answered = False

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._counted_head += len(url)
        if len(self.url) > self.limits.max_url_bytes:
            limit = self.limits.max_url_bytes
            raise Refusal(
                json_error(414, "uri_too_long", f"the request target is over {limit} bytes")
            )

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        self._counted_head += len(name) + len(value) + 4
        if self._header_count > self.limits.max_headers:
            limit = self.limits.max_headers
            message = f"a request may carry at most {limit} header fields"
            raise Refusal(json_error(431, "too_many_headers", message))
        if self._counted_head > self.limits.max_head_bytes:
            raise Refusal(_head_too_large(self.limits.max_head_bytes))
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._head_done = True
        self._enter(BODY)
        idle = (self.cycle is None or self.cycle.response_complete) and not self.pipeline
        if idle and self._short_cut():
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._answered and self._stream is None:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._answered or self._stream is not None:
            self._enter(IDLE)
            return
        self._enter(BUSY)
        super().on_message_complete()

    # Short cuts --------------------------------------------------------------------------------

    def _short_cut(self) -> bool:
        """Answer or take over the request at the parser; False sends it to the app."""
        parsed = httptools.parse_url(self.url)
        path = parsed.path.decode("latin-1")
        take = self.edge.streamed(path)
        method = self.parser.get_method()
        if take is None and method != b"GET" and method != b"HEAD":
            return False
        polled = None if take is not None else self.edge.polled(path)
        if take is None and polled is None:
            return False
        head = Head(
            method.decode("ascii"),
            path,
            parsed.query or b"",
            dict(self.headers),
            self.client[0] if self.client else "?",
        )
        if take is not None:
            self._stream = (take, head)
            return True
        assert polled is not None
        try:
            answer = polled(head)
        except Exception:
            log.exception("a polled short cut failed on %s", path)
            self._answered = True
            self._refuse(json_error(500, "internal_error", "the hub could not answer this request"))
            return True
        if answer is None:
            return False
        self._answered = True
        self._finish(answer)
        return True

    def _hand_over(self) -> None:
        """Give the connection to the stream short cut; this protocol is done with it."""
        assert self._stream is not None  # set by the short cut that matched
        take, head = self._stream
        self._done = True
        self._disarm()
        self.connections.discard(self)
        self._unset_keepalive_if_required()
        transport = self.transport
        self.parser = None  # type: ignore[assignment]  # uvicorn types it as never None
        try:
            take(head, transport)
        except Exception:
            log.exception("a stream short cut failed on %s", head.path)
            transport.close()

    # Answers -----------------------------------------------------------------------------------

    def _finish(self, answer: Answer, close: bool = False) -> None:
        """Write a complete answer with the server's default headers; close unless kept alive."""
        keep_alive = (
            not close
            and self.parser.get_http_version() == "1.1"
            and self.parser.should_keep_alive()
        )
        self.transport.write(encode(answer, self.server_state.default_headers, keep_alive))
        self.server_state.total_requests += 1
        if not keep_alive:
            self._done = True
            self._disarm()
            self.transport.close()

    def _refuse(self, answer: Answer) -> None:
        """Answer an error at the edge and close the connection; the rest is not read.

        An answer the app has begun is never interleaved with this one: it goes out whole and the
        connection closes after it. An app still waiting for this request's body sees it end."""
        if self._done:
            return
        self._done = True
        self._disarm()
        cycle = self.cycle
        mine = cycle is not None and cycle.scope is self.scope
        if mine and self.pipeline:  # queued behind an earlier answer: nothing can be said cleanly
            self.transport.close()
        elif mine and cycle.response_started:
            cycle.keep_alive = False
            if cycle.response_complete:
                self.transport.close()
        elif mine:
            cycle.disconnected = True
            cycle.message_event.set()
            self._finish(answer, close=True)
        elif cycle is not None and not cycle.response_complete:
            cycle.keep_alive = False  # an earlier request's answer is under way
            self.flow.pause_reading()
        else:
            self._finish(answer, close=True)

    # Deadlines ---------------------------------------------------------------------------------

    def _enter(self, phase: int) -> None:
        self._phase = phase
        self._since = self.loop.time()
        if phase == HEAD:
            self._raw_head = 0
        if self._watch is None and phase != BUSY and not self._done:
            self._arm(self._allowed(phase))

    def _allowed(self, phase: int) -> float:
        limits = self.limits
        if phase == HEAD:
            return limits.head_timeout
        if phase == BODY:
            return limits.body_timeout
        return limits.keepalive_timeout

    def _arm(self, delay: float) -> None:
        """Sleep at most the shortest limit, so no later phase's deadline can pass unseen."""
        limits = self.limits
        shortest = min(limits.head_timeout, limits.body_timeout, limits.keepalive_timeout)
        self._watch = self.loop.call_later(min(delay, shortest), self._on_watch)

    def _disarm(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None

    def _on_watch(self) -> None:
        """One timer per connection, never re-armed per request: it wakes at the latest when the
        current phase's deadline is due and either sleeps again (the phase moved on, or its
        deadline is later) or acts."""
        self._watch = None
        if self._done or self._phase == BUSY or self.transport.is_closing():
            return
        left = self._since + self._allowed(self._phase) - self.loop.time()
        if left > 0:
            self._arm(left)
            return
        if self._phase == IDLE or not self._heard or self._answered:
            self._done = True
            self.transport.close()  # nothing is owed: an idle connection, or an answered request
            return
        what = "head" if self._phase == HEAD else "body"
        seconds = self._allowed(self._phase)
        message = f"the request {what} did not arrive within {seconds:g} s"
        self._refuse(json_error(408, "request_timeout", message))


def _head_too_large(limit: int) -> Answer:
    message = f"the request line and headers are over {limit} bytes"
    return json_error(431, "headers_too_large", message)


def _unreadable(exc: httptools.HttpParserError) -> Answer:
    """The answer to a request the parser refused, or to a limit a callback raised."""
    cause = exc.__context__
    if isinstance(cause, Refusal):
        return cause.answer
    if isinstance(exc, httptools.HttpParserInvalidURLError) or isinstance(
        cause, UnicodeError | httptools.HttpParserInvalidURLError
    ):
        return json_error(400, "invalid_target", "the request target is not a valid URL path")
    if isinstance(exc, httptools.HttpParserCallbackError) and cause is not None:
        log.error("the HTTP edge failed on a request", exc_info=cause)
        return json_error(500, "internal_error", "the hub could not read this request")
    reason = str(exc) if str(exc).isascii() else "malformed"
    return json_error(400, "bad_request", f"not a valid HTTP/1.1 request ({reason})")
