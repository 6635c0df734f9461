"""Complete HTTP answers as bytes: one status line function, one encoder, one JSON error shape.

Whatever the edge answers itself (a polled view, a refused stream, a limit, a parser error) goes
through `encode`, so every answer written outside the ASGI app is framed the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from http import HTTPStatus

import orjson
from starlette.types import Send

Header = tuple[bytes, bytes]
Answer = tuple[int, Sequence[Header], bytes]
"""Status, headers (without the server's defaults) and body of a complete answer."""

JSON = b"application/json"
_STATUS_LINES: dict[int, bytes] = {}


def status_line(status: int) -> bytes:
    """`HTTP/1.1 <status> <reason>\\r\\n` for any three-digit status (no reason when unknown)."""
    line = _STATUS_LINES.get(status)
    if line is None:
        if not 100 <= status <= 999:
            raise ValueError(f"not an HTTP status: {status}")
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
        line = _STATUS_LINES[status] = f"HTTP/1.1 {status} {reason}\r\n".encode("ascii")
    return line


def encode(
    answer: Answer, default_headers: Iterable[Header] = (), keep_alive: bool = False
) -> bytes:
    """The bytes of a complete answer; `connection: close` unless the connection stays open."""
    status, headers, body = answer
    parts = [status_line(status)]
    for name, value in (*default_headers, *headers):
        parts += (name, b": ", value, b"\r\n")
    if not keep_alive:
        parts.append(b"connection: close\r\n")
    parts += (b"\r\n", body)
    return b"".join(parts)


def error_body(code: str, message: str) -> bytes:
    """tryvoha's error shape, `{"error": {"code", "message"}}`."""
    return orjson.dumps({"error": {"code": code, "message": message}})


def json_error(status: int, code: str, message: str, headers: Sequence[Header] = ()) -> Answer:
    body = error_body(code, message)
    return (
        status,
        [(b"content-type", JSON), (b"content-length", b"%d" % len(body)), *headers],
        body,
    )


async def send_asgi(send: Send, answer: Answer) -> None:
    """The same complete answer from inside an ASGI app."""
    status, headers, body = answer
    await send({"type": "http.response.start", "status": status, "headers": list(headers)})
    await send({"type": "http.response.body", "body": body})
