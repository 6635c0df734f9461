"""The edge's answer encoder: any status gets a status line, every answer the same framing."""

from __future__ import annotations

import orjson
import pytest

from tryvoha.server.answers import encode, json_error, status_line


def test_status_lines_for_known_and_unlisted_statuses() -> None:
    assert status_line(200) == b"HTTP/1.1 200 OK\r\n"
    assert status_line(431) == b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    assert status_line(599) == b"HTTP/1.1 599 \r\n"
    assert status_line(799) == b"HTTP/1.1 799 \r\n"
    for bad in (0, 99, 1000, -200):
        with pytest.raises(ValueError):
            status_line(bad)


def test_encode_puts_defaults_first_and_closes_unless_kept_alive() -> None:
    answer = (201, [(b"content-type", b"text/plain"), (b"content-length", b"2")], b"ok")
    defaults = [(b"server", b"tryvoha")]
    kept = encode(answer, defaults, keep_alive=True)
    assert kept == (
        b"HTTP/1.1 201 Created\r\nserver: tryvoha\r\ncontent-type: text/plain\r\n"
        b"content-length: 2\r\n\r\nok"
    )
    closed = encode(answer, defaults)
    head, _, body = closed.partition(b"\r\n\r\n")
    assert head.endswith(b"\r\nconnection: close") and body == b"ok"


def test_json_error_shape_and_length() -> None:
    status, headers, body = json_error(408, "request_timeout", "late", [(b"x-a", b"1")])
    assert status == 408
    assert orjson.loads(body) == {"error": {"code": "request_timeout", "message": "late"}}
    assert dict(headers) == {
        b"content-type": b"application/json",
        b"content-length": str(len(body)).encode(),
        b"x-a": b"1",
    }
