"""Live streams over plain ASGI: `GET /api/v1/stream` (SSE) and `/api/v1/ws` (WebSocket).

Under `tryvoha serve` these paths are taken over at the HTTP edge before routing (see
`tryvoha.channels.streams.admission.stream_short_cut`); these routes serve the same streams under
any other ASGI server, and document them. Both paths share admission, the broadcaster and the wire
format.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, WebSocket
from fastapi.responses import StreamingResponse
from starlette.websockets import WebSocketDisconnect

from tryvoha.alerts.ranges import MAX_ID
from tryvoha.api.errors import ApiError
from tryvoha.api.schemas import documented
from tryvoha.channels.streams import frames
from tryvoha.channels.streams.admission import SSE_PATH, WS_PATH, admit
from tryvoha.channels.streams.spec import SpecError, parse_spec
from tryvoha.readmodel import ReadModel

router = APIRouter(prefix="/api/v1", tags=["streams"])

STREAM_DOC = """Server-Sent Events of every live event, filtered.

First an `event: snapshot` (`id:` the log id it reflects; data `{log_id, open_alerts, threats}`),
then one `event: alert` per event (`id:` its log id; data: the event). Reconnect with
`Last-Event-ID` (or `since=`) to receive every later event exactly once, in order. A `:`
comment line every 15 s is the heartbeat. A client too slow to read gets `event: dropped` with
`resume_from` and is disconnected. See docs/streams.md.
"""


class BufferTransport:
    """A transport look-alike that buffers the broadcaster's writes for an ASGI response."""

    def __init__(self) -> None:
        self.chunks: deque[bytes] = deque()
        self.size = 0
        self.closing = False
        self.ready = asyncio.Event()
        self.protocol: Any = None

    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol

    def write(self, data: bytes) -> None:
        if not self.closing:
            self.chunks.append(data)
            self.size += len(data)
            self.ready.set()

    def get_write_buffer_size(self) -> int:
        return self.size

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True
        self.ready.set()

    def abort(self) -> None:
        self.chunks.clear()
        self.size = 0
        self.close()

    def take(self) -> bytes:
        data = b"".join(self.chunks)
        self.chunks.clear()
        self.size = 0
        self.ready.clear()
        return data

    def lost(self) -> None:
        self.closing = True
        if self.protocol is not None:
            self.protocol.connection_lost(None)


def _spec(request_query: str, hub: ReadModel, last_event_id: str | None):
    try:
        return parse_spec(request_query, hub.catalogue, last_event_id)
    except SpecError as exc:
        raise ApiError(400, exc.code, exc.message) from exc


@router.get(
    SSE_PATH.removeprefix("/api/v1"),
    summary="Live events (Server-Sent Events)",
    description=STREAM_DOC,
    response_class=StreamingResponse,
    **documented(None, 400, 401, 422, media_type="text/event-stream"),
)
async def stream(
    request: Request,
    regions: Annotated[str | None, Query(description="Comma-separated region ids.")] = None,
    threats: Annotated[str | None, Query(description="Comma-separated threats.")] = None,
    drills: Annotated[bool, Query(description="Also exercise and test alerts.")] = False,
    since: Annotated[
        int | None, Query(ge=0, le=MAX_ID, description="Resume after this event id.")
    ] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    hub: ReadModel = request.app.state.model
    gate = getattr(request.app.state, "read_gate", None)
    if gate is not None:
        await gate.check(request)
    spec = _spec(request.url.query, hub, last_event_id)
    transport = BufferTransport()
    request.app.state.broadcaster.accept(transport, spec, False, b"")

    async def body() -> AsyncIterator[bytes]:
        try:
            while True:
                await transport.ready.wait()
                data = transport.take()
                if data:
                    yield data
                if transport.closing:
                    return
        finally:
            transport.lost()

    headers = {"Cache-Control": "no-cache, no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(body(), media_type="text/event-stream", headers=headers)


def _server_frames(data: bytes) -> list[tuple[int, bytes]]:
    """Split the broadcaster's own (unmasked, unfragmented) frames back into messages."""
    out, i = [], 0
    while i < len(data):
        opcode, length, head = data[i] & 0x0F, data[i + 1] & 0x7F, 2
        if length == 126:
            length, head = int.from_bytes(data[i + 2 : i + 4], "big"), 4
        elif length == 127:
            length, head = int.from_bytes(data[i + 2 : i + 10], "big"), 10
        out.append((opcode, data[i + head : i + head + length]))
        i += head + length
    return out


@router.websocket(WS_PATH.removeprefix("/api/v1"))
async def websocket(socket: WebSocket) -> None:
    hub: ReadModel = socket.app.state.model
    headers = {k.encode(): v.encode() for k, v in socket.headers.items()}
    gate = getattr(socket.app.state, "read_gate", None)
    outcome = admit(
        WS_PATH,
        "GET",
        socket.url.query,
        headers,
        hub.catalogue,
        gate.allows if gate is not None else (lambda _h: True),
    )
    if not hasattr(outcome, "spec"):
        reason = frames.close_reason(outcome.answer.rsplit(b"\r\n", 1)[-1])
        await socket.close(code=1008, reason=reason)
        return
    await socket.accept()
    transport = BufferTransport()
    sub = socket.app.state.broadcaster.accept(transport, outcome.spec, True, b"")

    async def pump() -> None:
        while True:
            await transport.ready.wait()
            sub.last_rx = time.monotonic()  # the ASGI server keeps its own pings
            for opcode, payload in _server_frames(transport.take()):
                if opcode == frames.OP_TEXT:
                    await socket.send_text(payload.decode())
                elif opcode == frames.OP_CLOSE:
                    code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1000
                    await socket.close(code=code, reason=frames.close_reason(payload[2:]))
                    return
            if transport.closing:
                await socket.close()
                return

    sender = asyncio.create_task(pump())
    try:
        while not sender.done():
            receiver = asyncio.ensure_future(socket.receive())
            done, _ = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
            if receiver in done:
                message = receiver.result()
                if message["type"] == "websocket.disconnect":
                    break
                sub.last_rx = time.monotonic()
            else:
                receiver.cancel()
    except WebSocketDisconnect:
        pass
    finally:
        sender.cancel()
        transport.lost()
