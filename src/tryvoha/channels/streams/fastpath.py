"""The fast path: uvicorn's httptools protocol, taking stream requests over at the parser.

A GET of `/api/v1/stream` or a WebSocket upgrade to `/api/v1/ws` never becomes an ASGI request:
once its headers are parsed, the connection is handed to the broadcaster, which writes frames
straight to the transport. No task, no coroutine and no ASGI call per subscriber remain, which
is what lets one core serve tens of thousands of them. Every other request goes to the app.
"""

from __future__ import annotations

from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from tryvoha.channels.streams.admission import STREAM_PATHS, Admitted, admit
from tryvoha.channels.streams.registry import broadcaster_for, router_for


def app_state(app: Any) -> Any:
    """Find the FastAPI app's state under any ASGI wrappers uvicorn may have added."""
    for _ in range(8):
        state = getattr(app, "state", None)
        if state is not None and hasattr(state, "hub"):
            return state
        app = getattr(app, "app", None)
        if app is None:
            break
    return None


class StreamingHttpToolsProtocol(HttpToolsProtocol):
    """Pass to `uvicorn.Config(http=...)`; behaves exactly like httptools for other requests."""

    _stream: tuple[str, str] | None = None

    def on_headers_complete(self) -> None:
        in_flight = self.cycle is not None and not self.cycle.response_complete
        if not in_flight:
            parsed = httptools.parse_url(self.url)
            path = parsed.path.decode("latin-1")
            if path in STREAM_PATHS and app_state(self.app) is not None:
                self._stream = (path, (parsed.query or b"").decode("latin-1"))
                self.scope["method"] = self.parser.get_method().decode("ascii")
                return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self._stream is None:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._stream is None:
            super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        if self._stream is None:
            super().handle_websocket_upgrade()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._stream is not None and self.parser is not None:
            self._take_over()

    def _take_over(self) -> None:
        path, query = self._stream  # type: ignore[misc]
        self.connections.discard(self)
        self._unset_keepalive_if_required()
        state = app_state(self.app)
        hub = state.hub
        headers = dict(self.headers)
        gate = getattr(state, "read_gate", None)
        outcome = admit(
            path,
            self.scope["method"],
            query,
            headers,
            hub.catalogue,
            gate.allows if gate is not None else (lambda _h: True),
        )
        transport = self.transport
        self.parser = None  # type: ignore[assignment]
        if not isinstance(outcome, Admitted):
            transport.write(outcome.answer)
            transport.close()
            return
        router = router_for(hub)
        if router is not None:
            router.place(transport, outcome)  # type: ignore[attr-defined]
        else:
            broadcaster_for(hub).accept(transport, outcome.spec, outcome.ws, outcome.head)
