"""The hub's HTTP protocol: uvicorn's httptools parser and the edge's short cuts.

Once a request's head is parsed, a stream request is handed to the broadcaster with its
connection, and a poll of a registered view is answered with pre-rendered bytes: no ASGI task, no
middleware stack, which is what lets one core serve tens of thousands of polls and subscribers.
Every other request goes to the app. Whatever the edge answers itself goes out through `_finish`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from tryvoha.edge.answers import Answer, encode, json_error
from tryvoha.edge.shortcuts import Edge, Head, Stream

log = logging.getLogger("tryvoha.edge")


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
        self._answered = False
        self._stream: tuple[Stream, Head] | None = None

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._stream is not None and self.parser is not None:
            self._hand_over()

    def handle_websocket_upgrade(self) -> None:
        if self._stream is None:  # a stream is taken over once the parser is done with the buffer
            super().handle_websocket_upgrade()

    # Parser callbacks --------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._answered = False

    def on_headers_complete(self) -> None:
        idle = (self.cycle is None or self.cycle.response_complete) and not self.pipeline
        if idle and self._short_cut():
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._answered and self._stream is None:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._answered and self._stream is None:
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
            self._finish(
                json_error(500, "internal_error", "the hub could not answer this request"), True
            )
            return True
        if answer is None:
            return False
        self._answered = True
        self._finish(answer)
        return True

    def _hand_over(self) -> None:
        """Give the connection to the stream short cut; this protocol is done with it."""
        take, head = self._stream  # type: ignore[misc]
        self.connections.discard(self)
        self._unset_keepalive_if_required()
        transport = self.transport
        self.parser = None  # type: ignore[assignment]
        try:
            take(head, transport)
        except Exception:
            log.exception("a stream short cut failed on %s", head.path)
            transport.close()

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
            self.transport.close()
        elif self.timeout_keep_alive_task is None:
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )
