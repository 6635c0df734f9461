"""Bytes on the wire: SSE events and RFC 6455 WebSocket frames, encoded once per event.

Every subscriber of a channel gets the very same bytes for an event, so they are built once and
written many times; a burst is the concatenation of its frames (one write per subscriber).
"""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Sequence
from typing import Any

import orjson

from tryvoha.server.answers import Header, encode, json_error

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
OPCODES = frozenset({OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG})
MAX_CONTROL = 125
"""Payload bytes a control frame (close, ping, pong) may carry."""

SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"content-type: text/event-stream; charset=utf-8\r\n"
    b"cache-control: no-cache, no-store\r\n"
    b"x-accel-buffering: no\r\n"
    b"connection: keep-alive\r\n"
    b"access-control-allow-origin: *\r\n"
    b"\r\n"
)
SSE_RETRY = b"retry: 2000\n\n"
SSE_HEARTBEAT = b": heartbeat\n\n"


def sse(kind: str, data: bytes, event_id: int | None = None) -> bytes:
    """One SSE event; `data` is single-line JSON, so it needs no splitting."""
    id_line = b"" if event_id is None else b"id: %d\n" % event_id
    return b"event: " + kind.encode() + b"\n" + id_line + b"data: " + data + b"\n\n"


def ws_frame(opcode: int, payload: bytes) -> bytes:
    """A final, unmasked server frame."""
    n = len(payload)
    first = 0x80 | opcode
    if n < 126:
        return struct.pack("!BB", first, n) + payload
    if n < 65536:
        return struct.pack("!BBH", first, 126, n) + payload
    return struct.pack("!BBQ", first, 127, n) + payload


def ws_json(kind: str, doc: dict[str, Any]) -> bytes:
    return ws_frame(OP_TEXT, orjson.dumps({"type": kind, **doc}))


def close_reason(text: str | bytes) -> str:
    """`text` cut to fit a close frame's reason (123 bytes of UTF-8), between characters: a
    client must fail a close whose reason is not valid UTF-8."""
    data = text if isinstance(text, bytes) else text.encode("utf-8", "replace")
    return data[: MAX_CONTROL - 2].decode("utf-8", "ignore")


def ws_close(code: int, reason: str = "") -> bytes:
    return ws_frame(OP_CLOSE, struct.pack("!H", code) + close_reason(reason).encode())


def ws_accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()


def ws_upgrade_head(key: str) -> bytes:
    return (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"upgrade: websocket\r\n"
        b"connection: Upgrade\r\n"
        b"sec-websocket-accept: " + ws_accept_key(key).encode() + b"\r\n\r\n"
    )


def http_error(status: int, code: str, message: str, headers: Sequence[Header] = ()) -> bytes:
    """A complete JSON error answer, `{"error": {"code", "message"}}`, closing the connection."""
    return encode(json_error(status, code, message, headers))


class WsReader:
    """Parses masked client frames incrementally; returns complete (opcode, payload) pairs.

    Fragmented messages are reassembled; a client frame is limited to `max_size` bytes because a
    subscriber has nothing large to say.
    """

    __slots__ = ("buf", "fragments", "max_size", "opcode")

    def __init__(self, max_size: int = 64 * 1024) -> None:
        self.buf = b""
        self.fragments: list[bytes] = []
        self.opcode = 0
        self.max_size = max_size

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buf = self.buf + data if self.buf else data
        out: list[tuple[int, bytes]] = []
        i, n = 0, len(buf)
        while n - i >= 2:
            b0, b1 = buf[i], buf[i + 1]
            length = b1 & 0x7F
            head = 2
            if length == 126:
                if n - i < 4:
                    break
                length = int.from_bytes(buf[i + 2 : i + 4], "big")
                head = 4
            elif length == 127:
                if n - i < 10:
                    break
                length = int.from_bytes(buf[i + 2 : i + 10], "big")
                head = 10
            if length > self.max_size:
                raise ValueError("client frame too large")
            masked = b1 & 0x80
            if not masked:
                raise ValueError("client frames must be masked")
            self._check_header(b0, length)
            if n - i < head + 4 + length:
                break
            mask = buf[i + head : i + head + 4]
            start = i + head + 4
            payload = _unmask(buf[start : start + length], mask)
            i = start + length
            opcode = b0 & 0x0F
            final = b0 & 0x80
            if opcode >= 0x8:  # control frames are never fragmented (checked above)
                out.append((opcode, payload))
                continue
            if opcode != OP_CONT:
                self.opcode = opcode
                self.fragments = []
            self.fragments.append(payload)
            if sum(map(len, self.fragments)) > self.max_size:
                raise ValueError("client message too large")
            if final:
                out.append((self.opcode, b"".join(self.fragments)))
                self.fragments = []
        self.buf = buf[i:]
        return out

    def _check_header(self, b0: int, length: int) -> None:
        """The frame rules of RFC 6455 (5.2, 5.4, 5.5) that a peer must fail the connection on,
        checked from the header alone, before its payload is waited for."""
        opcode = b0 & 0x0F
        if b0 & 0x70:
            raise ValueError("reserved bits set, but no extension was agreed")
        if opcode not in OPCODES:
            raise ValueError(f"unknown opcode {opcode:#x}")
        if opcode >= 0x8:
            if not b0 & 0x80:
                raise ValueError("control frames must not be fragmented")
            if length > MAX_CONTROL:
                raise ValueError(f"control frames carry at most {MAX_CONTROL} bytes")
            return
        if opcode == OP_CONT and not self.fragments:
            raise ValueError("continuation frame with no message to continue")
        if opcode != OP_CONT and self.fragments:
            raise ValueError("new data message before the fragmented one ended")


def _unmask(payload: bytes, mask: bytes) -> bytes:
    if not payload:
        return b""
    n = len(payload)
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big")
