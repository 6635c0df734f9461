"""The hub's HTTP protocol: uvicorn's httptools parser with two short cuts taken at the parser.

Streams are handed to the broadcaster (see `tryvoha.channels.streams.fastpath`), and the views
that polling clients hit every few seconds are answered with their pre-rendered bytes as soon as
the headers are parsed: no ASGI task, no middleware stack. Two kinds: `app.state.cached_views`
(answered by `CachedView.answer`, as the ASGI path does) and `app.state.direct_answers`, functions
`(method, path, query, headers, client_ip) -> (status, headers, body) | None` that other surfaces
register (None: take the ordinary way). Either way both paths give the same bytes.
"""

from __future__ import annotations

import httptools

from tryvoha.channels.streams.fastpath import StreamingHttpToolsProtocol, app_state

STATUS_LINES = {
    200: b"HTTP/1.1 200 OK\r\n",
    304: b"HTTP/1.1 304 Not Modified\r\n",
    429: b"HTTP/1.1 429 Too Many Requests\r\n",
}


class HubHttpToolsProtocol(StreamingHttpToolsProtocol):
    """Pass to `uvicorn.Config(http=...)`; any request it does not short-cut goes to the app."""

    _direct = False

    def on_message_begin(self) -> None:
        self._direct = False
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        idle = (self.cycle is None or self.cycle.response_complete) and not self.pipeline
        method = self.parser.get_method()
        if idle and method in (b"GET", b"HEAD"):
            answer = self._answer_now(method.decode("ascii"))
            if answer is not None:
                self._direct = True
                self._write(*answer)
                return
        super().on_headers_complete()

    def _answer_now(self, method: str) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
        state = app_state(self.app)
        if state is None:
            return None
        parsed = httptools.parse_url(self.url)
        path = parsed.path.decode("latin-1")
        query = parsed.query or b""
        headers = dict(self.headers)
        view = state.cached_views.get(path) if not query else None
        if view is not None:
            if not state.read_gate.allows(headers):
                return None
            return view.answer(state.hub, headers, head_only=method == "HEAD")
        client_ip = self.client[0] if self.client else "?"
        for answer_now in getattr(state, "direct_answers", ()):
            answer = answer_now(method, path, query, headers, client_ip)
            if answer is not None:
                return answer
        return None

    def _write(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        keep_alive = self.parser.get_http_version() == "1.1" and self.parser.should_keep_alive()
        parts = [STATUS_LINES[status]]
        for name, value in (*self.server_state.default_headers, *headers):
            parts += (name, b": ", value, b"\r\n")
        if not keep_alive:
            parts.append(b"connection: close\r\n")
        parts += (b"\r\n", body)
        self.transport.write(b"".join(parts))
        self.server_state.total_requests += 1
        if not keep_alive:
            self.transport.close()
        elif self.timeout_keep_alive_task is None:
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )

    def on_body(self, body: bytes) -> None:
        if not self._direct:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._direct:
            super().on_message_complete()
